"""One router per resource; each route takes its scope from ``api.deps``.

Modules:
  registry     the park, its enterprises and their sensors
  readings     latest readings, series, dead letters
  kpis         KPI points and scorecards
  city         a city's parks side by side (city keys)
  evaluations  CEMS hours, completeness, quota, carbon budget, grades, the report export
  reports      the monthly, annual and greenhouse-gas reports (XLSX, PDF)
  alerts       alerts and acknowledgement
  stream       the live stream (Server-Sent Events, opened with a ticket)
  page         the enterprise page and its sign-in (session cookie)
"""

from fastapi import APIRouter

from api.routes import (
    alerts,
    city,
    evaluations,
    kpis,
    page,
    readings,
    registry,
    reports,
    stream,
)

#: The data routers, mounted under ``/v1``.
ROUTERS: tuple[APIRouter, ...] = (
    registry.router,
    readings.router,
    kpis.router,
    city.router,
    evaluations.router,
    reports.router,
    alerts.router,
    stream.router,
)
__all__ = ["ROUTERS", "page"]
