terraform {
  # Validations only reference their own variable, so 1.5 suffices (cross-variable validation needs 1.9).
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100 (the offline mirror); the range admits later 5.x and 6.x releases.
      version = ">= 5.80, < 7.0"
    }
  }
}
