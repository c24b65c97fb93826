# Dead-letter queue of the stream processor: the event source mapping's on-failure destination (SAM sets
# DestinationConfig.OnFailure to this ARN). Lambda writes the failed batch's metadata (shard, sequence
# numbers) here with the processor role's sqs:SendMessage; the depth alarm lives in monitoring.tf.
resource "aws_sqs_queue" "processor_dlq" {
  name                      = local.dlq_name
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true # SSE-SQS: encrypted at rest without a KMS key policy to maintain

  tags = { Name = local.dlq_name }
}

# Refuse any access over plain HTTP, whoever the caller is.
data "aws_iam_policy_document" "processor_dlq" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.processor_dlq.arn]

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

resource "aws_sqs_queue_policy" "processor_dlq" {
  queue_url = aws_sqs_queue.processor_dlq.id
  policy    = data.aws_iam_policy_document.processor_dlq.json
}
