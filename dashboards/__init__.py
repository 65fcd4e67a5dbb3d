"""Grafana dashboards as code, provisioned the way Grafana users expect.

Modules:
  queries  InfluxQL from safe parts (roll-ups of smartpark.schema only), the InfluxDB dataquery
  units    each column's schema unit as Grafana's, overrides where a panel's units differ
  layout   panel placement (no overlaps), thresholds, titles in English and Chinese
  boards   the five dashboards (grafana-foundation-sdk)
  build    the dashboards' JSON and the provisioning YAML (deploy/grafana)
  expand   Grafana's expansion of panel queries, to run them outside Grafana
  push     upsert folder, datasources and dashboards through the Grafana HTTP API
  cli      ``smartpark dashboards build | push``
"""
