"""Monitoring as code: Prometheus rules and config, the Grafana dashboard, a local Prometheus."""
