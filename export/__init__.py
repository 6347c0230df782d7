"""Deployment target profiles (one TOML file per target); installed as dsl_deploy.profiles."""
