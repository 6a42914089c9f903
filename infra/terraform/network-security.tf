# Security groups. Rules are separate resources (not inline) so the ALB and control-plane
# groups can reference each other without a dependency cycle.

###############################################################################
# Load balancer: 80/443 from alb_ingress_cidrs, out only to the control plane
###############################################################################

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "ALB in front of the ${local.name} control plane"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = local.https_enabled ? toset(var.alb_ingress_cidrs) : toset([])

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_control_plane" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the control-plane tasks"
  referenced_security_group_id = aws_security_group.control_plane.id
  ip_protocol                  = "tcp"
  from_port                    = local.control_plane_port
  to_port                      = local.control_plane_port
}

###############################################################################
# Control-plane tasks: 18000 from the ALB; out to anywhere (AWS APIs, ECR, RDS)
###############################################################################

resource "aws_security_group" "control_plane" {
  name        = "${local.name}-control-plane"
  description = "${local.name} control-plane Fargate tasks"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-control-plane" }
}

resource "aws_vpc_security_group_ingress_rule" "control_plane_from_alb" {
  security_group_id            = aws_security_group.control_plane.id
  description                  = "HTTP from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.control_plane_port
  to_port                      = local.control_plane_port
}

resource "aws_vpc_security_group_egress_rule" "control_plane_all" {
  security_group_id = aws_security_group.control_plane.id
  description       = "AWS APIs (SQS, S3, Secrets Manager, ECR, Logs) and RDS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

###############################################################################
# Worker tasks (awsvpc ENIs on the GPU hosts): no inbound at all
###############################################################################

resource "aws_security_group" "worker" {
  name        = "${local.name}-worker"
  description = "${local.name} GPU worker tasks (no inbound)"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-worker" }
}

resource "aws_vpc_security_group_egress_rule" "worker_all" {
  security_group_id = aws_security_group.worker.id
  description       = "AWS APIs (SQS, S3, ECR, Logs) and model downloads"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

###############################################################################
# GPU hosts (the EC2 instances' primary ENI: ECS agent, image pulls): no inbound
###############################################################################

resource "aws_security_group" "gpu_instance" {
  name        = "${local.name}-gpu-instance"
  description = "${local.name} GPU container instances (no inbound; use SSM Session Manager)"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-gpu-instance" }
}

resource "aws_vpc_security_group_egress_rule" "gpu_instance_all" {
  security_group_id = aws_security_group.gpu_instance.id
  description       = "ECS, ECR, SSM and CloudWatch endpoints"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

###############################################################################
# Database: 5432 from the control-plane tasks only (workers never reach it)
###############################################################################

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "${local.name} PostgreSQL: reachable from the control plane only"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_control_plane" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the control-plane tasks"
  referenced_security_group_id = aws_security_group.control_plane.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}
