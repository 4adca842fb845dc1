"""Built-in detectors: one module per detector, each defining `DETECTOR`.

Samples live beside each module as `<module>.samples.json`. Detectors import
only `monitor.model` and the standard library: no I/O, clock, or globals.
"""
