"""`trailsentry scan s3://BUCKET[/PREFIX] ...`: the hunt's command, from arguments to exit status."""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from monitor.alerts.settings import AlertingSettings
from monitor.aws.settings import AwsSettings
from monitor.decode import DecodeLimits
from monitor.engine import Engine, EngineSettings
from monitor.engine.state.embedded import EmbeddedStore
from monitor.model import Alert, Detector
from monitor.offline.hunt.deliver import deliver_now, unknown_sinks
from monitor.offline.hunt.fetch import Fetcher, HuntQuery, S3Failure
from monitor.offline.hunt.layout import HuntUsageError, S3Location, Selection, Shard, time_range
from monitor.offline.hunt.ledger import Ledger, OtherHunt
from monitor.offline.hunt.report import HuntBar, cross_account_detectors, dry_run_lines, hunt_lines
from monitor.offline.hunt.run import Hunt, query_fingerprint
from monitor.offline.report import EXIT_USAGE, IssuePrinter, format_summary, scan_exit, write_alerts
from monitor.offline.scan import Scanner
from monitor.workers.pool import default_workers

MAX_DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class HuntSettings:
    """What a hunt takes from the config file."""

    engine: EngineSettings
    decode: DecodeLimits
    alerting: AlertingSettings


def run_hunt(args: argparse.Namespace, detectors: list[Detector], settings: HuntSettings) -> int:
    try:
        query = hunt_query(args)
        concurrency = args.concurrency or min(MAX_DEFAULT_CONCURRENCY, 8 * default_workers())
        if concurrency < 1 or (args.workers is not None and args.workers < 1):
            raise HuntUsageError("--concurrency and --workers must be at least 1")
        missing = unknown_sinks(settings.alerting, args.sink)
        if missing:
            raise HuntUsageError(f"--sink {', '.join(missing)}: no such sink in the config")
    except HuntUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    aws = AwsSettings(region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                      role_arn=args.role_arn)
    try:
        store = EmbeddedStore(args.state, settings.engine.dedupe_capacity) if args.state is not None else None
    except (sqlite3.Error, OSError) as exc:
        print(f"error: --state {args.state}: cannot use it as a state file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        engine = Engine(detectors, settings.engine, store)
        workers = args.workers or default_workers()
        if args.dry_run:
            return _dry_run(query, aws, concurrency, workers, engine, store)
        scanner = Scanner(engine, limits=settings.decode, workers=workers, on_issue=IssuePrinter(sys.stderr))
        hunt = Hunt(engine, query, aws, scanner=scanner, concurrency=concurrency, state=args.state)
        bar = HuntBar(sys.stderr, enabled=sys.stderr.isatty() and not args.no_progress)
        started = time.perf_counter()
        try:
            result = hunt.run(bar)
        finally:
            bar.clear()
        elapsed = time.perf_counter() - started
    except (OtherHunt, sqlite3.Error) as exc:
        print(f"error: --state {args.state}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except S3Failure as exc:
        print(f"error: reading {query.location.url(query.location.prefix)}: {exc}", file=sys.stderr)
        if args.state is not None:
            print(f"progress is saved in {args.state}: run the same command again to continue", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.state is not None:
            print(f"interrupted: progress is saved in {args.state}; run the same command again to continue",
                  file=sys.stderr)
        raise
    finally:
        if store is not None:
            store.close()

    write_alerts(result.scan.alerts, args.format, args.output)
    summary = format_summary(result.scan.totals, result.scan.alerts, elapsed, engine.stats.detector_errors,
                             engine.stats.suppressed)
    lines = hunt_lines(result, query, cross_account_detectors(detectors))
    sys.stderr.write("\n".join(lines) + "\n" + summary)
    if args.sink:
        _deliver(result.scan.alerts, settings.alerting, args, query, detectors)
    return scan_exit(result.scan.totals, args.strict)


def hunt_query(args: argparse.Namespace) -> HuntQuery:
    """What the arguments ask to read; HuntUsageError says what is wrong with them."""
    if len(args.paths) != 1:
        raise HuntUsageError("a hunt reads one s3://BUCKET[/PREFIX] and nothing else")
    return HuntQuery(location=S3Location.parse(args.paths[0]),
                     window=time_range(args.since, args.until, datetime.now(UTC)),
                     selection=Selection(tuple(args.account), tuple(args.region)), organizations=args.org,
                     shard=Shard.parse(args.shard) if args.shard else Shard())


def _dry_run(query: HuntQuery, aws: AwsSettings, concurrency: int, workers: int, engine: Engine,
             store: EmbeddedStore | None) -> int:
    ledger = Ledger(store.database, query_fingerprint(query, [d.id for d in engine.detectors])) if store else None
    fetcher = Fetcher(query, aws, concurrency=concurrency, list_only=True,
                      skip=ledger.done if ledger is not None else lambda ref: False,
                      complete=ledger.complete if ledger is not None else lambda trail, day: False)
    fetcher.start()
    try:
        for _ in fetcher.items():
            pass
    except S3Failure as exc:
        print(f"error: reading {query.location.url(query.location.prefix)}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        fetcher.stop()
    print("\n".join(dry_run_lines(fetcher.listing, fetcher.counters.calls["ListObjectsV2"], workers)))
    return 0


def _deliver(alerts: list[Alert], settings: AlertingSettings, args: argparse.Namespace, query: HuntQuery,
             detectors: list[Detector]) -> None:
    fingerprint = orjson.dumps(query_fingerprint(query, [d.id for d in detectors]), option=orjson.OPT_SORT_KEYS)
    receipt = "hunt:" + hashlib.sha256(fingerprint).hexdigest()[:32]
    if args.state is not None:
        stats = deliver_now(alerts, settings, args.sink, args.state.with_name(args.state.name + ".outbox"), receipt)
    else:
        with tempfile.TemporaryDirectory(prefix="trailsentry-hunt-") as folder:
            stats = deliver_now(alerts, settings, args.sink, Path(folder) / "outbox.sqlite", receipt)
    for name, sink in sorted(stats.sinks.items()):
        left = f", {sink.pending} not delivered (kept in the outbox)" if sink.pending else ""
        print(f"sink {name}: {sink.sent} alert message(s) sent{left}", file=sys.stderr)

