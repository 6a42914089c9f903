# IAM. Four task roles/execution roles and the GPU instance role:
#
#   control plane task role       SQS on tasks/results/tasks-DLQ, S3 on the bucket
#   control plane execution role  pull image, write logs, read the RDS master secret
#   worker task role              receive/delete on tasks, send on results, S3 read/write
#   worker execution role         pull image, write logs (no secrets at all)
#   GPU instance role             ECS container-instance agent, SSM Session Manager

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

###############################################################################
# Control plane
###############################################################################

resource "aws_iam_role" "control_plane_task" {
  name               = "${local.name}-control-plane-task"
  description        = "Runtime permissions of the ${local.name} control plane"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "control_plane_task" {
  statement {
    sid = "Queues"
    actions = [
      "sqs:SendMessage",
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]
    resources = [
      aws_sqs_queue.tasks.arn,
      aws_sqs_queue.results.arn,
      aws_sqs_queue.tasks_dlq.arn,
    ]
  }

  statement {
    sid       = "BucketList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
  }

  statement {
    sid = "BucketObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.media.arn}/*"]
  }
}

resource "aws_iam_role_policy" "control_plane_task" {
  name   = "${local.name}-control-plane"
  role   = aws_iam_role.control_plane_task.id
  policy = data.aws_iam_policy_document.control_plane_task.json
}

resource "aws_iam_role" "control_plane_execution" {
  name               = "${local.name}-control-plane-exec"
  description        = "ECS agent permissions for the ${local.name} control plane (image pull, logs, DB secret)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "control_plane_execution" {
  role       = aws_iam_role.control_plane_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "control_plane_execution_secrets" {
  statement {
    sid       = "DatabaseMasterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_master_secret_arn]
  }

  dynamic "statement" {
    for_each = var.db_master_user_secret_kms_key_id == null ? [] : [var.db_master_user_secret_kms_key_id]
    content {
      sid       = "DatabaseMasterSecretKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "control_plane_execution_secrets" {
  name   = "${local.name}-control-plane-db-secret"
  role   = aws_iam_role.control_plane_execution.id
  policy = data.aws_iam_policy_document.control_plane_execution_secrets.json
}

###############################################################################
# GPU workers (no database, no Secrets Manager)
###############################################################################

resource "aws_iam_role" "worker_task" {
  name               = "${local.name}-worker-task"
  description        = "Runtime permissions of the ${local.name} GPU workers"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "worker_task" {
  statement {
    sid = "ConsumeTasks"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.tasks.arn]
  }

  statement {
    sid = "PublishResults"
    actions = [
      "sqs:SendMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.results.arn]
  }

  statement {
    sid       = "BucketList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
  }

  statement {
    sid = "BucketObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.media.arn}/*"]
  }

  # Lets a busy worker protect itself from scale-in through the ECS agent endpoint
  # ($ECS_AGENT_URI/task-protection/v1/state). Unused until the worker calls it.
  statement {
    sid = "TaskScaleInProtection"
    actions = [
      "ecs:GetTaskProtection",
      "ecs:UpdateTaskProtection",
    ]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.cluster_name}/*"]
  }
}

resource "aws_iam_role_policy" "worker_task" {
  name   = "${local.name}-worker"
  role   = aws_iam_role.worker_task.id
  policy = data.aws_iam_policy_document.worker_task.json
}

resource "aws_iam_role" "worker_execution" {
  name               = "${local.name}-worker-exec"
  description        = "ECS agent permissions for the ${local.name} GPU workers (image pull, logs)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "worker_execution" {
  role       = aws_iam_role.worker_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

###############################################################################
# GPU container instances
###############################################################################

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "gpu_instance" {
  name               = "${local.name}-gpu-instance"
  description        = "ECS container-instance role of the ${local.name} GPU hosts"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "gpu_instance" {
  for_each = toset([
    "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.gpu_instance.name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "gpu_instance" {
  name = "${local.name}-gpu-instance"
  role = aws_iam_role.gpu_instance.name
}
