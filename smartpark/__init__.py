"""smartpark: the shared core every pipeline stage builds on; it imports no stage.

Modules:
  settings     Settings (env SMARTPARK_*): park, mqtt, influx, ingest, processing, alerts,
               api, dashboards sections
  config       the strict model base and the YAML loader with located errors
  model        ids, kinds, the park scope, severities, dead-letter reasons, rollover band,
               the rated-rate limit
  registry     park / enterprise / sensor YAML schema, load(), check(), resolve()
  sensorspec   sensor kinds (core and carriers), their fields, a sensor's spec (schema)
  targets      the targets a park may set, their variants and judged KPI columns (pure)
  carriers     every fuel and bought energy beside electricity and gas: kind, total, factor
  parks        which park a stage serves: one rule for every stage (pure)
  products     单位产品能耗: an enterprise's product and its declared limit levels (schema)
  gatewayspec  the registry's edge gateways: sensors served, Modbus maps, HJ 212 (schema)
  mapspec      uplink mappings of vendor gateways' JSON (schema); mapping applies them (pure)
  wire         every topic and payload contract between devices and stages (pure): readings,
               dead letters, KPI updates (figures and method tags apart), classify(topic)
  alertwire    the alerts' messages (pure): public shape, notice, acknowledgement request
  schema       every stored measurement: tags, fields with units and meaning (pure)
  factorset    factor sets (factors/*.yaml and the user's files) merged entry by entry;
               the one a processing configuration chooses (processing and the API)
  limits       monthly quotas and carbon budgets, the month-end forecast (pure)
  windows      local windows (1m, 15m, 1h, 1d, 1mo) of a time zone and their lengths (pure)
  cems         O2-corrected hourly means, validity, exceedances (pure; processing and alerts)
  alertstore   alert state, history and the delivery outbox in SQLite (alerts writes, api reads)
  store/       Store port; lineprotocol and influxql (pure); influx1 and influx2 adapters
  mqtt         paho 2.x: the Subscriber every consuming stage runs on (life cycle, manual
               ack), client construction (MQTT 5, persistent session), a bounded publisher
  httpserver   /metrics and /healthz, the same for every service
  durable      atomic file replacement
  spool        a bounded on-disk FIFO of line-protocol batches while the store is down
  commands     what every stage CLI shares (settings with overrides, options, signals)
  cli          the root command: mounts the stages' CLIs lazily, errors -> message + exit 1
  clock, log, errors
"""
