"""Offline work over log files, with the same decode and engine as the live service.

- `scan.py`: `trailsentry scan` (files, folders, stdin), in event-time order;
- `report.py`: its output: the alert table or JSON Lines, warnings, the summary;
- `samples.py`: the sample events beside each detector, run as `detectors test`.
"""
