"""smartpark: the shared core every pipeline stage builds on.

Modules:
  settings     Settings (env SMARTPARK_*), nested mqtt / influx / ingest sections
  model        ids, kinds, dead-letter reasons, the Reading value
  registry     park / enterprise / sensor YAML schema, load(), check(), resolve()
  wire         topic grammar and payload decoding -> readings | problems (pure)
  store/       Store port; lineprotocol and influxql (pure); influx1 and influx2 adapters
  mqtt         paho 2.x client construction (MQTT 5, persistent session) and a bounded publisher
  localstack   Mosquitto / InfluxDB / VictoriaMetrics started from their binaries on loopback
  httpserver   /metrics and /healthz endpoint
  clock, log, errors, cli
"""
