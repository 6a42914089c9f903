terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  # Every taggable resource gets these. Auto Scaling groups and the instances they launch
  # do not take default_tags, so gpu-workers.tf tags those explicitly from local.tags.
  default_tags {
    tags = local.tags
  }
}
