"""A trail's history in moto's S3 (real HTTP), and a proxy in front of it that throttles like S3 does."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiobotocore.session import get_session

from monitor.demo.objects import write_example_corpus
from tests.aws_emulator import Emulator

BUCKET = "org-trail-history"
PREFIX = "trails/main"


@dataclass(frozen=True)
class History:
    """The example corpus's S3 objects, on disk (`logs`, the AWSLogs folder) and in the bucket."""

    root: Path
    keys: tuple[str, ...]

    @property
    def logs(self) -> Path:
        return self.root / "AWSLogs"

    def url(self, prefix: str = PREFIX) -> str:
        return f"s3://{BUCKET}/{prefix}"


async def upload(aws: Emulator, files: dict[str, bytes], bucket: str = BUCKET) -> None:
    async with get_session().create_client("s3", region_name=aws.region, endpoint_url=aws.endpoint_url) as s3:
        await s3.create_bucket(Bucket=bucket)
        limit = asyncio.Semaphore(32)

        async def put(key: str, body: bytes) -> None:
            async with limit:
                await s3.put_object(Bucket=bucket, Key=key, Body=body)

        await asyncio.gather(*(put(key, body) for key, body in files.items()))


def corpus_files(root: Path, prefix: str = PREFIX) -> dict[str, bytes]:
    """Key -> bytes of every file under AWSLogs/ (digests and Insight files included)."""
    files = {}
    for path in sorted((root / "AWSLogs").rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            files[f"{prefix}/{relative}" if prefix else relative] = path.read_bytes()
    return files


@pytest.fixture(scope="session")
def example_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("history")
    write_example_corpus(root)
    return root, corpus_files(root)


@pytest.fixture
def history(aws: Emulator, example_history: tuple[Path, dict[str, bytes]],
            monkeypatch: pytest.MonkeyPatch) -> History:
    """The example day of an organization trail (2 accounts, 2 regions, digests, Insight) in the bucket."""
    root, files = example_history
    asyncio.run(upload(aws, files))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    monkeypatch.setenv("AWS_REGION", aws.region)
    return History(root, tuple(files))


class ThrottlingProxy:
    """Forwards to the emulator, answering every `every`-th request with S3's 503 SlowDown instead (none with
    0), and notes the access key ids that signed the requests and how many were downloads."""

    def __init__(self, target: str, every: int) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.throttled = 0
        self.signed_by: set[str] = set()
        self.downloads = 0  # GetObject requests (the rest are listings)
        counter = itertools.count(1)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                signer = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
                if signer:
                    proxy.signed_by.add(signer[1])
                if "list-type=" not in self.path:
                    proxy.downloads += 1
                if every and next(counter) % every == 0:
                    proxy.throttled += 1
                    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                            b"<Message>Please reduce your request rate.</Message></Error>")
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                upstream = http.client.HTTPConnection(host, int(port), timeout=30)
                upstream.request("GET", self.path, headers=dict(self.headers))
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def throttling(history: History, aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThrottlingProxy]:
    with ThrottlingProxy(aws.endpoint_url, every=3) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


@pytest.fixture
def watching(history: History, aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThrottlingProxy]:
    with ThrottlingProxy(aws.endpoint_url, every=0) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy
