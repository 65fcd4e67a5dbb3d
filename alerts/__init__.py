"""The alert service: rules over readings and KPI updates, alert lifecycle, channels.

Modules:
  rules      rule and channel configuration (YAML schema, validated with located errors)
  conditions Condition, the Evaluator base and its registry by rule type (pure)
  evaluators threshold, rate of change, counter reset, no data (pure)
  cems_evaluator  CEMS hourly means over the stack's limits, as the hourly job judges (pure)
  kpi_evaluators  quota and carbon-budget forecasts, KPI targets month to date (pure)
  engine     routes readings, KPI updates and ticks to the evaluators; conditions out (pure)
  lifecycle  firing -> acknowledged -> resolved, reminders, escalation, silences, flap damping
  channels   webhook (HMAC), WeCom / DingTalk robots, e-mail; one retrying worker per channel
  service    MQTT in, engine and lifecycle, notices to the outbox (smartpark.alertstore),
             health and metrics
  app        builds the service from Settings and checks what it would refuse
  cli        ``smartpark alerts run | check | list | ack``
"""
