output "alb_dns_name" {
  description = "DNS name of the load balancer (point your DNS record here)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 hosted zone ID of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "control_plane_url" {
  description = "Base URL of the control plane through the load balancer's AWS DNS name (with HTTPS, browse via the name your certificate covers, pointed at alb_dns_name)."
  value       = "${local.https_enabled ? "https" : "http"}://${aws_lb.this.dns_name}"
}

output "tasks_queue_url" {
  description = "URL of the SQS tasks queue (SQS_TASKS_QUEUE_URL)."
  value       = aws_sqs_queue.tasks.url
}

output "results_queue_url" {
  description = "URL of the SQS results queue (SQS_RESULTS_QUEUE_URL)."
  value       = aws_sqs_queue.results.url
}

output "dlq_url" {
  description = "URL of the tasks dead-letter queue (SQS_DLQ_URL)."
  value       = aws_sqs_queue.tasks_dlq.url
}

output "results_dlq_url" {
  description = "URL of the results dead-letter queue."
  value       = aws_sqs_queue.results_dlq.url
}

output "bucket_name" {
  description = "Name of the media/outputs S3 bucket (S3_BUCKET)."
  value       = aws_s3_bucket.media.bucket
}

output "db_endpoint" {
  description = "RDS endpoint as host:port."
  value       = aws_db_instance.this.endpoint
}

output "db_address" {
  description = "RDS host name."
  value       = aws_db_instance.this.address
}

output "db_master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret (JSON with username and password) that RDS manages for the master user."
  value       = local.db_master_secret_arn
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "control_plane_service_name" {
  description = "Name of the control-plane ECS service."
  value       = aws_ecs_service.control_plane.name
}

output "worker_service_name" {
  description = "Name of the GPU worker ECS service."
  value       = aws_ecs_service.worker.name
}

output "gpu_autoscaling_group_name" {
  description = "Name of the GPU instances' Auto Scaling group."
  value       = aws_autoscaling_group.gpu.name
}
