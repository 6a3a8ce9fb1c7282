"""Deployment tooling: the Helm chart's topology values and its offline validation."""
