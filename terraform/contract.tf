# The infra -> app contract, published where the app pipeline can read it without the Terraform state.
#
# sam_parameters' keys are exactly sam/template.yaml's Parameters (lists comma-joined); deploy scripts pass the map
# as --parameter-overrides, nothing is retyped. It is also the `sam_parameters` output (one source).
#
# ONE JSON document in ONE parameter, not one parameter per key: a single PutParameter replaces it whole, so a
# reader never sees half of an update; the app-deployer is granted one ARN; and the parameter's version history
# is the history of the contract. The document is a few KB, well under the Advanced tier's 8 KB.
locals {
  sam_parameters = {
    Environment              = var.environment
    NamePrefix               = local.prefix
    ApiFunctionName          = local.functions.api.name
    ProcessorFunctionName    = local.functions.processor.name
    ScheduledFunctionName    = local.functions.scheduled.name
    ApiFunctionRoleArn       = aws_iam_role.function["api"].arn
    ProcessorFunctionRoleArn = aws_iam_role.function["processor"].arn
    ScheduledFunctionRoleArn = aws_iam_role.function["scheduled"].arn
    SubnetIds                = join(",", [for s in aws_subnet.private : s.id])
    SecurityGroupId          = aws_security_group.lambda.id
    TableName                = aws_dynamodb_table.this.name
    TableStreamArn           = local.processor_stream_arn
    DeadLetterQueueArn       = aws_sqs_queue.processor_dlq.arn
    ApiAccessLogGroupArn     = aws_cloudwatch_log_group.api_access.arn
    LogLevel                 = var.log_level
    LambdaArchitecture       = var.lambda_architecture
  }

  # scripts/deploylib/contract.py reads this path and refuses any other version.
  contract_parameter_name = "/${var.project_name}/${var.environment}/contract"
  contract_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.contract_parameter_name}"
  contract_version        = 1
}

resource "aws_ssm_parameter" "contract" {
  #checkov:skip=CKV2_AWS_34:The contract holds names and ARNs only (no secret); a String keeps it readable by the app-deployer without a KMS grant.
  name        = local.contract_parameter_name
  description = "App contract of ${local.prefix} (written by Terraform, read by scripts/deploy.sh --sam-only)"
  type        = "String"
  # Intelligent-Tiering: Standard (free) while the document fits 4 KB, Advanced only if it outgrows that.
  tier = "Intelligent-Tiering"
  value = jsonencode({
    version         = local.contract_version
    hash            = sha256(jsonencode(local.sam_parameters))
    region          = local.region
    stack_name      = local.app_stack_name
    artifact_bucket = aws_s3_bucket.artifacts.id
    parameters      = local.sam_parameters
  })

  # infra-deployer's grant on this parameter (iam.tf) comes first: the CI apply that introduces the contract also
  # writes that grant, and PutParameter must not race it.
  depends_on = [aws_iam_role_policy.infra_deployer_services]
}
