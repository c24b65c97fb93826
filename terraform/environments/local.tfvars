# Embedded emulator (moto on loopback) — applied by tests/infra and the local cloud through a generated
# provider override (scripts/localcloud/terraform_workspace.py). Mirrors dev except for what the emulator
# cannot do well; those local-only switches are:
#   enable_artifact_lifecycle = false  (moto makes the provider wait ~55 s for lifecycle consistency)
# Never copy these switches into dev/staging/prod.
environment       = "local"
github_repository = "tfsam-org/tfsam"

vpc_cidr           = "10.10.0.0/16"
az_count           = 2
enable_nat_gateway = false

enable_point_in_time_recovery = true # exercised here so the emulator test reads PITR back
enable_deletion_protection    = false

log_retention_days  = 1
log_level           = "DEBUG"
lambda_architecture = "arm64"

# A fictitious consumer in another account, so the stream resource policy (seed 000) is applied and read back.
stream_consumer_principals = ["arn:aws:iam::210987654321:role/tfsam-analytics-consumer"]

enable_artifact_lifecycle = false
