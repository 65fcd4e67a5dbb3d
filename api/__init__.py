"""The API service: registry, latest readings, KPI series and scorecards, evaluations,
alerts (list, acknowledge), a live stream and exports; who sees what written once.

Modules:
  keys      API keys (SHA-256 of 256-bit secrets), browser sessions and the audit log
  guard     who is asking (key or session cookie, CSRF), rate limits (401 / 403 / 429)
  scope     the visibility rule and the checked scopes every read takes (404 otherwise)
  deps      the dependencies routes take: services, caller, park / enterprise / subject scope
  params    ids, times with an offset within the store's range, bounded periods (422)
  reads     typed InfluxQL reads and the alert store's, each taking a scope
  stream    MQTT -> Server-Sent Events hub, replay buffer (tickets: api.keys)
  export    daily energy and carbon reports as CSV (BOM) or Parquet (pure)
  services  what the routes share
  routes/   one router per resource: registry, readings, kpis, evaluations, alerts,
            stream, page (the enterprise page and its sign-in)
  app       create_app(settings): the FastAPI app, /healthz and /metrics
  cli       ``smartpark api run`` and ``smartpark api keys create | list | revoke``
"""
