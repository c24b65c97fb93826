# Staging: production-like data protection, single NAT gateway for outbound tests, moderate retention.
environment       = "staging"
github_repository = "tfsam-org/tfsam"

vpc_cidr           = "10.1.0.0/16"
az_count           = 2
enable_nat_gateway = true
single_nat_gateway = true

enable_point_in_time_recovery = true
enable_deletion_protection    = true

log_retention_days = 30
log_level          = "INFO"
