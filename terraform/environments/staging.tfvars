# Staging: production-like data protection, single NAT gateway for outbound tests, moderate retention.
environment       = "staging"
github_repository = "tfsam-org/tfsam"
# The infra-deployer trusts GitHub environment staging-infra (infra team), the app-deployer staging: never one
# environment for both, or code running in an app job (any branch, for dev) could assume the infra role.
github_environments = {
  infra = "staging-infra"
  app   = "staging"
}

vpc_cidr           = "10.1.0.0/16"
az_count           = 2
enable_nat_gateway = true
single_nat_gateway = true

enable_point_in_time_recovery = true
enable_deletion_protection    = true

log_retention_days = 30
log_level          = "INFO"
