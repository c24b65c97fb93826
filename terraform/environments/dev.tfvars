# Development: zero fixed network cost (no NAT; gateway endpoints only), short log retention, no PITR.
environment       = "dev"
github_repository = "tfsam-org/tfsam"
# The infra-deployer trusts GitHub environment dev-infra (infra team), the app-deployer dev: never one
# environment for both, or code running in an app job (any branch, for dev) could assume the infra role.
github_environments = {
  infra = "dev-infra"
  app   = "dev"
}

vpc_cidr           = "10.0.0.0/16"
az_count           = 2
enable_nat_gateway = false

enable_point_in_time_recovery = false
enable_deletion_protection    = false

log_retention_days = 7
log_level          = "DEBUG"
