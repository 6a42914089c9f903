# Shared lookups and names. The resources live in the other *.tf files of this directory:
#   network-security.tf  security groups
#   queues.tf            SQS tasks/results queues and their dead-letter queues
#   storage.tf           S3 bucket for media and outputs
#   database.tf          RDS PostgreSQL 15
#   ecs-cluster.tf       ECS cluster, log groups, capacity providers
#   control-plane.tf     ALB + Fargate service for the HTTP control plane
#   gpu-workers.tf       GPU launch template, Auto Scaling group, worker service
#   autoscaling.tf       worker service scaling (backlog per worker, scale from zero)
#   iam.tf               task, execution and instance roles

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name = var.name_prefix

  tags = merge(
    {
      Project   = var.name_prefix
      ManagedBy = "terraform"
    },
    var.tags,
  )

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  cluster_name              = "${local.name}-cluster"
  control_plane_service     = "${local.name}-control-plane"
  worker_service            = "${local.name}-worker"
  control_plane_container   = "control-plane"
  worker_container          = "worker"
  control_plane_port        = 18000
  https_enabled             = var.certificate_arn != null && var.certificate_arn != ""
  gpu_instance_max_count    = coalesce(var.gpu_instance_max_count, var.worker_max_count)
  control_plane_log_group   = "/ecs/${local.name}/control-plane"
  worker_log_group          = "/ecs/${local.name}/worker"
  db_url_query              = var.db_url_params == "" ? "" : "?${var.db_url_params}"
  db_master_secret_arn      = aws_db_instance.this.master_user_secret[0].secret_arn
  db_master_secret_password = "${local.db_master_secret_arn}:password::"
}
