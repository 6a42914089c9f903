# RDS PostgreSQL 15 in the private subnets. RDS generates the master password and keeps it
# in a Secrets Manager secret (manage_master_user_password); the control plane gets it
# injected as PGPASSWORD (see control-plane.tf). Workers have no path to the database.

resource "aws_db_subnet_group" "this" {
  name        = "${local.name}-db"
  description = "${local.name} PostgreSQL subnets"
  subnet_ids  = var.private_subnet_ids
}

resource "aws_db_instance" "this" {
  identifier = "${local.name}-postgres"

  engine                     = "postgres"
  engine_version             = var.db_engine_version
  auto_minor_version_upgrade = true
  instance_class             = var.db_instance_class

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name                       = var.db_name
  username                      = var.db_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.db_master_user_secret_kms_key_id

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  backup_retention_period   = var.db_backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = var.db_skip_final_snapshot
  final_snapshot_identifier = var.db_skip_final_snapshot ? null : "${local.name}-postgres-final"
  apply_immediately         = var.db_apply_immediately
}
