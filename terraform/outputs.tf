# The contract with the app layer (built once in contract.tf, also published to SSM there).
output "sam_parameters" {
  description = "SAM template parameters, keyed by parameter name (the whole infra -> app contract)."
  value       = local.sam_parameters
}

output "contract_parameter_name" {
  description = "SSM parameter holding the published app contract (JSON); the app-deployer reads only this."
  value       = aws_ssm_parameter.contract.name
}

output "aws_region" {
  description = "Region of the stack."
  value       = local.region
}

output "vpc_id" {
  description = "VPC of the functions."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets the functions run in (one per AZ)."
  value       = [for s in aws_subnet.private : s.id]
}

output "lambda_security_group_id" {
  description = "Egress-only security group of the functions."
  value       = aws_security_group.lambda.id
}

output "vpc_flow_log_group_name" {
  description = "Log group of the VPC's flow logs (null when enable_flow_logs is false)."
  value       = try(aws_cloudwatch_log_group.vpc_flow_logs[0].name, null)
}

output "table_name" {
  description = "Single DynamoDB table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "table_stream_arn" {
  description = "Stream the processor consumes (this table's, unless processor_stream_arn points elsewhere)."
  value       = local.processor_stream_arn
}

output "dead_letter_queue_url" {
  description = "URL of the processor's dead-letter queue (for inspection and redrive)."
  value       = aws_sqs_queue.processor_dlq.id
}

output "dead_letter_queue_arn" {
  description = "ARN of the processor's dead-letter queue."
  value       = aws_sqs_queue.processor_dlq.arn
}

output "sam_artifacts_bucket" {
  description = "Bucket for sam deploy --s3-bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "app_stack_name" {
  description = "CloudFormation stack name of the app layer (the app-deployer may only touch this stack)."
  value       = local.app_stack_name
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm (subscribe on-call here)."
  value       = aws_sns_topic.alarms.arn
}

output "api_role_arn" {
  description = "Execution role of the API function."
  value       = aws_iam_role.function["api"].arn
}

output "processor_role_arn" {
  description = "Execution role of the stream processor."
  value       = aws_iam_role.function["processor"].arn
}

output "scheduled_role_arn" {
  description = "Execution role of the scheduled job."
  value       = aws_iam_role.function["scheduled"].arn
}

output "infra_deployer_role_arn" {
  description = "Role GitHub Actions assumes for terraform apply."
  value       = aws_iam_role.infra_deployer.arn
}

output "app_deployer_role_arn" {
  description = "Role GitHub Actions assumes for sam deploy."
  value       = aws_iam_role.app_deployer.arn
}

output "infra_planner_role_arn" {
  description = "Read-only role GitHub Actions assumes for terraform plan of pull requests (ci.yml)."
  value       = aws_iam_role.infra_planner.arn
}
