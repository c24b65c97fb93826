# The single table of the app layer (key design: team brief). Terraform owns it; SAM only receives its name
# and stream ARN, so an app deploy can never replace or delete the data.
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_28:PITR is var.enable_point_in_time_recovery, on in staging and prod (and the emulator); dev data is disposable and PITR is billed per GB.
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS owned key (DynamoDB's default). Cross-account stream consumers (seed 000) cannot read a table under the AWS managed key (aws/dynamodb); a customer managed key would tie its key policy to every consumer account.
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "PK"
  range_key    = "SK"

  attribute {
    name = "PK"
    type = "S"
  }
  attribute {
    name = "SK"
    type = "S"
  }
  attribute {
    name = "EntityType"
    type = "S"
  }
  attribute {
    name = "CreatedAt"
    type = "N"
  }
  attribute {
    name = "GSI1PK"
    type = "S"
  }
  attribute {
    name = "GSI1SK"
    type = "S"
  }

  # All entities of one type by creation time (listing, and the scheduled job's STATS# recount).
  global_secondary_index {
    name            = "EntityTypeIndex"
    hash_key        = "EntityType"
    range_key       = "CreatedAt"
    projection_type = "ALL"
  }

  # Orders by status (GSI1PK ORDER_STATUS#<status>, GSI1SK <CreatedAt>#<oid>).
  global_secondary_index {
    name            = "GSI1"
    hash_key        = "GSI1PK"
    range_key       = "GSI1SK"
    projection_type = "ALL"
  }

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  ttl {
    enabled        = true
    attribute_name = "ExpiresAt"
  }

  # Always encrypted at rest. `false` selects the AWS owned key, not "no encryption": DynamoDB refuses
  # cross-account access through resource-based policies (the stream policy below) to tables under the AWS
  # managed key aws/dynamodb, because that key's policy cannot be extended to another account.
  server_side_encryption {
    enabled = false
  }

  point_in_time_recovery {
    enabled = var.enable_point_in_time_recovery
  }

  deletion_protection_enabled = var.enable_deletion_protection

  tags = { Name = local.table_name }
}

# Cross-account consumers (seed 000): Lambda in another account may map this table's stream when the stream's
# resource policy names its execution role. Exactly the three read actions an event source mapping uses on
# the stream; ListStreams is not granted because it is not a stream-level action (the consumer is given the
# stream ARN directly and never lists streams here).
data "aws_iam_policy_document" "stream_consumers" {
  count = length(var.stream_consumer_principals) > 0 ? 1 : 0

  statement {
    sid       = "CrossAccountStreamRead"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [aws_dynamodb_table.this.stream_arn]

    principals {
      type        = "AWS"
      identifiers = var.stream_consumer_principals
    }
  }
}

resource "aws_dynamodb_resource_policy" "stream" {
  count = length(var.stream_consumer_principals) > 0 ? 1 : 0

  resource_arn = aws_dynamodb_table.this.stream_arn
  policy       = data.aws_iam_policy_document.stream_consumers[0].json
}
