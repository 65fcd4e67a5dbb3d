"""MQTT collectors: subscribe, validate against the registry, batch, store at least once.

Modules:
  collector   Collector: MQTT 5 shared subscription, manual acks, writer thread
  batcher     batches sealed by size or age
  spool       bounded on-disk FIFO used while the store is down
  deadletter  dead-letter topic and body (pure)
  stats       counters and their Prometheus export
"""
