"""Detectors that correlate other detectors' alerts and signals (the engine carries them out)."""
