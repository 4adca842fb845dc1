"""Sources to alerts, and nothing acknowledged before it is durable (see core.py)."""

from monitor.pipeline.core import Pipeline
from monitor.pipeline.quarantine import QUARANTINE_DETECTOR
from monitor.pipeline.stats import BatchObserver, PipelineStats, SourceCounters
from monitor.pipeline.tasks import printable, run_to_completion

__all__ = ["QUARANTINE_DETECTOR", "BatchObserver", "Pipeline", "PipelineStats", "SourceCounters", "printable",
           "run_to_completion"]
