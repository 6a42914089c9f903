###############################################################################
# General
###############################################################################

variable "aws_region" {
  description = "AWS region to deploy into, e.g. \"eu-west-1\"."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name (cluster, services, queues, roles, ...). Lowercase letters, digits and hyphens; keep it short because ALB and target group names are limited to 32 characters."
  type        = string
  default     = "transcribe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.name_prefix)) && !strcontains(var.name_prefix, "--") && !can(regex("^(aws|ecs|fargate)", var.name_prefix))
    error_message = "name_prefix must be 2-20 characters of lowercase letters, digits and single hyphens, start with a letter, end with a letter or digit, and not start with aws, ecs or fargate (reserved for ECS capacity provider names)."
  }
}

variable "tags" {
  description = "Extra tags added to every resource (through the provider's default_tags, and explicitly on the GPU Auto Scaling group and its instances)."
  type        = map(string)
  default     = {}
}

###############################################################################
# Networking (an existing VPC; this configuration never creates one)
###############################################################################

variable "vpc_id" {
  description = "ID of the existing VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two, in different AZs) for the ECS tasks, GPU instances and RDS. They need outbound access to ECR, SQS, S3, CloudWatch Logs, ECS and Secrets Manager, through a NAT gateway or VPC endpoints."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Give at least two private subnets (RDS subnet groups need two AZs)."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets (at least two, in different AZs) for the Application Load Balancer. With alb_internal = true, pass private subnets here."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "An Application Load Balancer needs at least two subnets."
  }
}

variable "alb_internal" {
  description = "Create an internal (not internet-facing) load balancer."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the load balancer on ports 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate ARN. When set, the ALB serves HTTPS on 443 and redirects HTTP to HTTPS; when null, it serves plain HTTP on 80."
  type        = string
  default     = null
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener (only used with certificate_arn)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_idle_timeout" {
  description = "ALB idle timeout in seconds. Must exceed the longest request without traffic: POST /transcribe-batch waits up to SYNC_TRANSCRIBE_TIMEOUT_MS (300 s by default)."
  type        = number
  default     = 360
}

variable "alb_deletion_protection" {
  description = "Enable deletion protection on the load balancer."
  type        = bool
  default     = false
}

###############################################################################
# Control plane (Fargate)
###############################################################################

variable "control_plane_image" {
  description = "Container image of the control plane (Node.js HTTP service listening on port 18000), e.g. \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/transcribe:1.2.3\"."
  type        = string
}

variable "control_plane_desired_count" {
  description = "Number of control-plane tasks. They share the work through the database (the queue) and any of them applies any worker's result, so one can fail or be replaced without stranding a job; two keeps the API up through a task's replacement."
  type        = number
  default     = 2

  validation {
    condition     = var.control_plane_desired_count >= 1
    error_message = "control_plane_desired_count must be at least 1."
  }
}

variable "control_plane_stop_timeout" {
  description = "Seconds ECS waits after SIGTERM before it kills a control-plane task (Fargate allows up to 120). The task drains its running LLM jobs for 10 s less, then puts the rest back in the queue."
  type        = number
  default     = 60

  validation {
    condition     = var.control_plane_stop_timeout >= 15 && var.control_plane_stop_timeout <= 120
    error_message = "control_plane_stop_timeout must be between 15 and 120 seconds."
  }
}

variable "control_plane_cpu" {
  description = "Fargate task CPU units for the control plane (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "control_plane_memory" {
  description = "Fargate task memory (MiB) for the control plane; must be valid for control_plane_cpu."
  type        = number
  default     = 2048
}

variable "control_plane_cpu_architecture" {
  description = "CPU architecture of the control-plane image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.control_plane_cpu_architecture)
    error_message = "control_plane_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "control_plane_ephemeral_storage_gib" {
  description = "Fargate ephemeral storage (GiB, 21-200) for the control plane. Uploads stream to local disk before they go to S3 (up to MAX_UPLOAD_BYTES, 2 GiB each by default)."
  type        = number
  default     = 50

  validation {
    condition     = var.control_plane_ephemeral_storage_gib >= 21 && var.control_plane_ephemeral_storage_gib <= 200
    error_message = "control_plane_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "control_plane_assign_public_ip" {
  description = "Give control-plane tasks a public IP. Only needed when private_subnet_ids are actually public subnets without NAT."
  type        = bool
  default     = false
}

variable "control_plane_health_check_grace_period" {
  description = "Seconds ECS ignores ALB health checks after a control-plane task starts (database migrations run at start)."
  type        = number
  default     = 120
}

variable "control_plane_extra_environment" {
  description = "Extra plain-text environment variables for the control plane (e.g. LOG_LEVEL, SM_BATCH_WORKER_MAX_JOB_HISTORY). The variables this configuration sets itself win over these. Do not put secrets here: they are visible in the task definition."
  type        = map(string)
  default     = {}
}

###############################################################################
# GPU workers (ECS on EC2)
###############################################################################

variable "worker_image" {
  description = "Container image of the GPU worker; it is started with command [\"npm\", \"run\", \"worker\"]. It should contain the CUDA build of onnxruntime and the ASR model (or be able to download it)."
  type        = string
}

variable "worker_instance_type" {
  description = "EC2 instance type of the GPU hosts (one GPU is reserved per worker task)."
  type        = string
  default     = "g5.xlarge"
}

variable "gpu_ami_id" {
  description = "AMI for the GPU hosts. null = the current ECS GPU-optimized Amazon Linux 2 AMI from SSM (/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id). Pin it to avoid a new launch template version whenever AWS publishes a new AMI."
  type        = string
  default     = null
}

variable "gpu_root_volume_size_gib" {
  description = "Root EBS volume size (GiB) of the GPU hosts; it holds the Docker images (CUDA images are large) and model caches."
  type        = number
  default     = 100
}

variable "gpu_instance_max_count" {
  description = "Maximum size of the GPU Auto Scaling group. null = worker_max_count (one GPU task per instance)."
  type        = number
  default     = null
}

variable "gpu_capacity_target_percent" {
  description = "ECS capacity provider managed-scaling target capacity (percent of the GPU instances' capacity that tasks should use; 100 = no idle spare instances)."
  type        = number
  default     = 100
}

variable "gpu_instance_warmup_seconds" {
  description = "Seconds a new GPU instance is given before it counts toward the capacity provider's metrics."
  type        = number
  default     = 300
}

variable "gpu_max_scaling_step_size" {
  description = "Most GPU instances the capacity provider adds or removes in one step."
  type        = number
  default     = 10
}

variable "worker_cpu" {
  description = "CPU units reserved by one worker task (g5.xlarge has 4096)."
  type        = number
  default     = 3072
}

variable "worker_memory" {
  description = "Memory (MiB) reserved by one worker task; must fit what ECS reports as available on worker_instance_type (g5.xlarge: 16 GiB minus OS/agent overhead)."
  type        = number
  default     = 12288
}

variable "worker_parallel" {
  description = "PARALLEL: tasks one worker process has in flight. Whisper decodes them all in one continuous batch on the GPU, so this is the batch the GPU sees for short files."
  type        = number
  default     = 16
}

variable "worker_batch_size" {
  description = "ASR_BATCH_SIZE: rows of the worker's continuous decoder batch (chunks decoded together) and chunks encoded together."
  type        = number
  default     = 16
}

variable "asr_model" {
  description = "ASR_MODEL given to the workers (a Whisper ONNX model name, as installed by `npm run models`)."
  type        = string
  default     = "onnx-community/whisper-base"
}

variable "worker_stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL when a worker task is stopped (scale-in, deployment). Max 120."
  type        = number
  default     = 120

  validation {
    condition     = var.worker_stop_timeout >= 2 && var.worker_stop_timeout <= 120
    error_message = "worker_stop_timeout must be between 2 and 120 seconds."
  }
}

variable "worker_extra_environment" {
  description = "Extra plain-text environment variables for the workers (e.g. ASR_MODEL_VARIANT, ASR_BATCH_SIZE, LOG_LEVEL). The variables this configuration sets itself win over these. Never database settings: workers have no database access."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.worker_extra_environment) : k != "DATABASE_URL" && !startswith(k, "PG")])
    error_message = "Workers hold no database credentials: DATABASE_URL and PG* variables are not allowed in worker_extra_environment."
  }
}

###############################################################################
# Worker autoscaling
###############################################################################

variable "worker_min_count" {
  description = "Minimum number of worker tasks (0 lets the fleet, and the GPU instances, scale to zero)."
  type        = number
  default     = 0
}

variable "worker_max_count" {
  description = "Maximum number of worker tasks."
  type        = number
  default     = 20

  validation {
    condition     = var.worker_max_count >= 1
    error_message = "worker_max_count must be at least 1."
  }
}

variable "backlog_per_worker_target" {
  description = "Target of the target-tracking policy: visible messages in the tasks queue per running worker task."
  type        = number
  default     = 4
}

variable "worker_scale_out_cooldown" {
  description = "Seconds after a scale-out before target tracking scales out again."
  type        = number
  default     = 60
}

variable "worker_scale_in_cooldown" {
  description = "Seconds after a scale-in before target tracking scales in again."
  type        = number
  default     = 300
}

variable "scale_from_zero_workers" {
  description = "Worker tasks started by the scale-from-zero step policy when messages wait and the service has no tasks."
  type        = number
  default     = 1
}

###############################################################################
# Queues
###############################################################################

variable "tasks_visibility_timeout_seconds" {
  description = "Visibility timeout of the tasks queue: how long a received task stays hidden before another worker may receive it (workers should extend it for long jobs)."
  type        = number
  default     = 300
}

variable "tasks_max_receive_count" {
  description = "maxReceiveCount of the tasks queue's redrive policy: receives before a task message moves to the DLQ. Also passed to the control plane as JOB_MAX_ATTEMPTS."
  type        = number
  default     = 3

  validation {
    condition     = var.tasks_max_receive_count >= 1 && var.tasks_max_receive_count <= 100
    error_message = "tasks_max_receive_count must be between 1 and 100 (JOB_MAX_ATTEMPTS accepts at most 100)."
  }
}

variable "results_visibility_timeout_seconds" {
  description = "Visibility timeout of the results queue (the control plane handles a result in well under a minute)."
  type        = number
  default     = 60
}

variable "results_max_receive_count" {
  description = "maxReceiveCount of the results queue's redrive policy."
  type        = number
  default     = 5
}

variable "queue_message_retention_seconds" {
  description = "Message retention of the tasks and results queues (the DLQs always keep messages 14 days)."
  type        = number
  default     = 345600
}

###############################################################################
# Storage (S3)
###############################################################################

variable "bucket_name" {
  description = "Name of the media/outputs bucket. null = generated from name_prefix (\"<name_prefix>-media-<random>\")."
  type        = string
  default     = null
}

variable "bucket_force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket while it still holds objects."
  type        = bool
  default     = false
}

variable "outputs_expiration_days" {
  description = "Days after which objects under \"outputs/\" (transcripts) expire."
  type        = number
  default     = 30
}

variable "media_expiration_days" {
  description = "Days after which uploaded media under \"sha256/\" expires."
  type        = number
  default     = 30
}

###############################################################################
# Database (RDS PostgreSQL)
###############################################################################

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_engine_version" {
  description = "PostgreSQL engine version. A major version (\"15\") lets RDS pick the current minor."
  type        = string
  default     = "15"
}

variable "db_name" {
  description = "Name of the database created on the instance."
  type        = string
  default     = "transcribe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a lowercase letter and contain only lowercase letters, digits and underscores."
  }
}

variable "db_username" {
  description = "Master user name. Its password is generated and kept in Secrets Manager by RDS (manage_master_user_password)."
  type        = string
  default     = "transcribe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_username)) && !contains(["postgres", "rdsadmin", "admin"], var.db_username)
    error_message = "db_username must start with a lowercase letter, contain only lowercase letters, digits and underscores, and not be a reserved name."
  }
}

variable "db_allocated_storage" {
  description = "Initial gp3 storage (GB)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Upper limit (GB) of RDS storage autoscaling."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run the database Multi-AZ."
  type        = bool
  default     = false
}

variable "db_deletion_protection" {
  description = "Enable RDS deletion protection."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot when the instance is destroyed (otherwise it is named \"<name_prefix>-postgres-final\")."
  type        = bool
  default     = false
}

variable "db_apply_immediately" {
  description = "Apply database modifications immediately instead of in the next maintenance window."
  type        = bool
  default     = false
}

variable "db_master_user_secret_kms_key_id" {
  description = "KMS key (ARN) for the RDS-managed master user secret. null = the AWS-managed aws/secretsmanager key. When set, the control plane's execution role is allowed to decrypt with it."
  type        = string
  default     = null
}

variable "db_url_params" {
  description = "Query string appended to DATABASE_URL (without the \"?\"). The default encrypts the connection without verifying the RDS certificate (node-postgres does not trust the RDS CA by default); for full verification bake the RDS CA bundle into the image and use e.g. \"sslmode=verify-full&sslrootcert=/path/global-bundle.pem\". Empty string = no parameters."
  type        = string
  default     = "sslmode=require&uselibpqcompat=true"
}

###############################################################################
# Logs and alarms
###############################################################################

variable "log_retention_days" {
  description = "Retention (days) of the CloudWatch log groups of both services."
  type        = number
  default     = 30
}

variable "container_insights" {
  description = "Value of the cluster's containerInsights setting: \"enabled\" or \"enhanced\". Must not be disabled: the worker autoscaling reads ECS/ContainerInsights metrics."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced"], var.container_insights)
    error_message = "container_insights must be \"enabled\" or \"enhanced\" (worker autoscaling needs ECS/ContainerInsights metrics)."
  }
}

variable "alarm_actions" {
  description = "ARNs (e.g. SNS topics) notified when a dead-letter queue receives messages. Empty = the alarms exist but notify nobody."
  type        = list(string)
  default     = []
}
