# Offline checks of this configuration: `terraform test` (Terraform >= 1.7) with a mocked AWS
# provider, so it needs neither AWS credentials nor network (only the provider plugin for its
# schema). It catches wiring mistakes; it does not prove that AWS accepts the resources.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0" }
  }

  # The provider validates ARN/ID formats even with mocks, so give those attributes
  # realistic shapes.
  mock_resource "aws_db_instance" {
    defaults = {
      address = "db.example.internal"
      port    = 5432
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-abc-AbCdEf"
        kms_key_id    = "arn:aws:kms:eu-west-1:123456789012:key/abc"
        secret_status = "active"
      }]
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/queue"
      arn = "arn:aws:sqs:eu-west-1:123456789012:queue"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1"
      dns_name = "x.eu-west-1.elb.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/x" }
  }
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  mock_resource "aws_autoscaling_group" {
    defaults = { arn = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1:autoScalingGroupName/x" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/x:1" }
  }
  mock_resource "aws_appautoscaling_policy" {
    defaults = { arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:1:resource/ecs/service/c/s:policyName/p" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::transcribe-media-x", bucket = "transcribe-media-x" }
  }
}

variables {
  aws_region          = "eu-west-1"
  vpc_id              = "vpc-0123456789abcdef0"
  private_subnet_ids  = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  public_subnet_ids   = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
  control_plane_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/transcribe:test"
  worker_image        = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/transcribe-worker:test"
}

run "http_only_defaults" {
  command = apply

  assert {
    condition     = length(aws_lb_listener.https) == 0 && aws_lb_listener.http.default_action[0].type == "forward"
    error_message = "Without certificate_arn the HTTP listener must forward to the control plane."
  }

  assert {
    condition = alltrue([
      for e in jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].environment :
      e.name != "DATABASE_URL" && !startswith(e.name, "PG")
    ]) && !can(jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].secrets)
    error_message = "Workers must get no database settings and no secrets."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].resourceRequirements[0].value == "1"
    error_message = "A worker task reserves one GPU."
  }

  assert {
    condition = (
      local.control_plane_environment["JOB_MAX_ATTEMPTS"] == "3" &&
      jsondecode(aws_sqs_queue.tasks.redrive_policy).maxReceiveCount == 3
    )
    error_message = "JOB_MAX_ATTEMPTS must equal the tasks queue's maxReceiveCount."
  }

  assert {
    condition     = !strcontains(local.control_plane_environment["DATABASE_URL"], ":password") && jsondecode(aws_ecs_task_definition.control_plane.container_definitions)[0].secrets[0].name == "PGPASSWORD"
    error_message = "The DB password must come from the secret, not the URL."
  }

  assert {
    condition     = aws_appautoscaling_target.worker.min_capacity == 0 && aws_appautoscaling_target.worker.max_capacity == 20
    error_message = "Default worker bounds are 0..20."
  }

  assert {
    condition     = aws_ecs_service.control_plane.desired_count == 2
    error_message = "Two control-plane tasks by default: they share the queue in the database."
  }

  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.control_plane.container_definitions)[0].stopTimeout == 60 &&
      local.control_plane_environment["SHUTDOWN_GRACE_MS"] == "50000"
    )
    error_message = "The control plane drains for 10 s less than ECS waits before SIGKILL."
  }
}

run "https_and_custom_attempts" {
  command = apply

  variables {
    certificate_arn         = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    tasks_max_receive_count = 5
  }

  assert {
    condition     = length(aws_lb_listener.https) == 1 && aws_lb_listener.http.default_action[0].type == "redirect"
    error_message = "With certificate_arn, HTTPS serves and HTTP redirects."
  }

  assert {
    condition     = local.control_plane_environment["JOB_MAX_ATTEMPTS"] == "5" && jsondecode(aws_sqs_queue.tasks.redrive_policy).maxReceiveCount == 5
    error_message = "JOB_MAX_ATTEMPTS follows tasks_max_receive_count."
  }
}

run "workers_refuse_db_env" {
  command = plan

  variables {
    worker_extra_environment = { DATABASE_URL = "postgresql://x@y/z" }
  }

  expect_failures = [var.worker_extra_environment]
}
