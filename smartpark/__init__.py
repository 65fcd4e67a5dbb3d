"""smartpark: the shared core every pipeline stage builds on; it imports no stage.

Modules:
  settings     Settings (env SMARTPARK_*): mqtt, influx, ingest, processing, alerts sections
  config       the strict model base and the YAML loader with located errors
  model        ids, kinds, the park scope, severities, dead-letter reasons, rollover band
  registry     park / enterprise / sensor YAML schema, load(), check(), resolve()
  targets      the targets a park may set, their variants and judged KPI columns (pure)
  carriers     every fuel and bought energy beside electricity and gas: kind, total, factor
  wire         every topic and payload contract between devices and stages (pure): readings,
               dead letters, KPI updates, alert topics
  windows      local windows (1m, 15m, 1h, 1d, 1mo) of a time zone (pure)
  cems         O2-corrected hourly means, validity, exceedances (pure; processing and alerts)
  store/       Store port; lineprotocol and influxql (pure); influx1 and influx2 adapters
  mqtt         paho 2.x: the Subscriber every consuming stage runs on (life cycle, manual
               ack), client construction (MQTT 5, persistent session), a bounded publisher
  httpserver   /metrics and /healthz, the same for every service
  commands     what every stage CLI shares (settings with overrides, options, signals)
  cli          the root command: mounts the stages' CLIs lazily, errors -> message + exit 1
  clock, log, errors
"""
