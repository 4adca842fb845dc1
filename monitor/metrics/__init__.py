"""Metrics and health: what the platform scrapes and probes.

- `catalogue.py`: every metric's name, kind, help and labels;
- `collector.py`: `Telemetry`, which reads the stages' plain counters at scrape time;
- `histogram.py`: the per-source lag histograms observed once per batch;
- `server.py`: the HTTP endpoints /metrics, /healthz and /readyz;
- `settings.py`: the `metrics:` config section.

Nothing is imported here, so reading the config does not load prometheus_client.
"""
