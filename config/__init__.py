"""Configuration: the YAML file admins edit, its models, secrets and the broker topology."""
