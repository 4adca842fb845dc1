"""What `scan` prints: alerts as a table or JSON Lines, issues, progress and the summary."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO

from monitor.model import Alert, InputIssue
from monitor.model.alert import rfc3339
from monitor.offline.scan import ScanTotals

EXIT_OK = 0
EXIT_WARNINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3  # trailsentry itself failed on some input (a bug): never mistaken for input warnings

# A file with thousands of broken records gets a few lines, then a count.
ISSUE_LINES_PER_FILE = 5


def write_jsonl(alerts: list[Alert], out: IO[bytes]) -> None:
    for alert in alerts:
        out.write(alert.to_json() + b"\n")
    out.flush()


def _cell(value: str, width: int) -> str:
    value = "".join(ch if ch.isprintable() else "?" for ch in value)
    return value if len(value) <= width else value[: width - 1] + "…"


def format_table(alerts: list[Alert]) -> str:
    header = f"{'SEVERITY':<9} {'FIRST SEEN':<20} {'DETECTOR':<28} {'ACCOUNT':<12} {'COUNT':>5}  PRINCIPAL / SOURCE IP"
    rows = [header]
    for alert in alerts:
        who = f"{alert.principal} from {alert.source_ip}" if alert.source_ip else alert.principal
        account = alert.account_alias or alert.account
        rows.append(
            f"{alert.severity.label:<9} {rfc3339(alert.event_time)[:19] + 'Z':<20} "
            f"{_cell(alert.detector, 28):<28} {_cell(account, 12):<12} {alert.count:>5}  {_cell(who, 80)}"
        )
    return "\n".join(rows) + "\n"


class IssuePrinter:
    """One line per problem on stderr, capped per file, each naming the file and line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._per_origin: Counter[str] = Counter()

    def __call__(self, issue: InputIssue) -> None:
        shown = self._per_origin[issue.origin]
        self._per_origin[issue.origin] += 1
        if shown < ISSUE_LINES_PER_FILE:
            self.stream.write(f"warning: {_cell(str(issue), 400)}\n")
        elif shown == ISSUE_LINES_PER_FILE:
            self.stream.write(f"warning: {issue.origin}: more problems in this file; counted in the summary\n")


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: IO[str], enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self._last = 0.0

    def update(self, done: int, events: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and done < self.total):
            return
        self._last = now
        width = 30
        filled = int(width * done / self.total) if self.total else width
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} files, {events:,} events")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def format_summary(totals: ScanTotals, alerts: list[Alert], elapsed: float, detector_errors: Counter[str],
                   suppressed: Counter[str] | None = None) -> str:
    rate = totals.events / elapsed if elapsed > 0 else 0.0
    lines = [
        f"scanned {totals.files} file(s), {totals.bytes_read:,} bytes, {totals.events:,} events "
        f"in {elapsed:.2f}s ({rate:,.0f} events/s)",
    ]
    if totals.duplicates:
        lines.append(f"  duplicate events skipped: {totals.duplicates:,}")
    for reason, count in sorted(totals.skipped.items()):
        lines.append(f"  skipped ({reason}): {count:,}")
    if totals.issues:
        lines.append(f"  input warnings: {sum(totals.issues.values()):,} in {totals.files_with_issues} file(s)")
        for reason, count in sorted(totals.issues.items()):
            lines.append(f"    {reason}: {count:,}")
    for detector, count in sorted(detector_errors.items()):
        lines.append(f"  detector errors ({detector}): {count:,}")
    for detector, count in sorted((suppressed or Counter()).items()):
        if count:
            lines.append(f"  suppressed by config ({detector}): {count:,}")
    by_detector = Counter(alert.detector for alert in alerts)
    lines.append(f"alerts: {len(alerts)}")
    for detector, count in sorted(by_detector.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {detector}: {count}")
    return "\n".join(lines) + "\n"


def write_alerts(alerts: list[Alert], output_format: str | None, output: Path | None) -> None:
    """To stdout (a table on a terminal, else JSON Lines), or to `output` (JSON Lines unless asked for a table),
    which is replaced whole: a reader never sees half a result."""
    if output is None:
        chosen = output_format or ("table" if sys.stdout.isatty() else "jsonl")
        if chosen == "jsonl":
            write_jsonl(alerts, sys.stdout.buffer)
        else:
            sys.stdout.write(format_table(alerts))
            sys.stdout.flush()
        return
    try:
        handle = tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp",  # noqa: SIM115
                                             delete=False)
    except OSError as exc:
        raise UnwritableOutput(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with handle:
            if output_format == "table":
                handle.write(format_table(alerts).encode())
            else:
                write_jsonl(alerts, handle)
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # as a plain open() would have created it
        os.replace(handle.name, output)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        if isinstance(exc, OSError):
            raise UnwritableOutput(f"cannot write {output}: {exc.strerror or exc}") from None
        raise


class UnwritableOutput(OSError):
    """`--output` cannot be written (a usage error: nothing was replaced)."""


def scan_exit(totals: ScanTotals, strict: bool) -> int:
    if totals.internal_errors:
        print(f"error: trailsentry failed on {totals.internal_errors} input(s) (see the log above); "
              "their alerts are missing. Please report this.", file=sys.stderr)
        return EXIT_INTERNAL
    if strict and totals.issues:
        return EXIT_WARNINGS
    return EXIT_OK
