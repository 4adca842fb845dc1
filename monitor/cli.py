"""The `trailsentry` command line."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from monitor import __version__
from monitor.config import Config, ConfigError, load_config
from monitor.config.validate import run_errors, validate
from monitor.engine import Engine, RegistryError
from monitor.engine.suppressions_settings import warn_expired
from monitor.model import Detector, DistinctCount, InputIssue, Threshold
from monitor.offline.merge import BadLinePrinter, UnreadableInput, merge_files
from monitor.offline.report import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_WARNINGS,
    IssuePrinter,
    Progress,
    UnwritableOutput,
    format_summary,
    scan_exit,
    write_alerts,
)
from monitor.offline.samples import run_case, run_samples
from monitor.offline.scan import STDIN, Scanner, UnreadablePath, expand_paths
from monitor.rules.builtin import builtin_detectors
from monitor.rules.loader import assemble_detectors, kind_of
from monitor.workers.pool import default_workers

# Below this much input, worker processes cost more to start than they save.
_PARALLEL_MIN_BYTES = 16 * 1024 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"config error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except RegistryError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnwritableOutput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`trailsentry scan ... | head`): not an error; keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trailsentry", description="CloudTrail monitor and scanner.")
    parser.add_argument("--version", action="version", version=f"trailsentry {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    commands = parser.add_subparsers(metavar="COMMAND")

    scan = commands.add_parser(
        "scan", help="run the detectors over CloudTrail log files, or hunt in a trail's history in S3",
        description="Run the detectors over CloudTrail log files, or over a trail's history straight from S3 "
                    "(s3://BUCKET[/PREFIX], PREFIX being the trail's key prefix above AWSLogs/). A hunt lists only "
                    "the delivery-day folders of --since..--until for each account and region, and scans every "
                    "event of each object it selects: CloudTrail files an object under the day it was delivered, "
                    "so events a few minutes either side of the range can be included.")
    scan.add_argument("paths", nargs="+", metavar="PATH",
                      help="files or directories (recursive); '-' for stdin; or one s3://BUCKET[/PREFIX]")
    scan.add_argument("--format", choices=("table", "jsonl"), default=None,
                      help="alert output (default: table on a terminal, jsonl otherwise)")
    scan.add_argument("--config", type=Path, help="config file with detector settings")
    scan.add_argument("--strict", action="store_true", help="exit 1 when any input warning was reported")
    scan.add_argument("--detector", action="append", default=[], metavar="ID",
                      help="run only this detector (repeatable)")
    scan.add_argument("--max-decompressed-bytes", type=int, default=None, metavar="N",
                      help="refuse a one-document input (a delivery object, a JSON array) larger than N bytes "
                           "once decompressed (line-based input is read in slices, whatever its size)")
    scan.add_argument("--workers", type=int, default=None, metavar="N",
                      help="worker processes that decode and detect (default: one per core for large inputs); "
                           "the alerts are the same for any N")
    scan.add_argument("--signals", action="store_true",
                      help="also print signals: weak observations remembered for attack sequences, never sent")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    scan.add_argument("--output", type=Path, default=None, metavar="FILE",
                      help="write the alerts to FILE (replaced whole at the end) instead of stdout")
    hunt = scan.add_argument_group("hunting in S3 (s3://BUCKET[/PREFIX])")
    hunt.add_argument("--since", metavar="WHEN", help="UTC date or time to start at (default: 7 days before --until)")
    hunt.add_argument("--until", metavar="WHEN", help="UTC date or time to stop before (exclusive; default: now)")
    hunt.add_argument("--account", action="append", default=[], metavar="GLOB",
                      help="only these accounts (repeatable, globs like 1234*)")
    hunt.add_argument("--region", action="append", default=[], metavar="GLOB",
                      help="only these regions (repeatable, globs like eu-*)")
    hunt.add_argument("--org", action="store_true",
                      help="also read organization trails (AWSLogs/o-xxxx/ACCOUNT/...) besides account trails")
    hunt.add_argument("--concurrency", type=int, default=None, metavar="N",
                      help="downloads at once (default: 8 per core, at most 64)")
    hunt.add_argument("--role-arn", default=None, metavar="ARN",
                      help="assume this role to read the bucket (credentials: the standard AWS chain; "
                           "AWS_ENDPOINT_URL for an emulator)")
    hunt.add_argument("--state", type=Path, default=None, metavar="FILE",
                      help="resumable: keep progress, engine state and alerts in FILE; run the same command "
                           "again to continue after an interruption")
    hunt.add_argument("--dry-run", action="store_true",
                      help="list what would be read (objects, bytes, estimated time) without downloading")
    hunt.add_argument("--shard", default=None, metavar="I/N",
                      help="read only shard I of N (split by account and day), for N machines on one history")
    hunt.add_argument("--sink", action="append", default=[], metavar="NAME",
                      help="also send the alerts to this configured sink (repeatable), marked historical; "
                           "without it a hunt never notifies anyone")
    scan.set_defaults(handler=cmd_scan)

    merge = commands.add_parser("merge", help="combine the JSON Lines alerts of several scans (a sharded hunt's "
                                              "outputs) into one de-duplicated result")
    merge.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines alerts, as `scan --format jsonl` "
                                                                "writes them; '-' for stdin")
    merge.add_argument("--output", type=Path, default=None, metavar="PATH",
                       help="write the result here, whole or not at all (default: stdout)")
    merge.add_argument("--strict", action="store_true", help="exit 1 when any input line was not an alert")
    merge.set_defaults(handler=cmd_merge)

    explain = commands.add_parser(
        "explain", help="print one alert, an attack-sequence incident above all, as a readable timeline",
        description="Find one alert by its id (or a unique prefix of at least 4 characters) and print it: an "
                    "incident's header, timeline, linked identities, addresses, user agents, member alerts and "
                    "narrative; any other alert's fields and context. PATH may hold alerts (`scan --format jsonl`, "
                    "`merge` output, a file sink's JSON Lines) or CloudTrail logs, which are scanned as `scan` "
                    "scans them; each file is told apart by its content.")
    explain.add_argument("alert_id", metavar="ALERT_ID", help="the alert or incident id, or a unique prefix of it")
    explain.add_argument("--from", dest="paths", nargs="+", action="extend", required=True, metavar="PATH",
                         help="alert files, CloudTrail files or directories (recursive); '-' for stdin")
    explain.add_argument("--format", choices=("text", "json"), default="text",
                         help="text (default) or the alert's JSON object, one line")
    explain.add_argument("--config", type=Path, help="config file with detector settings (for CloudTrail input)")
    explain.set_defaults(handler=cmd_explain)

    detectors = commands.add_parser("detectors", help="list or test the detectors")
    detector_commands = detectors.add_subparsers(metavar="ACTION", required=True)
    listing = detector_commands.add_parser("list", help="print the detector catalog")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.add_argument("--config", type=Path)
    listing.set_defaults(handler=cmd_detectors_list)
    testing = detector_commands.add_parser("test", help="run every detector's sample events")
    testing.add_argument("--detector", action="append", default=[], metavar="ID")
    testing.add_argument("--config", type=Path, help="also test the samples inside the configured custom rules")
    testing.set_defaults(handler=cmd_detectors_test)

    config = commands.add_parser("config", help="validate or print a config file")
    config_commands = config.add_subparsers(metavar="ACTION", required=True)
    validate = config_commands.add_parser("validate", help="check a config file and report every error")
    validate.add_argument("file", type=Path)
    validate.set_defaults(handler=cmd_config_validate)
    example = config_commands.add_parser("example", help="print an example config")
    example.set_defaults(handler=cmd_config_example)

    run = commands.add_parser("run", help="run the live service: follow the configured sources, alert as events arrive")
    run.add_argument("--config", type=Path, required=True, help="the service config (see `config example`)")
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="the live service against an embedded AWS emulator with generated "
                                            "CloudTrail traffic (no AWS account needed; Ctrl-C stops it)")
    demo.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                      help="stop by itself after this long (default: run until Ctrl-C)")
    demo.add_argument("--speed", type=float, default=1.0, metavar="FACTOR",
                      help="play the traffic schedule this many times faster (default 1: every scenario within "
                           "the first minute)")
    demo.add_argument("--format", choices=("text", "jsonl"), default=None,
                      help="alert output (default: text on a terminal, jsonl otherwise)")
    demo.add_argument("--metrics-port", type=int, default=9108, metavar="PORT",
                      help="serve /metrics, /healthz and /readyz on 127.0.0.1:PORT (0: any free port)")
    demo.add_argument("--replicas", type=int, default=1, metavar="N",
                      help="run N replicas of the service (1-5) on the one queue, sharing their state in Redis: "
                           "--redis-url, else a redis-server the demo starts on loopback (default 1: local state)")
    demo.add_argument("--redis-url", default=None, metavar="URL",
                      help="the Redis or Valkey the replicas share (default: $TRAILSENTRY_REDIS_URL, else a "
                           "redis-server of the demo's own); never printed. The demo's keys are removed at the end")
    demo.add_argument("--seed", type=int, default=None, metavar="N",
                      help="draw the traffic from this seed: the same events (at other times) on every run")
    demo.add_argument("--offline", action="store_true",
                      help="no emulator: generate an example corpus and `scan` it instead")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _load(config_path: Path | None) -> Config:
    """The config (defaults without a file); each deprecated name in it is logged as a warning."""
    config = load_config(config_path) if config_path is not None else Config()
    for warning in config.warnings:
        logging.getLogger("trailsentry.config").warning("%s", warning)
    return config


def _detectors(config: Config, only: Sequence[str] = ()) -> list[Detector]:
    detectors, _ = assemble_detectors(config)
    if only:
        known = {d.id for d in detectors}
        missing = sorted(set(only) - known)
        if missing:
            raise RegistryError(f"unknown or disabled detector(s): {', '.join(missing)}")
        detectors = [d for d in detectors if d.id in set(only)]
    return detectors


def cmd_scan(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if any(path.startswith("s3://") for path in args.paths):
        from monitor.offline.hunt.command import HuntSettings, run_hunt

        return run_hunt(args, _detectors(config, args.detector),
                        HuntSettings(config.engine, config.decode, config.alerting))
    hunt_only = [flag for flag, value in (("--since", args.since), ("--until", args.until), ("--org", args.org),
                                          ("--account", args.account), ("--region", args.region),
                                          ("--state", args.state), ("--dry-run", args.dry_run),
                                          ("--shard", args.shard), ("--sink", args.sink),
                                          ("--concurrency", args.concurrency), ("--role-arn", args.role_arn))
                 if value]
    if hunt_only:
        print(f"error: {', '.join(hunt_only)}: only for a hunt in S3 (scan s3://BUCKET[/PREFIX])", file=sys.stderr)
        return EXIT_USAGE
    unlisted: list[InputIssue] = []
    try:
        paths = expand_paths(args.paths, unlisted)
    except UnreadablePath as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    engine = Engine(_detectors(config, args.detector), config.engine)
    warn_expired(config.engine.suppressions, time.time(), logging.getLogger("trailsentry.scan"))
    limits = config.decode
    if args.max_decompressed_bytes:
        limits = dataclasses.replace(limits, max_document_bytes=args.max_decompressed_bytes)
    printer = IssuePrinter(sys.stderr)
    scanner = Scanner(engine, limits=limits, workers=args.workers or _default_workers(paths), on_issue=printer,
                      signals=args.signals)
    scanner.report(unlisted)
    progress = Progress(len(paths), sys.stderr, enabled=sys.stderr.isatty() and not args.no_progress)
    started = time.perf_counter()
    result = scanner.scan(paths, progress.update)
    elapsed = time.perf_counter() - started
    progress.clear()
    write_alerts(result.alerts, args.format, args.output)
    sys.stderr.write(format_summary(result.totals, result.alerts, elapsed, engine.stats.detector_errors,
                                    engine.stats.suppressed))
    return scan_exit(result.totals, args.strict)


def _default_workers(paths: list[str]) -> int:
    """One per core for inputs worth it; small scans run in this process."""
    total = 0
    for path in paths:
        if path != STDIN:
            with contextlib.suppress(OSError):
                total += os.path.getsize(path)
    return default_workers() if len(paths) > 1 and total >= _PARALLEL_MIN_BYTES else 1


def cmd_merge(args: argparse.Namespace) -> int:
    """One alert per id, the most complete version (monitor/offline/merge.py), sorted as `scan` sorts."""
    try:
        merger = merge_files(args.files, BadLinePrinter(sys.stderr))
        write_alerts(merger.alerts(), "jsonl", args.output)
    except UnreadableInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stderr.write(merger.totals.summary())
    return EXIT_WARNINGS if args.strict and merger.totals.bad_lines else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from monitor.offline import explain

    def scanner(paths: list[str]) -> Scanner:
        config = _load(args.config)
        engine = Engine(_detectors(config), config.engine)
        return Scanner(engine, limits=config.decode, workers=_default_workers(paths), on_issue=IssuePrinter(sys.stderr))

    try:
        found = explain.find_alerts(args.paths, scanner, BadLinePrinter(sys.stderr))
        selected = explain.select(found, args.alert_id)
    except UnreadablePath as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except explain.Ambiguous as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except explain.NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WARNINGS
    if args.format == "json":
        if selected.prefix is not None:  # said on stderr: stdout stays one JSON object
            print(f"id prefix {selected.prefix} is alert {explain.clean(str(selected.data.get('id')), 64)}",
                  file=sys.stderr)
        sys.stdout.buffer.write(explain.render_json(selected.data))
        sys.stdout.flush()
    else:
        sys.stdout.write(explain.render_text(selected))
        sys.stdout.flush()
    return EXIT_OK


def cmd_detectors_list(args: argparse.Namespace) -> int:
    detectors, loaded = assemble_detectors(_load(args.config))
    if args.format == "json":
        catalog = [
            {
                "id": d.id,
                "kind": kind_of(d.id, loaded),
                "file": loaded.files.get(d.id),
                "title": d.title,
                "severity": d.severity.label,
                "mitre": list(d.mitre),
                "runbook": d.runbook,
                "events": sorted(f"{s}:{n}" for s, n in d.events),
                "all_events": d.all_events,
                "threshold": {"count": d.state.count, "window_seconds": d.state.window_seconds}
                if isinstance(d.state, Threshold) else None,
                "distinct": {"count": d.state.count, "window_seconds": d.state.window_seconds,
                             "of": d.state.label} if isinstance(d.state, DistinctCount) else None,
                "state": type(d.state).__name__ if d.state is not None else None,
                "episode_seconds": d.episode_seconds if d.group_by else None,
                "params": dict(d.params),
            }
            for d in detectors
        ]
        # default=str: a param built from a file (AWS's address ranges) is shown by what it holds.
        sys.stdout.buffer.write(orjson.dumps(catalog, option=orjson.OPT_INDENT_2, default=str) + b"\n")
        return EXIT_OK
    for d in detectors:
        scope = "all events" if d.all_events else f"{len(d.events)} event(s)"
        print(f"{d.id:<32} {d.severity.label:<9} {kind_of(d.id, loaded):<8} {','.join(d.mitre) or '-':<26} {scope:<13} "
              f"{d.title}")
    return EXIT_OK


def cmd_detectors_test(args: argparse.Namespace) -> int:
    # Samples run against detectors as written: config settings (severity overrides...) would change verdicts.
    _, loaded = assemble_detectors(_load(args.config))
    detectors = catalog = [*builtin_detectors(), *loaded.detectors]
    if args.detector:
        missing = sorted(set(args.detector) - {d.id for d in detectors})
        if missing:
            raise RegistryError(f"unknown detector(s): {', '.join(missing)}")
        detectors = [d for d in detectors if d.id in set(args.detector)]
    failures = 0
    total = 0
    for detector in detectors:
        if kind_of(detector.id, loaded) == "builtin":
            results = run_samples(detector, catalog)
        else:
            results = [run_case(detector, s.case) for s in loaded.samples if s.detector == detector.id]
        for result in results:
            total += 1
            if not result.passed:
                failures += 1
                print(f"FAIL {detector.id}: {result.name}: {'; '.join(result.problems)}")
    print(f"{total - failures} passed, {failures} failed")
    return EXIT_WARNINGS if failures else EXIT_OK


def cmd_config_validate(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    validate(config)
    for warning in config.warnings:
        print(f"config warning: {warning}", file=sys.stderr)
    print(f"{args.file}: valid")
    return EXIT_OK


def cmd_config_example(args: argparse.Namespace) -> int:
    from monitor.config.example import EXAMPLE_CONFIG

    sys.stdout.write(EXAMPLE_CONFIG)
    return EXIT_OK


def _alert_format(requested: str | None) -> str:
    return requested or ("text" if sys.stdout.isatty() else "jsonl")


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.app import App

    config = _load(args.config)
    validate(config)
    errors = run_errors(config.live)
    if errors:
        raise ConfigError(errors)
    app = App(config, serve_metrics=True)  # ConfigError (sinks, metrics) before anything is opened
    # Without -v, `run` still tells its lifecycle: start and stop, the metrics endpoint, sources' sessions.
    for name in ("trailsentry.app", "trailsentry.health", "trailsentry.sources"):
        logging.getLogger(name).setLevel(logging.INFO)
    return asyncio.run(app.run())


def cmd_demo(args: argparse.Namespace) -> int:
    if args.offline:
        return _scan_example_corpus(args)
    from monitor.demo.run import MAX_REPLICAS, DemoOptions, DemoUnavailable, run_demo

    if args.speed <= 0 or (args.duration is not None and args.duration <= 0):
        print("error: --speed and --duration must be positive", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.metrics_port <= 65535:
        print("error: --metrics-port must be 0-65535", file=sys.stderr)
        return EXIT_USAGE
    if not 1 <= args.replicas <= MAX_REPLICAS:
        print(f"error: --replicas must be 1-{MAX_REPLICAS}", file=sys.stderr)
        return EXIT_USAGE
    options = DemoOptions(duration=args.duration, speed=args.speed, text=_alert_format(args.format) == "text",
                          metrics_port=args.metrics_port, replicas=args.replicas, redis_url=args.redis_url,
                          seed=args.seed)
    try:
        return run_demo(options)
    except DemoUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _scan_example_corpus(args: argparse.Namespace) -> int:
    import tempfile

    from monitor.demo.objects import write_example_corpus

    with tempfile.TemporaryDirectory(prefix="trailsentry-demo-") as tmp:
        write_example_corpus(Path(tmp))
        print(f"scanning the example corpus written to {tmp}", file=sys.stderr)
        output = {"text": "table", "jsonl": "jsonl", None: None}[args.format]
        namespace = _parser().parse_args(["scan", *(["--format", output] if output else []), tmp])
        return cmd_scan(namespace)


if __name__ == "__main__":
    raise SystemExit(main())
