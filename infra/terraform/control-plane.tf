# The control plane: a Node.js HTTP service on Fargate behind an Application Load Balancer.
# It owns the database and talks to the workers only through SQS and S3.

###############################################################################
# Load balancer
###############################################################################

resource "aws_lb" "this" {
  name               = "${local.name}-alb"
  load_balancer_type = "application"
  internal           = var.alb_internal
  subnets            = var.public_subnet_ids
  security_groups    = [aws_security_group.alb.id]

  idle_timeout               = var.alb_idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
}

resource "aws_lb_target_group" "control_plane" {
  name        = "${local.name}-cp"
  port        = local.control_plane_port
  protocol    = "HTTP"
  target_type = "ip" # awsvpc tasks register by IP
  vpc_id      = var.vpc_id

  deregistration_delay = 30

  health_check {
    path                = "/live"
    matcher             = "200"
    protocol            = "HTTP"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# Port 80: forwards to the control plane, or redirects to HTTPS when a certificate is given.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https_enabled ? "redirect" : "forward"
    target_group_arn = local.https_enabled ? null : aws_lb_target_group.control_plane.arn

    dynamic "redirect" {
      for_each = local.https_enabled ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.alb_ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.control_plane.arn
  }
}

###############################################################################
# Task definition
###############################################################################

locals {
  control_plane_environment = merge(
    var.control_plane_extra_environment,
    {
      PORT = tostring(local.control_plane_port)
      # No password in the URL: node-postgres falls back to the PGPASSWORD variable,
      # which ECS injects from the RDS-managed secret (see "secrets" below).
      DATABASE_URL          = "postgresql://${var.db_username}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.db_name}${local.db_url_query}"
      TRANSPORT             = "sqs"
      SQS_TASKS_QUEUE_URL   = aws_sqs_queue.tasks.url
      SQS_RESULTS_QUEUE_URL = aws_sqs_queue.results.url
      SQS_DLQ_URL           = aws_sqs_queue.tasks_dlq.url
      BLOB_STORE            = "s3"
      S3_BUCKET             = aws_s3_bucket.media.bucket
      AWS_REGION            = local.region
      JOB_MAX_ATTEMPTS      = tostring(var.tasks_max_receive_count)
      # Drain within the stop timeout, so ECS's SIGKILL never lands mid-drain.
      SHUTDOWN_GRACE_MS = tostring((var.control_plane_stop_timeout - 10) * 1000)
    },
  )
}

resource "aws_ecs_task_definition" "control_plane" {
  family                   = local.control_plane_service
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.control_plane_cpu)
  memory                   = tostring(var.control_plane_memory)
  execution_role_arn       = aws_iam_role.control_plane_execution.arn
  task_role_arn            = aws_iam_role.control_plane_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.control_plane_cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.control_plane_ephemeral_storage_gib
  }

  container_definitions = jsonencode([
    {
      name      = local.control_plane_container
      image     = var.control_plane_image
      essential = true
      # SIGTERM, then this long to drain before SIGKILL.
      stopTimeout = var.control_plane_stop_timeout

      portMappings = [
        {
          containerPort = local.control_plane_port
          protocol      = "tcp"
        }
      ]

      environment = [
        for k in sort(keys(local.control_plane_environment)) : {
          name  = k
          value = local.control_plane_environment[k]
        }
      ]

      # The master password, read from the JSON key "password" of the RDS-managed secret
      # when the task starts. It never appears in the task definition or in Terraform state.
      secrets = [
        {
          name      = "PGPASSWORD"
          valueFrom = local.db_master_secret_password
        }
      ]

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.control_plane.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "control-plane"
        }
      }

      linuxParameters = {
        initProcessEnabled = true
      }
    }
  ])
}

###############################################################################
# Service
###############################################################################

resource "aws_ecs_service" "control_plane" {
  name            = local.control_plane_service
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.control_plane.arn
  desired_count   = var.control_plane_desired_count

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.control_plane.id]
    assign_public_ip = var.control_plane_assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.control_plane.arn
    container_name   = local.control_plane_container
    container_port   = local.control_plane_port
  }

  health_check_grace_period_seconds  = var.control_plane_health_check_grace_period
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  depends_on = [
    # The target group must be attached to the ALB before the service registers targets.
    aws_lb_listener.http,
    aws_lb_listener.https,
    aws_ecs_cluster_capacity_providers.this,
    # Keep the roles' permissions until the service is gone on destroy.
    aws_iam_role_policy.control_plane_task,
    aws_iam_role_policy.control_plane_execution_secrets,
    aws_iam_role_policy_attachment.control_plane_execution,
  ]
}
