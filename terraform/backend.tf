# Partial configuration: the bucket, key and region come from backends/<env>.s3.tfbackend
#   terraform init -backend-config=backends/dev.s3.tfbackend
# The `local` environment and the emulator use local state (the emulator workspace overrides this block).
terraform {
  backend "s3" {}
}
