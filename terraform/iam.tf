# IAM: one execution role per function, the CI identities (deployers, planner), and the API Gateway logging role.
#
# Rules: inline policies listing each action against ARNs; "*" in an Allow only where the action has no
# resource-level control (each such statement says so; a Deny may use "*", it only takes away); no AWS managed
# policy where an exact inline statement exists (the two exceptions say why). tests/infra/test_apply_local.py
# enforces the allow-list of "*" statements; tests/reliability/test_iam_policies.py evaluates each role.

locals {
  table_arn       = aws_dynamodb_table.this.arn
  table_index_arn = [for name in local.table_index_names : "${aws_dynamodb_table.this.arn}/index/${name}"]
  eni_arn         = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"
  lambda_fn_arn   = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-*"
}

# ---------------------------------------------------------------------------------------------------------
# Function execution roles
# ---------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    sid     = "LambdaServiceOfThisAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Confused-deputy guard: only Lambda acting for a function in this account.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = each.value.role_name
  description        = "Execution role of ${each.value.name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

# What every function needs: its own log group, X-Ray, and the VPC network interfaces.
data "aws_iam_policy_document" "function_base" {
  for_each = local.functions

  statement {
    sid     = "OwnLogGroupOnly"
    effect  = "Allow"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    # No logs:CreateLogGroup: Terraform creates the group (monitoring.tf) with retention and encryption.
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid    = "XRayNoResourceLevel"
    effect = "Allow"
    # X-Ray's PutTraceSegments/PutTelemetryRecords support no resource ARNs or condition keys: "*" is the
    # only possible resource.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid     = "VpcEniCreateInOwnSubnetsAndGroup"
    effect  = "Allow"
    actions = ["ec2:CreateNetworkInterface"]
    # CreateNetworkInterface is authorised on the new ENI and on the subnet and security group it uses:
    # naming ours keeps the role from placing interfaces anywhere else.
    resources = concat(
      [local.eni_arn, aws_security_group.lambda.arn],
      [for s in aws_subnet.private : s.arn],
    )
  }

  # Lambda checks the execution role for DeleteNetworkInterface when a function is created or attached to a VPC,
  # on no particular interface: its VPC guide asks for "a unique resource ID, or all resource IDs, for example
  # arn:aws:ec2:<region>:<account>:*/*". Scoped or conditioned forms can fail that check, so it gets this
  # account's and region's EC2 resources, nothing wider.
  statement {
    sid       = "VpcEniDeleteAsLambdaChecksIt"
    effect    = "Allow"
    actions   = ["ec2:DeleteNetworkInterface"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:*/*"]
  }

  statement {
    sid       = "VpcEniManageInOwnVpc"
    effect    = "Allow"
    actions   = ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = [local.eni_arn]

    condition {
      test     = "ArnEquals"
      variable = "ec2:Vpc"
      values   = [aws_vpc.this.arn]
    }
  }

  statement {
    sid    = "VpcDescribeNoResourceLevel"
    effect = "Allow"
    # EC2 Describe* calls support no resource-level permissions: "*" is the only possible resource.
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "function_base" {
  for_each = local.functions

  name   = "base"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function_base[each.key].json
}

# API: item/user/order CRUD and queries. Writes are confined to entity partitions (ITEM#, USER#) so the API
# can never forge the processor's STATS#/LEDGER# rows or the scheduled job's idempotency records.
data "aws_iam_policy_document" "api" {
  statement {
    sid       = "ReadTableAndIndexes"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
    resources = concat([local.table_arn], local.table_index_arn)
  }

  statement {
    sid       = "WriteEntityPartitionsOnly"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [local.table_arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["ITEM#*", "USER#*"]
    }
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "table-access"
  role   = aws_iam_role.function["api"].id
  policy = data.aws_iam_policy_document.api.json
}

# Processor: read the stream (possibly another account's), write aggregates + exactly-once ledger rows,
# and let its event source mapping put failed batches on the DLQ.
data "aws_iam_policy_document" "processor" {
  statement {
    sid     = "ReadStream"
    effect  = "Allow"
    actions = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    # var.processor_stream_arn may name another account's stream; that account's stream resource policy
    # must grant this role too (its stream_consumer_principals).
    resources = [local.processor_stream_arn]
  }

  statement {
    sid    = "ListStreamsNoResourceLevel"
    effect = "Allow"
    # dynamodb:ListStreams is not tied to a table or stream ARN ("*" is its only resource); the event source
    # mapping calls it when it starts polling.
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteStatsAndLedgerOnly"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [local.table_arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["STATS#*", "LEDGER#*"]
    }
  }

  statement {
    sid       = "OnFailureDestination"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.processor_dlq.arn]
  }
}

resource "aws_iam_role_policy" "processor" {
  name   = "stream-and-aggregates"
  role   = aws_iam_role.function["processor"].id
  policy = data.aws_iam_policy_document.processor.json
}

# Scheduled maintenance: find expired entities (Scan/Query), delete them, recompute STATS#* from
# EntityTypeIndex counts, and keep its Powertools idempotency records.
data "aws_iam_policy_document" "scheduled" {
  statement {
    sid       = "ReadTableAndIndexes"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = concat([local.table_arn], local.table_index_arn)
  }

  statement {
    sid       = "DeleteExpiredEntities"
    effect    = "Allow"
    actions   = ["dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
    resources = [local.table_arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["ITEM#*", "USER#*"]
    }
  }

  statement {
    sid       = "RewriteStats"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [local.table_arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["STATS#*"]
    }
  }

  statement {
    sid       = "IdempotencyRecords"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [local.table_arn]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:LeadingKeys"
      values   = ["IDEMPOTENCY#scheduled"]
    }
  }
}

resource "aws_iam_role_policy" "scheduled" {
  name   = "maintenance"
  role   = aws_iam_role.function["scheduled"].id
  policy = data.aws_iam_policy_document.scheduled.json
}

# ---------------------------------------------------------------------------------------------------------
# API Gateway account-level CloudWatch role (needed before any stage can write access logs)
# ---------------------------------------------------------------------------------------------------------

# AWS's documented trust for this role, exactly: apigateway.amazonaws.com and no condition (API Gateway guide,
# "Permissions for CloudWatch logging"; the AWS::ApiGateway::Account example). AWS does not document that API
# Gateway sends aws:SourceAccount when it assumes this role; if it does not, a SourceAccount condition makes
# aws_api_gateway_account, and so the first apply, fail. docs/ci-cd.md ("AWS behaviour relied on") cites the pages.
data "aws_iam_policy_document" "apigw_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigw_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name               = local.apigw_cloudwatch_role
  description        = "Region-wide API Gateway role for writing access and execution logs"
  assume_role_policy = data.aws_iam_policy_document.apigw_trust.json
}

# An AWS managed policy (one of two in the module; the other is infra_planner's ReadOnlyAccess): this role serves
# every REST API in the account and region (execution log groups are named by API ids unknown here), so no exact
# inline list exists.
resource "aws_iam_role_policy_attachment" "apigw_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.apigw_cloudwatch[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.apigw_cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.apigw_cloudwatch]
}

# ---------------------------------------------------------------------------------------------------------
# VPC flow logs: the service role that writes them to their log group (network.tf, monitoring.tf)
# ---------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "vpc_flow_logs_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    # Confused-deputy guard: only flow logs of this account and region may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc-flow-log/*"]
    }
  }
}

resource "aws_iam_role" "vpc_flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name               = local.flow_logs_role
  description        = "VPC flow logs of ${local.prefix}: write to ${local.flow_log_group}"
  assume_role_policy = data.aws_iam_policy_document.vpc_flow_logs_trust.json
}

data "aws_iam_policy_document" "vpc_flow_logs" {
  statement {
    sid    = "WriteOwnGroup"
    effect = "Allow"
    # The group exists (Terraform creates it first), so AWS's documented logs:CreateLogGroup is not granted.
    actions = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.flow_log_group}",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.flow_log_group}:log-stream:*",
    ]
  }

  statement {
    sid    = "DescribeLogGroupsInRegion"
    effect = "Allow"
    # DescribeLogGroups is authorised on the account/region's log-group space, not on one group.
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }
}

resource "aws_iam_role_policy" "vpc_flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.vpc_flow_logs[0].id
  policy = data.aws_iam_policy_document.vpc_flow_logs.json
}

# ---------------------------------------------------------------------------------------------------------
# CI identities: GitHub Actions OIDC, infra-deployer (this module), app-deployer (the SAM stack) and
# infra-planner (read-only terraform plan of pull requests)
# ---------------------------------------------------------------------------------------------------------

resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # AWS now trusts GitHub's OIDC via its own CA list; the thumbprints are kept for older partitions.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

# One trust document per CI role (local.github_oidc_subjects): the same provider and audience, its own subject.
data "aws_iam_policy_document" "github_trust" {
  for_each = local.github_oidc_subjects

  statement {
    sid     = each.value.sid
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Exactly one subject (locals.tf says which): a job of this repository in the deployer's GitHub environment,
    # or, for the planner, a pull request job in no environment. No wildcard, so forks, other branches' ad-hoc
    # jobs and other repos are out.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [each.value.sub]
    }
  }
}

resource "aws_iam_role" "app_deployer" {
  name                 = local.app_deployer_name
  description          = "GitHub Actions: sam deploy of ${local.app_stack_name} (no VPC, table or IAM changes)"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["app"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "app_deployer" {
  statement {
    sid    = "AppStackOnly"
    effect = "Allow"
    actions = [
      "cloudformation:CreateChangeSet", "cloudformation:CreateStack", "cloudformation:DeleteChangeSet",
      "cloudformation:DeleteStack", "cloudformation:DescribeChangeSet", "cloudformation:DescribeStackEvents",
      "cloudformation:DescribeStackResource", "cloudformation:DescribeStackResources",
      "cloudformation:DescribeStacks", "cloudformation:ExecuteChangeSet", "cloudformation:GetTemplate",
      "cloudformation:GetTemplateSummary", "cloudformation:ListChangeSets", "cloudformation:ListStackResources",
      "cloudformation:UpdateStack", "cloudformation:TagResource", "cloudformation:UntagResource",
    ]
    resources = ["arn:${local.partition}:cloudformation:${local.region}:${local.account_id}:stack/${local.app_stack_name}/*"]
  }

  statement {
    sid       = "SamTransform"
    effect    = "Allow"
    actions   = ["cloudformation:CreateChangeSet"]
    resources = ["arn:${local.partition}:cloudformation:${local.region}:aws:transform/Serverless-2016-10-31"]
  }

  statement {
    sid    = "TemplateValidationNoResourceLevel"
    effect = "Allow"
    # ValidateTemplate is not tied to any stack ("*" is its only resource); it reads the template only.
    actions   = ["cloudformation:ValidateTemplate"]
    resources = ["*"]
  }

  statement {
    sid    = "StackFunctions"
    effect = "Allow"
    actions = [
      "lambda:AddPermission", "lambda:CreateAlias", "lambda:DeleteAlias", "lambda:DeleteFunction",
      "lambda:DeleteFunctionConcurrency", "lambda:DeleteFunctionEventInvokeConfig", "lambda:GetAlias",
      "lambda:GetFunction", "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionEventInvokeConfig", "lambda:GetFunctionRecursionConfig", "lambda:GetFunctionScalingConfig",
      "lambda:GetPolicy",
      "lambda:GetRuntimeManagementConfig", "lambda:ListTags", "lambda:ListVersionsByFunction", "lambda:PublishVersion",
      "lambda:PutFunctionConcurrency", "lambda:PutFunctionEventInvokeConfig", "lambda:RemovePermission",
      "lambda:TagResource", "lambda:UntagResource", "lambda:UpdateAlias", "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionEventInvokeConfig",
    ]
    resources = [local.lambda_fn_arn, "${local.lambda_fn_arn}:*"]
  }

  # Creating or reconfiguring a function is allowed only inside this VPC: the app layer cannot move a
  # function out of the private subnets (lambda:VpcIds is present on these two calls only).
  statement {
    sid       = "StackFunctionsStayInVpc"
    effect    = "Allow"
    actions   = ["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"]
    resources = [local.lambda_fn_arn]

    condition {
      test     = "StringEquals"
      variable = "lambda:VpcIds"
      values   = [aws_vpc.this.id]
    }
  }

  statement {
    sid     = "StackLayer"
    effect  = "Allow"
    actions = ["lambda:DeleteLayerVersion", "lambda:GetLayerVersion", "lambda:PublishLayerVersion"]
    resources = [
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:layer:${local.layer_name}",
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:layer:${local.layer_name}:*",
    ]
  }

  statement {
    sid    = "EventSourceMappingsOfStackFunctions"
    effect = "Allow"
    # CreateEventSourceMapping has no resource ARN before the mapping exists ("*" is its only resource);
    # the lambda:FunctionArn condition ties every call to this stack's functions.
    actions = [
      "lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping", "lambda:UpdateEventSourceMapping",
    ]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = [local.lambda_fn_arn]
    }
  }

  # CloudFormation reads every mapping back after each change and tags it on create (its aws:cloudformation:*
  # tags and samconfig's tags). GetEventSourceMapping and the tag actions carry no lambda:FunctionArn key, so
  # they are bound to this account's mappings in this region by ARN (mapping ids are generated).
  statement {
    sid    = "ReadAndTagEventSourceMappings"
    effect = "Allow"
    actions = [
      "lambda:GetEventSourceMapping", "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource",
    ]
    resources = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:event-source-mapping:*"]
  }

  statement {
    sid       = "PassOnlyFunctionRolesToLambda"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [for r in aws_iam_role.function : r.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com"]
    }
  }

  statement {
    sid    = "VpcLookupsForLambdaNoResourceLevel"
    effect = "Allow"
    # Lambda requires the caller of CreateFunction/UpdateFunctionConfiguration with a VpcConfig to hold these
    # read-only EC2 calls, and CloudFormation's function delete handler waits on the VPC's network interfaces;
    # Describe* support no resource-level permissions ("*" is the only resource).
    actions = [
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "RestApis"
    effect = "Allow"
    # REST API ids are generated at creation, so the policy cannot name this stack's API: it is limited to the
    # REST API resource tree (/restapis, /tags) of this region. Account-wide settings (/account, domain names,
    # usage plans, API keys, VPC links) stay out of reach.
    actions = ["apigateway:DELETE", "apigateway:GET", "apigateway:PATCH", "apigateway:POST", "apigateway:PUT"]
    resources = [
      "arn:${local.partition}:apigateway:${local.region}::/restapis",
      "arn:${local.partition}:apigateway:${local.region}::/restapis/*",
      "arn:${local.partition}:apigateway:${local.region}::/tags/*",
    ]
  }

  statement {
    sid    = "ScheduleRules"
    effect = "Allow"
    actions = [
      "events:DeleteRule", "events:DescribeRule", "events:DisableRule", "events:EnableRule",
      "events:ListTagsForResource", "events:ListTargetsByRule", "events:PutRule", "events:PutTargets",
      "events:RemoveTargets", "events:TagResource", "events:UntagResource",
    ]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.prefix}-*"]
  }

  statement {
    sid       = "ArtifactBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  statement {
    sid       = "ArtifactObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  # The published contract (contract.tf) is everything `deploy.sh <env> --sam-only` needs from the infra layer:
  # this one parameter, read only, and nothing of the Terraform state.
  statement {
    sid       = "ReadContract"
    effect    = "Allow"
    actions   = ["ssm:GetParameter"]
    resources = [local.contract_parameter_arn]
  }
}

resource "aws_iam_role_policy" "app_deployer" {
  name   = "sam-deploy"
  role   = aws_iam_role.app_deployer.id
  policy = data.aws_iam_policy_document.app_deployer.json
}

resource "aws_iam_role" "infra_deployer" {
  name                 = local.infra_deployer_name
  description          = "GitHub Actions: terraform apply of the ${local.prefix} infra layer"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["infra"].json
  max_session_duration = 3600
}

# What `terraform apply` of this module needs, scoped by name prefix wherever the service allows.
# Remaining "*" (each statement says why): EC2 ids are generated (and Describe* has no resource level), so EC2
# is limited to this region by aws:RequestedRegion; a few list/describe calls have no resource level at all.
# Inherent limit: this role manages IAM roles named <prefix>-*, itself included, so it is as powerful as the
# policies it may write; guard it with GitHub environment protection (and a permissions boundary if the
# organisation uses them).
data "aws_iam_policy_document" "infra_deployer_network" {
  statement {
    sid    = "VpcResourcesInRegionIdsAreGenerated"
    effect = "Allow"
    actions = [
      "ec2:AllocateAddress", "ec2:AssociateRouteTable", "ec2:AttachInternetGateway",
      "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateInternetGateway",
      "ec2:CreateFlowLogs", "ec2:CreateNatGateway", "ec2:CreateRoute", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup",
      "ec2:CreateSubnet", "ec2:CreateTags", "ec2:CreateVpc", "ec2:CreateVpcEndpoint", "ec2:DeleteFlowLogs",
      "ec2:DeleteInternetGateway", "ec2:DeleteNatGateway", "ec2:DeleteRoute", "ec2:DeleteRouteTable", "ec2:DeleteSecurityGroup",
      "ec2:DeleteSubnet", "ec2:DeleteTags", "ec2:DeleteVpc", "ec2:DeleteVpcEndpoints", "ec2:Describe*",
      "ec2:DetachInternetGateway", "ec2:DisassociateAddress", "ec2:DisassociateRouteTable",
      "ec2:ModifySecurityGroupRules", "ec2:ModifySubnetAttribute", "ec2:ModifyVpcAttribute",
      "ec2:ModifyVpcEndpoint", "ec2:ReleaseAddress", "ec2:ReplaceRoute", "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
}

data "aws_iam_policy_document" "infra_deployer_services" {
  statement {
    sid    = "Table"
    effect = "Allow"
    actions = [
      "dynamodb:CreateTable", "dynamodb:DeleteResourcePolicy", "dynamodb:DeleteTable",
      "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
      "dynamodb:GetResourcePolicy", "dynamodb:ListTagsOfResource", "dynamodb:PutResourcePolicy",
      "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive",
    ]
    resources = [local.table_arn, "${local.table_arn}/*"]
  }

  statement {
    sid    = "Queue"
    effect = "Allow"
    actions = [
      "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags",
      "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue",
    ]
    resources = ["arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.prefix}-*"]
  }

  statement {
    sid    = "PrefixedRoles"
    effect = "Allow"
    actions = [
      "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
      "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies", "iam:PassRole", "iam:PutRolePolicy", "iam:TagRole", "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.prefix}-*"]
  }

  statement {
    sid    = "GitHubOidcProvider"
    effect = "Allow"
    actions = [
      "iam:AddClientIDToOpenIDConnectProvider", "iam:CreateOpenIDConnectProvider",
      "iam:DeleteOpenIDConnectProvider", "iam:GetOpenIDConnectProvider", "iam:RemoveClientIDFromOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com"]
  }

  statement {
    sid     = "ArtifactBucket"
    effect  = "Allow"
    actions = ["s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:Get*", "s3:ListBucket", "s3:Put*"]
    # The exact bucket ARN only: a "<prefix>-sam-artifacts-*" pattern would also match every OBJECT ARN in it
    # (s3:PutObject on the app layer's packages) and look-alike buckets of other accounts (S3 ARNs carry no
    # account). tests/reliability/test_iam_policies.py pins both.
    resources = [aws_s3_bucket.artifacts.arn]
  }

  # force_destroy (storage.tf, dev/staging) empties the versioned bucket before DeleteBucket: ListObjectVersions is
  # authorised as s3:ListBucketVersions on the bucket, and deleting each version as s3:DeleteObject and
  # s3:DeleteObjectVersion on its objects (S3 API reference, ListObjectVersions and DeleteObjects). This bucket's
  # objects only, and none at all where the bucket is kept (prod), so a prod apply can never delete artifacts.
  dynamic "statement" {
    for_each = local.artifact_force_destroy ? [aws_s3_bucket.artifacts.arn] : []
    content {
      sid       = "EmptyArtifactBucketOnDestroy"
      effect    = "Allow"
      actions   = ["s3:ListBucketVersions"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.artifact_force_destroy ? [aws_s3_bucket.artifacts.arn] : []
    content {
      sid       = "DeleteArtifactVersionsOnDestroy"
      effect    = "Allow"
      actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
      resources = ["${statement.value}/*"]
    }
  }

  statement {
    sid    = "LogGroups"
    effect = "Allow"
    actions = [
      "logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy",
      "logs:DisassociateKmsKey", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:PutRetentionPolicy",
      "logs:TagLogGroup", "logs:TagResource", "logs:UntagLogGroup", "logs:UntagResource",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.prefix}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/apigateway/${local.prefix}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vpc/${local.prefix}-*",
    ]
  }

  statement {
    sid    = "DescribeLogGroupsInRegion"
    effect = "Allow"
    # DescribeLogGroups is authorised on the account/region's log-group space, not on one group.
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }

  statement {
    sid    = "AlarmsAndDashboard"
    effect = "Allow"
    actions = [
      "cloudwatch:DeleteAlarms", "cloudwatch:DeleteDashboards", "cloudwatch:DescribeAlarms",
      "cloudwatch:GetDashboard", "cloudwatch:ListTagsForResource", "cloudwatch:PutDashboard",
      "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource",
    ]
    resources = [
      "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.prefix}-*",
      "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${local.prefix}-*",
    ]
  }

  statement {
    sid    = "AlarmTopic"
    effect = "Allow"
    actions = [
      "sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:ListTagsForResource",
      "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource",
    ]
    resources = ["arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.prefix}-*"]
  }

  # KMS. The key itself is administered through its key policy (monitoring.tf, observability_key), not through
  # tag conditions here: tag-based authorisation can lag a new key's tags by up to five minutes, so the provider's
  # DescribeKey/EnableKeyRotation right after CreateKey would be denied (KMS guide, "ABAC for AWS KMS").
  statement {
    sid    = "CreateTaggedKeyNoResourceLevel"
    effect = "Allow"
    # kms:CreateKey has no resource ARN before the key exists ("*" is its only resource); the request must carry
    # this environment's default_tags and no other tag key.
    actions   = ["kms:CreateKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/environment"
      values   = [var.environment]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/project"
      values   = [var.project_name]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = keys(local.default_tags)
    }
  }

  # CreateKey with tags is also authorised as kms:TagResource, which must be granted in an IAM policy covering
  # every key of the account and region (the new key has no ARN or key policy yet; KMS guide, "Controlling
  # access to tags"). Same tag conditions as CreateKey: it can only ever write this environment's values of
  # these keys, and no statement here grants anything on the strength of a tag.
  statement {
    sid       = "TagOnCreateKeysOfRegion"
    effect    = "Allow"
    actions   = ["kms:TagResource"]
    resources = ["arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/environment"
      values   = [var.environment]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/project"
      values   = [var.project_name]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = keys(local.default_tags)
    }
  }

  statement {
    sid       = "OwnKeyAliases"
    effect    = "Allow"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias"]
    resources = ["arn:${local.partition}:kms:${local.region}:${local.account_id}:alias/${local.prefix}-*"]
  }

  statement {
    sid    = "KmsAliasesListNoResourceLevel"
    effect = "Allow"
    # kms:ListAliases has no resource-level control ("*" is its only resource); the provider reads aliases.
    actions   = ["kms:ListAliases"]
    resources = ["*"]
  }

  statement {
    sid    = "ContractParameter"
    effect = "Allow"
    actions = [
      "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameters",
      "ssm:ListTagsForResource", "ssm:PutParameter", "ssm:RemoveTagsFromResource",
    ]
    resources = [local.contract_parameter_arn]
  }

  statement {
    sid    = "DescribeParametersNoResourceLevel"
    effect = "Allow"
    # The provider reads a parameter's tier and description back with DescribeParameters (filtered by name);
    # the Service Authorization Reference lists no resource type for it, so "*" is its only resource. It returns
    # metadata (names, types, tiers), never values.
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  statement {
    sid       = "ApiGatewayAccountSetting"
    effect    = "Allow"
    actions   = ["apigateway:GET", "apigateway:PATCH"]
    resources = ["arn:${local.partition}:apigateway:${local.region}::/account"]
  }

  dynamic "statement" {
    for_each = var.terraform_state_bucket == null ? [] : [var.terraform_state_bucket]
    content {
      sid       = "StateObjects"
      effect    = "Allow"
      actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
      resources = ["arn:${local.partition}:s3:::${statement.value}/${var.project_name}/${var.environment}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.terraform_state_bucket == null ? [] : [var.terraform_state_bucket]
    content {
      sid       = "StateBucketList"
      effect    = "Allow"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${statement.value}"]
    }
  }
}

resource "aws_iam_role_policy" "infra_deployer_network" {
  name   = "network"
  role   = aws_iam_role.infra_deployer.id
  policy = data.aws_iam_policy_document.infra_deployer_network.json
}

resource "aws_iam_role_policy" "infra_deployer_services" {
  name   = "services"
  role   = aws_iam_role.infra_deployer.id
  policy = data.aws_iam_policy_document.infra_deployer_services.json
}

# ---------------------------------------------------------------------------------------------------------
# infra-planner: read-only `terraform plan` of pull requests (ci.yml's plan legs)
# ---------------------------------------------------------------------------------------------------------

# A pull request's plan runs that pull request's own code (its workflow, scripts/deploy.sh, this module), so it
# must never hold infra-deployer: anyone with write access could open one. This role trusts only pull request
# jobs of this repository that run in no GitHub environment (local.github_oidc_subjects); it can read
# configuration, and nothing else (no write at all, not even the state lock: its plans run with -lock=false).
resource "aws_iam_role" "infra_planner" {
  name                 = local.infra_planner_name
  description          = "GitHub Actions: read-only terraform plan of the ${local.prefix} infra layer for pull requests"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["planner"].json
  max_session_duration = 3600
}

# The second AWS managed policy of the module, on purpose: a plan refreshes every resource type of this module
# (VPC and EC2, DynamoDB, S3 bucket settings, KMS, IAM, Logs, CloudWatch, SNS, SQS, API Gateway), each through
# several Describe/Get/List calls that change with the provider version. An inline list of them cannot be verified
# offline (the emulator does not enforce IAM), and a plan that fails with AccessDenied on the first pull request
# is a broken product. ReadOnlyAccess changes no resource (a few of its calls start read jobs, e.g. drift
# detection), and AWS keeps it current with the services; what it grants beyond configuration (data) is denied
# again by the inline policy below.
resource "aws_iam_role_policy_attachment" "infra_planner_read_only" {
  role       = aws_iam_role.infra_planner.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

# Explicit denies win over ReadOnlyAccess's allows. Refresh reads configuration, never data, so these calls are
# denied on every resource ("*" takes away, it grants nothing): the account may hold other environments and
# applications. Reviewed against ReadOnlyAccess v190 (moto's copy; test_iam_policies.py pins its data grants).
data "aws_iam_policy_document" "infra_planner" {
  statement {
    sid    = "NoTableItemsOrStreamRecords"
    effect = "Deny"
    actions = [
      "dynamodb:BatchGetItem",           # items by key
      "dynamodb:GetItem",                # an item by key
      "dynamodb:PartiQLSelect",          # items through PartiQL
      "dynamodb:Query",                  # the items of a partition or an index
      "dynamodb:Scan",                   # every item
      "dynamodb:GetRecords",             # stream records: every write's old and new item images
      "dynamodb:GetShardIterator",       # the stream position GetRecords reads from
      "dynamodb:ReadDataForReplication", # global table replication reads of items
      "dynamodb:SearchVectors",          # vector search over items
      "dax:BatchGetItem", "dax:GetItem", # the same items through a DAX cluster (none here, but one may come)
      "dax:Query", "dax:Scan",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "NoQueueMessages"
    effect = "Deny"
    # The DLQ holds failed stream batches (item images); receiving also hides them from a redrive for the
    # visibility timeout.
    actions   = ["sqs:ReceiveMessage"]
    resources = ["*"]
  }

  statement {
    sid    = "NoLogEvents"
    effect = "Deny"
    # Function logs carry requests and item data (log_level DEBUG in dev).
    actions = [
      "logs:FilterLogEvents", # a group's events, by pattern
      "logs:GetLogEvents",    # a stream's events
      "logs:GetLogRecord",    # one event with all its fields
      "logs:GetLogObject",    # a large logged object a query result points to
      "logs:StartQuery",      # Logs Insights over groups
      "logs:GetQueryResults", # the results of any Logs Insights query of the account, by id
      "logs:StartLiveTail",   # events as they arrive
      "logs:ListAnomalies",   # anomalies carry sample log events
    ]
    resources = ["*"]
  }

  statement {
    sid    = "NoArtifactObjects"
    effect = "Deny"
    # The app layer's packages (code, packaged template). This bucket only: the state object must stay readable,
    # so S3 objects elsewhere remain readable (docs/ci-cd.md, "Known limits").
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid    = "NoFunctionOrLayerCode"
    effect = "Deny"
    # GetFunction and GetLayerVersion hand out a download URL of the same packages; this module manages no function.
    actions   = ["lambda:GetFunction", "lambda:GetLayerVersion"]
    resources = ["*"]
  }

  statement {
    sid    = "NoSecretOrParameterValues"
    effect = "Deny"
    # Values of secrets and parameters belong to no resource of this module (but one), whichever their name,
    # hence every resource but the contract.
    # ssm:GetParameter* is in ReadOnlyAccess, and SecureString values under the aws/ssm key decrypt for every
    # principal of the account allowed to call it (that key's policy trusts the account through SSM).
    # secretsmanager:*GetSecretValue is not in ReadOnlyAccess today; denied so that no later version can add it.
    actions = [
      "secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue",
      "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath",
    ]
    # Except this environment's contract (contract.tf): this module manages it, so the plan's refresh reads it,
    # and it holds names and ARNs the plan shows anyway.
    not_resources = [local.contract_parameter_arn]
  }

  # No Allow here, not even on the state lock object "<state key>.tflock": ci.yml's plans run
  # `deploy.sh <env> --plan`, which plans with -lock=false (scripts/deploylib/cli.py). A pull request's code can
  # therefore neither hold nor delete a deploy's lock, and a cancelled plan leaves no lock behind.
}

resource "aws_iam_role_policy" "infra_planner" {
  name   = "no-data-reads"
  role   = aws_iam_role.infra_planner.id
  policy = data.aws_iam_policy_document.infra_planner.json
}
