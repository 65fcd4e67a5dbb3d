"""The local development stack: the only package that knows every stage.

Modules:
  servers  Mosquitto / InfluxDB / VictoriaMetrics started from their binaries on loopback
           (used by the demo, the test fixtures and the benchmarks)
  demo     ``smartpark demo``: local servers, every service through its CLI, the example
           park's history then live, and a summary of it all
  demo_feed      what the demo publishes (history, live feed, surges, bad messages) and
                 the rules it trips
  demo_history   the history through the collector and processor, then the jobs it missed
  demo_services  the processor, alert service and API the demo starts, with demo keys
  scenario_check  ``smartpark scenario check``: a scenario through every service, checked
  cli      the ``demo`` and ``scenario check`` commands
"""
