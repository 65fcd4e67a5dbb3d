"""Benchmarks, one command each (``./dev bench NAME`` runs ``python -m bench.bench_NAME``):
bench_ingest, bench_simulate, bench_processing, bench_alerts, bench_api, bench_dashboards,
bench_gateway;
harness (the collector as its own process, shared by several). Named ``bench_*`` so that
none shadows the stage package it measures."""
