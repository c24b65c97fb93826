# The real-AWS provider. Emulator runs add a generated emulator_override.tf next to a symlinked copy of these
# files (scripts/localcloud/terraform_workspace.py); nothing emulator-specific is ever committed here.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.default_tags
  }
}
