"""Console and file sinks: one alert JSON object per line, flushed per alert.

With no sinks configured, alerts go to stdout this way (the embedded
default), the same lines `trailsentry scan --format jsonl` prints.
"""

from __future__ import annotations

import contextlib
import sys
from typing import BinaryIO, TextIO

from monitor.alerts.base import DeliveryError, Notice
from monitor.alerts.sink_settings import SinkSettings


class ConsoleSink:
    def __init__(self, settings: SinkSettings, path: str | None = None, stream: TextIO | None = None) -> None:
        self.name = settings.name
        self.kind = "file" if path else "console"
        self._path = path
        self._stream = stream
        self._file: BinaryIO | None = None

    def __repr__(self) -> str:
        return f"ConsoleSink(name={self.name!r}, path={self._path or 'stdout'!r})"

    async def start(self) -> None:
        return None

    async def send(self, notice: Notice) -> None:
        self.write(notice.body + b"\n")

    def write(self, line: bytes) -> None:
        # Local writes are short; doing them on the loop keeps "flushed when delivered" simple.
        try:
            if self._path is None:
                stream = self._stream or sys.stdout
                stream.write(line.decode("utf-8"))
                stream.flush()
                return
            if self._file is None:
                self._file = open(self._path, "ab")  # noqa: SIM115 - open across alerts
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self._drop_file()
            raise DeliveryError("io", f"cannot write: {exc.strerror}") from None

    def _drop_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    async def close(self) -> None:
        self._drop_file()
