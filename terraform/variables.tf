# Every input has a type, a description and a validation whose message says what is allowed, so a wrong
# value fails at plan time before any API call.

variable "project_name" {
  type        = string
  description = "Project name; the first part of every resource name (prefix = <project_name>-<environment>)."
  default     = "tfsam"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-20 characters of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  type        = string
  description = "Deployment environment: local (emulator), dev, staging or prod."

  validation {
    condition     = contains(["local", "dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: local, dev, staging, prod."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS region of every regional resource."
  default     = "ap-northeast-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as ap-northeast-1 or us-east-1."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC; public and private /24-style subnets are carved from it (8 extra bits)."
  default     = "10.0.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    )
    error_message = "vpc_cidr must be a network address in CIDR notation with a prefix length from /16 to /20 (e.g. 10.0.0.0/16)."
  }
}

variable "az_count" {
  type        = number
  description = "Number of availability zones for the public/private subnet pairs (2 or 3)."
  default     = 2

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "az_count must be 2 or 3."
  }
}

variable "enable_nat_gateway" {
  type        = bool
  description = "Create NAT gateway(s) so private subnets reach the internet. Off by default: the functions only need the DynamoDB and S3 gateway endpoints (see network.tf)."
  default     = false

  validation {
    condition     = var.enable_nat_gateway != null
    error_message = "enable_nat_gateway must be true or false."
  }
}

variable "enable_flow_logs" {
  type        = bool
  description = "Record the VPC's IP traffic (accepted and rejected) as flow logs in a KMS-encrypted log group kept for log_retention_days. Turn off only where their ingestion cost outweighs the audit trail."
  default     = true

  validation {
    condition     = var.enable_flow_logs != null
    error_message = "enable_flow_logs must be true or false."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "With enable_nat_gateway: one shared NAT gateway (cheaper) instead of one per AZ (zone-resilient)."
  default     = true

  validation {
    condition     = var.single_nat_gateway != null
    error_message = "single_nat_gateway must be true or false."
  }
}

variable "interface_endpoints" {
  type        = set(string)
  description = "Optional interface VPC endpoints (PrivateLink, billed per hour and AZ) for services the function code calls directly without NAT, e.g. [\"sqs\", \"xray\"]. Not needed by the current design (see network.tf)."
  default     = []

  validation {
    condition     = alltrue([for s in var.interface_endpoints : contains(["sqs", "xray", "logs", "sts", "kms", "sns", "lambda", "events"], s)])
    error_message = "interface_endpoints must only contain: sqs, xray, logs, sts, kms, sns, lambda, events."
  }
}

variable "enable_point_in_time_recovery" {
  type        = bool
  description = "Enable DynamoDB point-in-time recovery on the table (on in prod)."
  default     = false

  validation {
    condition     = var.enable_point_in_time_recovery != null
    error_message = "enable_point_in_time_recovery must be true or false."
  }
}

variable "enable_deletion_protection" {
  type        = bool
  description = "Enable DynamoDB deletion protection on the table (on in prod)."
  default     = false

  validation {
    condition     = var.enable_deletion_protection != null
    error_message = "enable_deletion_protection must be true or false."
  }
}

variable "processor_stream_arn" {
  type        = string
  description = "DynamoDB stream the processor consumes. null = this module's table stream; set it to consume a stream owned by another account (that account must grant this processor role in its stream resource policy)."
  default     = null

  validation {
    condition     = var.processor_stream_arn == null || can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}/stream/[0-9T:.-]+$", var.processor_stream_arn))
    error_message = "processor_stream_arn must be null or a DynamoDB stream ARN: arn:aws:dynamodb:<region>:<12-digit account>:table/<name>/stream/<label>."
  }
}

variable "stream_consumer_principals" {
  type        = list(string)
  description = "IAM role ARNs (usually in other accounts) allowed to read this table's stream, e.g. another account's Lambda execution role. Non-empty = a resource policy on the stream ARN."
  default     = []

  validation {
    condition     = alltrue([for p in var.stream_consumer_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", p))])
    error_message = "stream_consumer_principals must be a list of IAM role ARNs: arn:aws:iam::<12-digit account>:role/<name>."
  }

  validation {
    condition     = length(distinct(var.stream_consumer_principals)) == length(var.stream_consumer_principals)
    error_message = "stream_consumer_principals must not contain duplicates."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every log group this module owns (function logs, API access logs, VPC flow logs)."
  default     = 14

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "log_level" {
  type        = string
  description = "Log level passed to the functions (SAM parameter LogLevel)."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING"], var.log_level)
    error_message = "log_level must be DEBUG, INFO or WARNING."
  }
}

variable "lambda_architecture" {
  type        = string
  description = "Instruction set of the functions (SAM parameter LambdaArchitecture)."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "function_timeouts" {
  type        = map(number)
  description = "Timeout in seconds per function (keys api, processor, scheduled); the duration alarm fires at 80% of it. Must match the SAM template's Timeout values."
  default = {
    api       = 29
    processor = 60
    scheduled = 300
  }

  validation {
    condition     = toset(keys(var.function_timeouts)) == toset(["api", "processor", "scheduled"]) && alltrue([for t in values(var.function_timeouts) : t >= 1 && t <= 900 && floor(t) == t])
    error_message = "function_timeouts must have exactly the keys api, processor and scheduled, each a whole number of seconds from 1 to 900."
  }
}

variable "iterator_age_alarm_ms" {
  type        = number
  description = "Alarm when the processor's stream iterator age (maximum, milliseconds) exceeds this."
  default     = 60000

  validation {
    condition     = var.iterator_age_alarm_ms >= 1000 && var.iterator_age_alarm_ms <= 86400000
    error_message = "iterator_age_alarm_ms must be between 1000 (1 s) and 86400000 (24 h, the stream retention)."
  }
}

variable "dlq_message_retention_seconds" {
  type        = number
  description = "How long failed stream batches stay in the dead-letter queue (SQS maximum: 14 days)."
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "artifact_retention_days" {
  type        = number
  description = "Days after which SAM deployment artifacts (current versions) expire from the artifact bucket; noncurrent versions expire after 30 days."
  default     = 90

  validation {
    condition     = var.artifact_retention_days >= 7 && var.artifact_retention_days <= 3650 && floor(var.artifact_retention_days) == var.artifact_retention_days
    error_message = "artifact_retention_days must be a whole number of days from 7 to 3650."
  }
}

variable "enable_artifact_lifecycle" {
  type        = bool
  description = "Manage the artifact bucket's lifecycle rules. Always true on AWS; only the emulator tfvars turn it off (moto makes the provider wait ~55 s on it)."
  default     = true

  validation {
    condition     = var.enable_artifact_lifecycle != null
    error_message = "enable_artifact_lifecycle must be true or false."
  }
}

variable "manage_api_gateway_account" {
  type        = bool
  description = "Manage the region-wide API Gateway account setting (CloudWatch role needed for access logs). Set false when another stack in the account/region already manages it: there is one per region."
  default     = true

  validation {
    condition     = var.manage_api_gateway_account != null
    error_message = "manage_api_gateway_account must be true or false."
  }
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose Actions may assume the deploy roles."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name (letters, digits, '.', '_' and '-')."
  }
}

variable "github_oidc_subject_prefix" {
  type        = string
  description = "Prefix of the OIDC subject GitHub issues to this repository's jobs. null = \"repo:<github_repository>\", GitHub's format for repositories created before 2026-06-18 that did not opt in. Repositories created, renamed or transferred since then (or opted in) get immutable owner and repository ids in it, e.g. \"repo:octocat-123456/my-repo-456789\": set that (the repository's Actions OIDC settings preview it)."
  default     = null

  validation {
    condition     = var.github_oidc_subject_prefix == null || can(regex("^repo:[^:/*?]+/[^:/*?]+$", var.github_oidc_subject_prefix))
    error_message = "github_oidc_subject_prefix must be null or repo:<owner>/<repository> as GitHub writes it in the sub claim, without wildcards or a trailing ':...'."
  }
}

variable "github_environments" {
  type = object({
    infra = string
    app   = string
  })
  description = "GitHub Actions environment names whose jobs may assume infra-deployer and app-deployer (OIDC sub = repo:<repo>:environment:<name>). null = both use the environment name; give infra a separate protected environment to keep app jobs out of the infra role."
  default     = null

  validation {
    condition     = var.github_environments == null || alltrue([for n in try(values(var.github_environments), []) : can(regex("^[A-Za-z0-9_.-]{1,255}$", n))])
    error_message = "github_environments must be null or an object {infra, app} of GitHub environment names (letters, digits, '.', '_', '-')."
  }
}

variable "github_oidc_provider_arn" {
  type        = string
  description = "ARN of an existing GitHub Actions OIDC provider in the account. null = this module creates it (an account can hold only one per URL)."
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be null or arn:aws:iam::<12-digit account>:oidc-provider/token.actions.githubusercontent.com."
  }
}

variable "terraform_state_bucket" {
  type        = string
  description = "Name of the S3 bucket holding Terraform state (backends/*.s3.tfbackend); grants infra-deployer access to this environment's state key. null = no state statement."
  default     = null

  validation {
    condition     = var.terraform_state_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.terraform_state_bucket))
    error_message = "terraform_state_bucket must be null or a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')."
  }
}
