"""deploy.sh's logic: argument parsing, stage running and the Terraform outputs -> SAM parameters seam."""
