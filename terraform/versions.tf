terraform {
  # The S3 backends lock with use_lockfile (S3-native locking, generally available in 1.11); with an older
  # Terraform, init stops here instead of failing on an unknown backend argument.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100 (the offline mirror); the range admits later 5.x and 6.x releases.
      version = ">= 5.80, < 7.0"
    }
  }
}
