# GPU workers: an Auto Scaling group of ECS GPU-optimized instances, registered with the
# cluster through a capacity provider with managed scaling, and the worker service that
# runs one GPU task per GPU. Workers are stateless and hold no database credentials.

###############################################################################
# GPU hosts
###############################################################################

data "aws_ssm_parameter" "ecs_gpu_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"
}

locals {
  gpu_ami_id = coalesce(var.gpu_ami_id, data.aws_ssm_parameter.ecs_gpu_ami.insecure_value)

  gpu_user_data = <<-EOT
    #!/bin/bash
    cat >> /etc/ecs/ecs.config <<'CONFIG'
    ECS_CLUSTER=${local.cluster_name}
    ECS_ENABLE_GPU_SUPPORT=true
    ECS_AWSVPC_BLOCK_IMDS=true
    ECS_ENABLE_CONTAINER_METADATA=true
    ECS_CONTAINER_STOP_TIMEOUT=${var.worker_stop_timeout}s
    CONFIG
  EOT
}

resource "aws_launch_template" "gpu" {
  name          = "${local.name}-gpu"
  image_id      = local.gpu_ami_id
  instance_type = var.worker_instance_type
  user_data     = base64encode(local.gpu_user_data)

  vpc_security_group_ids = [aws_security_group.gpu_instance.id]

  iam_instance_profile {
    name = aws_iam_instance_profile.gpu_instance.name
  }

  # Amazon Linux 2 ECS AMIs have their root volume at /dev/xvda.
  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.gpu_root_volume_size_gib
      volume_type           = "gp3"
      encrypted             = "true"
      delete_on_termination = "true"
    }
  }

  # IMDSv2 only, one hop: containers cannot reach the instance role's credentials
  # (awsvpc tasks are additionally blocked by ECS_AWSVPC_BLOCK_IMDS).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${local.name}-gpu-worker" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${local.name}-gpu-worker" })
  }

  # Instances start on the ECS cluster named in user data, so the cluster must exist first
  # (and, on destroy, outlive the instances).
  depends_on = [aws_ecs_cluster.this]
}

resource "aws_autoscaling_group" "gpu" {
  name                = "${local.name}-gpu"
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = 0
  max_size            = local.gpu_instance_max_count
  # desired_capacity is left to the ECS capacity provider (managed scaling).

  # Required by the capacity provider's managed termination protection: ECS unprotects an
  # instance only when no worker task runs on it, so scale-in never kills a busy GPU host.
  protect_from_scale_in = true

  health_check_type         = "EC2"
  health_check_grace_period = 300
  # Lets `terraform destroy` remove the group even though its instances are scale-in protected.
  force_delete = true

  launch_template {
    id      = aws_launch_template.gpu.id
    version = aws_launch_template.gpu.latest_version
  }

  # No instance_refresh: hosts with running workers are scale-in protected, so a new launch
  # template version (e.g. a new AMI) reaches the fleet as hosts are replaced by scaling.

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  tag {
    key                 = "Name"
    value               = "${local.name}-gpu-worker"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

resource "aws_ecs_capacity_provider" "gpu" {
  name = "${local.name}-gpu"

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.gpu.arn
    managed_termination_protection = "ENABLED"
    managed_draining               = "ENABLED"

    managed_scaling {
      status                    = "ENABLED"
      target_capacity           = var.gpu_capacity_target_percent
      minimum_scaling_step_size = 1
      maximum_scaling_step_size = var.gpu_max_scaling_step_size
      instance_warmup_period    = var.gpu_instance_warmup_seconds
    }
  }
}

###############################################################################
# Worker task definition and service
###############################################################################

locals {
  worker_environment = merge(
    var.worker_extra_environment,
    {
      SQS_TASKS_QUEUE_URL   = aws_sqs_queue.tasks.url
      SQS_RESULTS_QUEUE_URL = aws_sqs_queue.results.url
      S3_BUCKET             = aws_s3_bucket.media.bucket
      AWS_REGION            = local.region
      PARALLEL              = tostring(var.worker_parallel)
      ASR_BATCH_SIZE        = tostring(var.worker_batch_size)
      ASR_ENGINE            = "whisper-onnx"
      ASR_MODEL             = var.asr_model
      ASR_PROVIDER          = "cuda"
    },
  )
}

resource "aws_ecs_task_definition" "worker" {
  family                   = local.worker_service
  requires_compatibilities = ["EC2"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.worker_cpu)
  memory                   = tostring(var.worker_memory)
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn

  container_definitions = jsonencode([
    {
      name      = local.worker_container
      image     = var.worker_image
      command   = ["npm", "run", "worker"]
      essential = true

      resourceRequirements = [
        {
          type  = "GPU"
          value = "1"
        }
      ]

      environment = [
        for k in sort(keys(local.worker_environment)) : {
          name  = k
          value = local.worker_environment[k]
        }
      ]

      # Time to stop polling and hand in-flight messages back on SIGTERM.
      stopTimeout = var.worker_stop_timeout

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.worker.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "worker"
        }
      }

      linuxParameters = {
        initProcessEnabled = true
      }
    }
  ])
}

resource "aws_ecs_service" "worker" {
  name            = local.worker_service
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.worker.arn
  # Initial count only; Application Auto Scaling owns it afterwards (autoscaling.tf).
  desired_count = var.worker_min_count

  capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.gpu.name
    weight            = 1
    base              = 0
  }

  network_configuration {
    subnets         = var.private_subnet_ids
    security_groups = [aws_security_group.worker.id]
  }

  # A new task starts (on a new GPU host if needed) before an old one stops.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [
    aws_ecs_cluster_capacity_providers.this,
    aws_iam_role_policy.worker_task,
    aws_iam_role_policy_attachment.worker_execution,
  ]
}
