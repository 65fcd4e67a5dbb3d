"""Stream processing: energy, carbon and near-zero-carbon KPIs.

Modules:
  config   processing configuration, resolved to Coefficients
  meters   counters to interval use, gauge means, local windows (pure)
  kpis     energy, CO2, shares, intensities, targets over window totals (pure)
  engine   readings -> use -> enterprise and park totals -> KPIs per window (pure)
  quota    quota and carbon-budget burn-down (pure; the forecast: smartpark.limits)
  muju     mu-average (亩均) scores and grades (pure)
  output   KPI rows and evaluations to points (smartpark.schema), KPI rows to MQTT (pure)
  reads    typed reads of the store: counter readings, CEMS minutes, counts, stored KPIs
  journal  the processor's durable readings journal and written-windows progress
  windowbook  open, dirty and written windows per size (pure)
  stats    the processor's counters
  buffer   the stream's buffer: a window's readings, pruning (pure)
  emit     writes KPI windows, then publishes them with their revisions
  recovery what a restart recomputes, from the journal and the store
  stream   the stream processor: MQTT in, InfluxDB and MQTT out
  status   the stream's /healthz facts and /metrics gauges (the ledger's backlog too)
  ledger   the ledger of dirty windows: event-time spans, merged, taken a day at a time (pure)
  catchup  the catch-up job: recomputes the ledger's windows from the store, rate-limited
  jobs     roll-ups and evaluations recomputed from the store (idempotent)
  periods  which jobs a closed period runs (the scheduler and ``jobs run``)
  schedule the jobs on APScheduler in the park's time zone, retried with back-off
  app      builds the stage from Settings (stream, schedule, /metrics and /healthz)
  cli      ``smartpark process`` and ``smartpark rollup``
(CEMS hourly means live in the core, ``smartpark.cems``: alerts use them too.)
"""
