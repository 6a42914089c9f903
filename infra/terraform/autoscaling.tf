# Worker service scaling.
#
# 1. Target tracking on "backlog per worker":
#        ApproximateNumberOfMessagesVisible(tasks queue) / RunningTaskCount(worker service)
#    kept near var.backlog_per_worker_target. This scales out as the queue grows and in
#    (down to worker_min_count, 0 by default) as it drains.
# 2. Target tracking cannot leave zero: with no running task the ratio divides by zero and
#    has no data points, so the policy does nothing. A step-scaling policy, fired by an
#    alarm on "messages are visible AND the service wants 0 tasks", adds the first task(s).
#
# GPU instances follow the task count on their own: the ECS capacity provider's managed
# scaling (gpu-workers.tf) adds hosts for tasks that cannot be placed and removes idle ones.

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.worker.name}"
  min_capacity       = var.worker_min_count
  max_capacity       = var.worker_max_count
}

###############################################################################
# 1. Backlog per worker (target tracking with metric math)
###############################################################################

resource "aws_appautoscaling_policy" "worker_backlog" {
  name               = "${local.name}-worker-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  resource_id        = aws_appautoscaling_target.worker.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.backlog_per_worker_target
    scale_out_cooldown = var.worker_scale_out_cooldown
    scale_in_cooldown  = var.worker_scale_in_cooldown

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "Visible messages in ${aws_sqs_queue.tasks.name}"
        return_data = false

        metric_stat {
          stat = "Sum"

          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"

            dimensions {
              name  = "QueueName"
              value = aws_sqs_queue.tasks.name
            }
          }
        }
      }

      metrics {
        id          = "running"
        label       = "Running worker tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }

            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.worker.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_worker"
        label       = "Visible task messages per running worker"
        expression  = "visible / running"
        return_data = true
      }
    }
  }
}

###############################################################################
# 2. Scale from zero (step scaling + alarm)
###############################################################################

resource "aws_appautoscaling_policy" "worker_scale_from_zero" {
  name               = "${local.name}-worker-scale-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  resource_id        = aws_appautoscaling_target.worker.resource_id

  step_scaling_policy_configuration {
    # ChangeInCapacity, not ExactCapacity: if the alarm ever fired by mistake while tasks
    # run, it would add tasks (harmless) instead of cutting the fleet down.
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = var.scale_from_zero_workers
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_scale_from_zero" {
  alarm_name        = "${local.name}-worker-scale-from-zero"
  alarm_description = "Task messages are waiting in ${aws_sqs_queue.tasks.name} while ${local.worker_service} wants 0 tasks: start ${var.scale_from_zero_workers} worker(s). Target tracking takes over once a worker runs."

  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"

  alarm_actions = [aws_appautoscaling_policy.worker_scale_from_zero.arn]

  metric_query {
    id          = "visible"
    return_data = false

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.tasks.name }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id          = "desired"
    return_data = false

    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions = {
        ClusterName = aws_ecs_cluster.this.name
        ServiceName = aws_ecs_service.worker.name
      }
      stat   = "Maximum"
      period = 60
    }
  }

  # DesiredTaskCount rather than RunningTaskCount: once this policy has raised the desired
  # count the alarm clears, even while the first GPU host is still booting, so it does not
  # keep adding tasks. A missing DesiredTaskCount data point counts as 0.
  metric_query {
    id          = "from_zero"
    label       = "Messages visible and no worker wanted (1 = scale out)"
    expression  = "IF(visible > 0 AND FILL(desired, 0) == 0, 1, 0)"
    return_data = true
  }
}
