"""The local development stack: the only package that knows every stage.

Modules:
  servers  Mosquitto / InfluxDB / VictoriaMetrics started from their binaries on loopback
           (used by the demo, the test fixtures and the benchmarks)
  demo     ``smartpark demo``: local servers, every service through its CLI, the example
           park live and a summary of it all
  demo_feed  what the demo publishes (the example park, load surges, a bad message)
  scenario_check  ``smartpark scenario check``: a scenario through every service, checked
  cli      the ``demo`` and ``scenario check`` commands
"""
