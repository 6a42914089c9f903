# The ECS cluster shared by the control plane (Fargate) and the GPU workers (EC2 capacity
# provider), plus the services' log groups.

resource "aws_ecs_cluster" "this" {
  name = local.cluster_name

  # Required: the worker autoscaling reads RunningTaskCount / DesiredTaskCount from the
  # ECS/ContainerInsights namespace (autoscaling.tf).
  setting {
    name  = "containerInsights"
    value = var.container_insights
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name = aws_ecs_cluster.this.name

  capacity_providers = [
    "FARGATE",
    aws_ecs_capacity_provider.gpu.name,
  ]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "control_plane" {
  name              = local.control_plane_log_group
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = local.worker_log_group
  retention_in_days = var.log_retention_days
}
