terraform {
  # The S3 backends lock with use_lockfile (S3-native locking, generally available in 1.11); with an older
  # Terraform, init stops here instead of failing on an unknown backend argument.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100 (the offline mirror). No lock file is committed (the offline mirror cannot hash
      # other platforms' packages), so the range stays on the tested major: a first init never gets 6.x.
      version = ">= 5.100, < 6.0"
    }
  }
}
