"""The embedded local cloud: moto server (``emulator``), its shims (``moto_shims``) and Terraform workspaces
pointed at it (``terraform_workspace``)."""
