"""Detection in worker processes: decode and detect in parallel, findings back in input order."""

from monitor.workers.pool import DetectionPool, Job, WorkerFailed, detect_locally

__all__ = ["DetectionPool", "Job", "WorkerFailed", "detect_locally"]
