"""The API service: registry, latest readings, KPI series and scorecards, evaluations,
alerts (list, acknowledge), a live stream and exports; per-key scope checked in one place.

Modules:
  keys          API keys (SHA-256 of 256-bit secrets) and the audit log, in SQLite
  deps          the guard every route uses (401 / 404 / 429), id and period validation
  reads         typed InfluxQL reads, bounded
  stream        MQTT -> Server-Sent Events hub with tickets and a replay buffer
  export        daily energy and carbon reports as CSV (BOM) or Parquet (pure)
  services      what the routes share; the caller dependency
  data_routes   registry, readings, KPIs, scorecards, CEMS, completeness, quota, grades, report
  alert_routes  alerts, acknowledgement (through the alert service), the live stream
  app           create_app(settings): the FastAPI app, /healthz and /metrics
  cli           ``smartpark api run`` and ``smartpark api keys create | list | revoke``
"""
