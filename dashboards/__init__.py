"""Grafana provisioning generated from code (not built yet)."""
