"""Park feed generators, recorded-feed replay and fault injection.

Modules:
  scenario   scenario YAML schema (period, seed, faults, PV, CEMS episodes, load changes)
  profiles   load shapes by load class, shifts and calendars (pure)
  solar      sun position and clear-sky PV (pure)
  park       the park model: readings of every sensor, reading faults (pure)
  messages   readings to MQTT messages, message faults (pure)
  stream     the park model as a stream of frames
  recording  recording file formats (JSON Lines, CSV, Parquet)
  player     pacing at N x speed
  recorder   MQTT stream to a recording
  run        the CLI modes: generate, backfill, live, replay, record
  feed       a plain registry-driven feed; publisher: at a fixed rate
  cli        ``smartpark simulate ...``, ``smartpark replay``, ``smartpark record``
"""
