# Artifacts are reproducible from git, so a teardown of dev/staging may delete them; prod keeps its bucket
# (Terraform refuses to delete a non-empty bucket unless force_destroy). iam.tf grants the infra-deployer what
# emptying the bucket takes only where this is true.
locals {
  artifact_force_destroy = var.environment != "prod"
}

# Artifact bucket for `sam deploy` (packaged code, layer zips, templates). Only CI's app-deployer writes it.
resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Server access logging would need a second log bucket per environment; uploads are already recorded by CloudTrail (management events) and only the app-deployer role may write here.
  #checkov:skip=CKV_AWS_144:Cross-region replication is pointless for build artifacts: any lost artifact is rebuilt from git by the next deploy.
  #checkov:skip=CKV2_AWS_62:No consumer reacts to artifact uploads; event notifications would have no target.
  bucket = local.artifact_bucket_name

  force_destroy = local.artifact_force_destroy

  tags = { Name = local.artifact_bucket_name }
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs disabled: the policy below is the only access control
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled" # a rollback can redeploy the exact previous artifact
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      # AWS managed key (aws/s3) for writers that ask for nothing; bucket keys keep KMS request costs negligible.
      # SAM CLI asks for SSE-S3 (AES256) on every upload unless given --kms-key-id, so its artifacts are SSE-S3.
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  count = var.enable_artifact_lifecycle ? 1 : 0

  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-old-artifacts"
    status = "Enabled"

    filter {}

    expiration {
      days = var.artifact_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts.json

  # S3 rejects a bucket policy while the public access block is being written; order them.
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
