# Development: zero fixed network cost (no NAT; gateway endpoints only), short log retention, no PITR.
environment       = "dev"
github_repository = "tfsam-org/tfsam"

vpc_cidr           = "10.0.0.0/16"
az_count           = 2
enable_nat_gateway = false

enable_point_in_time_recovery = false
enable_deletion_protection    = false

log_retention_days = 7
log_level          = "DEBUG"
