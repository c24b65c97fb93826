# Monitoring: Terraform owns every log group (SAM only references them), alarms go to one SNS topic, and one
# dashboard shows the whole path API -> table -> stream -> processor -> DLQ.

# One customer managed key for the alarm topic and the log groups. A CMK is required, not a nicety: CloudWatch
# alarms cannot publish to a topic encrypted with the AWS managed aws/sns key (its key policy cannot grant
# cloudwatch.amazonaws.com). Fixed cost: one key per environment (~1 USD/month).
data "aws_iam_policy_document" "observability_key" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only, and the account-root statement is what keeps the key manageable through IAM (AWS default key policy).
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only; write access is limited to the account root (delegated to IAM), the infra-deployer role by ARN (administration only) and the two services below with source conditions.
  #checkov:skip=CKV_AWS_356:Key policy: a key policy's Resource "*" refers to the key itself, not to all resources.
  statement {
    sid       = "AccountAdministersThroughIam"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # The infra-deployer administers this key (no cryptographic use) through this statement, AWS's "key
  # administrators" statement of the default key policy. A key policy is in force from CreateKey on, whereas IAM
  # statements conditioned on the key's tags can lag its tags by up to five minutes, which would deny the
  # provider's DescribeKey/EnableKeyRotation/GetKeyPolicy right after CreateKey (KMS guide, "ABAC for AWS KMS").
  # Named by ARN, so it grants nothing on any other key. docs/ci-cd.md cites the pages.
  statement {
    sid    = "InfraDeployerAdministersThisKey"
    effect = "Allow"
    actions = [
      "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
      "kms:TagResource", "kms:UntagResource",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.infra_deployer.arn]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTopic"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptOwnGroups"
    effect    = "Allow"
    actions   = ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.api_access_log_group}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.flow_log_group}",
      ]
    }
  }
}

resource "aws_kms_key" "observability" {
  description             = "${local.prefix}: alarm topic and log groups"
  enable_key_rotation     = true
  deletion_window_in_days = var.environment == "prod" ? 30 : 7
  policy                  = data.aws_iam_policy_document.observability_key.json
}

resource "aws_kms_alias" "observability" {
  name          = "alias/${local.prefix}-observability"
  target_key_id = aws_kms_key.observability.key_id
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_338:Retention is set per environment by var.log_retention_days (validated); a one-year floor would multiply dev/staging log cost for no use.
  for_each = local.functions

  name              = each.value.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_338:Retention is set per environment by var.log_retention_days (validated); a one-year floor would multiply dev/staging log cost for no use.
  name              = local.api_access_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_cloudwatch_log_group" "vpc_flow_logs" {
  #checkov:skip=CKV_AWS_338:Retention is set per environment by var.log_retention_days (validated); a one-year floor would multiply dev/staging log cost for no use.
  count = var.enable_flow_logs ? 1 : 0

  name              = local.flow_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_sns_topic" "alarms" {
  name              = local.alarm_topic_name
  kms_master_key_id = aws_kms_key.observability.arn
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]

  # Per-function alarms: errors, throttles, and maximum duration above 80% of the timeout.
  function_alarms = merge([
    for key, fn in local.functions : {
      "${key}-errors" = {
        function    = fn.name, metric = "Errors", statistic = "Sum", threshold = 0
        description = "${fn.name} raised errors"
      }
      "${key}-throttles" = {
        function    = fn.name, metric = "Throttles", statistic = "Sum", threshold = 0
        description = "${fn.name} was throttled"
      }
      "${key}-duration" = {
        function    = fn.name, metric = "Duration", statistic = "Maximum", threshold = fn.timeout * 1000 * 0.8
        description = "${fn.name} ran longer than 80% of its ${fn.timeout}s timeout"
      }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = local.function_alarms

  alarm_name          = "${local.prefix}-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "processor_iterator_age" {
  alarm_name          = "${local.prefix}-processor-iterator-age"
  alarm_description   = "The stream processor lags: records wait longer than ${var.iterator_age_alarm_ms} ms"
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = local.functions.processor.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.iterator_age_alarm_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Redrive alarm: any message in the DLQ is a batch the processor gave up on and needs an operator.
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${local.prefix}-processor-dlq-depth"
  alarm_description   = "Failed stream batches are waiting in ${local.dlq_name}: inspect and redrive"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.processor_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.prefix}-api-5xx"
  alarm_description   = "REST API ${local.api_name} returned 5XX responses"
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = local.api_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "table_throttles" {
  alarm_name          = "${local.prefix}-table-throttles"
  alarm_description   = "Requests to ${local.table_name} were throttled (read or write)"
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "throttles"
    expression  = "reads + writes"
    label       = "Throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = aws_dynamodb_table.this.name }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "writes"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = aws_dynamodb_table.this.name }
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Lambda invocations and errors", region = local.region, stat = "Sum", period = 300
          metrics = flatten([for fn in local.functions : [
            ["AWS/Lambda", "Invocations", "FunctionName", fn.name],
            ["AWS/Lambda", "Errors", "FunctionName", fn.name],
          ]])
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Lambda duration (p99)", region = local.region, stat = "p99", period = 300
          metrics = [for fn in local.functions : ["AWS/Lambda", "Duration", "FunctionName", fn.name]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "API Gateway", region = local.region, stat = "Sum", period = 300
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiName", local.api_name],
            ["AWS/ApiGateway", "4XXError", "ApiName", local.api_name],
            ["AWS/ApiGateway", "5XXError", "ApiName", local.api_name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "DynamoDB", region = local.region, stat = "Sum", period = 300
          metrics = [
            ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", local.table_name],
            ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", local.table_name],
            ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", local.table_name],
            ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", local.table_name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title = "Stream processing", region = local.region, stat = "Maximum", period = 300
          metrics = [
            ["AWS/Lambda", "IteratorAge", "FunctionName", local.functions.processor.name],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.dlq_name],
          ]
        }
      },
    ]
  })
}
