"""Benchmarks: corpus builder and throughput measurements (run with `make bench`)."""
