data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first var.az_count zone names are used (locals.azs), so a zone AWS adds later does not widen the set; pinning zone ids would make the module region-specific.
  state = "available"
}

# Every name of the layer contract (team brief) is computed here, once.
locals {
  prefix     = "${var.project_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region

  default_tags = {
    project     = var.project_name
    environment = var.environment
    managed-by  = "terraform"
    owner-layer = "infra"
  }

  table_name            = "${local.prefix}-data"
  dlq_name              = "${local.prefix}-processor-dlq"
  alarm_topic_name      = "${local.prefix}-alarms"
  app_stack_name        = "${local.prefix}-app"
  layer_name            = "${local.prefix}-common"
  api_name              = "${local.prefix}-api" # the RestApi name SAM derives from NamePrefix (API 5XX alarm)
  artifact_bucket_name  = "${local.prefix}-sam-artifacts-${local.account_id}"
  api_access_log_group  = "/aws/apigateway/${local.prefix}-api-access"
  flow_log_group        = "/aws/vpc/${local.prefix}-flow-logs"
  flow_logs_role        = "${local.prefix}-vpc-flow-logs"
  dashboard_name        = "${local.prefix}-overview"
  infra_deployer_name   = "${local.prefix}-infra-deployer"
  infra_planner_name    = "${local.prefix}-infra-planner" # read-only, for ci.yml's pull request plans
  app_deployer_name     = "${local.prefix}-app-deployer"
  apigw_cloudwatch_role = "${local.prefix}-apigw-cloudwatch"

  # One execution role per function; the map key is the short name used in variables (function_timeouts).
  functions = {
    for key in ["api", "processor", "scheduled"] : key => {
      name      = "${local.prefix}-${key}"
      role_name = "${local.prefix}-${key}-role"
      log_group = "/aws/lambda/${local.prefix}-${key}"
      timeout   = var.function_timeouts[key]
    }
  }

  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  # Subnets keyed by AZ (not list index) so changing az_count never renumbers existing subnets.
  public_subnet_cidrs  = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, i) }
  private_subnet_cidrs = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 10 + i) }
  # NAT placement: none, one in the first AZ, or one per AZ. Private route tables pick theirs from this map.
  nat_azs = var.enable_nat_gateway ? (var.single_nat_gateway ? [local.azs[0]] : local.azs) : []

  table_index_names    = ["EntityTypeIndex", "GSI1"]
  processor_stream_arn = coalesce(var.processor_stream_arn, aws_dynamodb_table.this.stream_arn)

  # The state key of backends/<env>.s3.tfbackend (tests/reliability/test_iam_policies.py checks they agree);
  # use_lockfile locks it by creating the object "<key>.tflock" next to it.
  terraform_state_key = "${var.project_name}/${var.environment}/terraform.tfstate"

  github_environments = coalesce(var.github_environments, { infra = var.environment, app = var.environment })
  # The one GitHub OIDC subject (token.actions.githubusercontent.com:sub) each CI role trusts, exactly, no wildcard:
  # the deployers a job of this repository in their GitHub environment (its protection rules decide who deploys),
  # the planner a job that runs for a pull request of this repository in NO environment (GitHub's subject for
  # those; fork pull requests get no token).
  # GitHub writes the repository either by name or, for repositories created or renamed since 2026-06-18, with
  # immutable owner and repository ids (var.github_oidc_subject_prefix).
  github_oidc_subject_prefix = coalesce(var.github_oidc_subject_prefix, "repo:${var.github_repository}")
  github_oidc_subjects = {
    infra = {
      sid = "GitHubActionsEnvironment"
      sub = "${local.github_oidc_subject_prefix}:environment:${local.github_environments.infra}"
    }
    app = {
      sid = "GitHubActionsEnvironment"
      sub = "${local.github_oidc_subject_prefix}:environment:${local.github_environments.app}"
    }
    planner = {
      sid = "GitHubActionsPullRequest"
      sub = "${local.github_oidc_subject_prefix}:pull_request"
    }
  }
  github_oidc_provider_arn = (
    var.github_oidc_provider_arn != null ? var.github_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
  )
}
