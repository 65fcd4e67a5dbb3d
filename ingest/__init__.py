"""MQTT collectors: subscribe, validate against the registry, batch, store at least once.

Modules:
  collector   Collector: MQTT 5 persistent session, manual acks, writer thread
  batcher     batches sealed by size or age
  spool       bounded on-disk FIFO used while the store is down
  stats       counters and their Prometheus export
  app         builds the collector from Settings
  cli         ``smartpark collect`` and ``smartpark config check``
(Dead-letter topics and bodies are part of the wire contract: ``smartpark.wire``.)
"""
