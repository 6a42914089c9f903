# SQS: tasks (control plane -> workers) and results (workers -> control plane), each with
# its own dead-letter queue. All four use SQS-managed server-side encryption (SSE-SQS), so
# no KMS permissions are needed by producers or consumers.

locals {
  dlq_retention_seconds = 1209600 # 14 days, the SQS maximum
}

###############################################################################
# Tasks
###############################################################################

resource "aws_sqs_queue" "tasks_dlq" {
  name                      = "${local.name}-tasks-dlq"
  message_retention_seconds = local.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "tasks" {
  name                       = "${local.name}-tasks"
  visibility_timeout_seconds = var.tasks_visibility_timeout_seconds
  receive_wait_time_seconds  = 20 # long polling
  message_retention_seconds  = var.queue_message_retention_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.tasks_dlq.arn
    maxReceiveCount     = var.tasks_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "tasks_dlq" {
  queue_url = aws_sqs_queue.tasks_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.tasks.arn]
  })
}

###############################################################################
# Results
###############################################################################

resource "aws_sqs_queue" "results_dlq" {
  name                      = "${local.name}-results-dlq"
  message_retention_seconds = local.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "results" {
  name                       = "${local.name}-results"
  visibility_timeout_seconds = var.results_visibility_timeout_seconds
  receive_wait_time_seconds  = 20 # long polling
  message_retention_seconds  = var.queue_message_retention_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.results_dlq.arn
    maxReceiveCount     = var.results_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "results_dlq" {
  queue_url = aws_sqs_queue.results_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.results.arn]
  })
}

###############################################################################
# Dead-letter alarms: anything in a DLQ needs a human
###############################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = {
    tasks   = aws_sqs_queue.tasks_dlq.name
    results = aws_sqs_queue.results_dlq.name
  }

  alarm_name          = "${local.name}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages are waiting in ${each.value}: they failed ${each.key == "tasks" ? var.tasks_max_receive_count : var.results_max_receive_count} receives."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
