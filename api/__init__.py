"""FastAPI service: registry, latest values, KPIs, alerts (not built yet)."""
