# Production: 3 AZs with a NAT gateway per AZ (no cross-zone dependency), PITR and deletion protection on,
# long retention, and a separate protected GitHub environment for infrastructure changes.
environment       = "prod"
github_repository = "tfsam-org/tfsam"
github_environments = {
  infra = "prod-infra"
  app   = "prod"
}

vpc_cidr           = "10.2.0.0/16"
az_count           = 3
enable_nat_gateway = true
single_nat_gateway = false

enable_point_in_time_recovery = true
enable_deletion_protection    = true

log_retention_days = 90
log_level          = "INFO"
