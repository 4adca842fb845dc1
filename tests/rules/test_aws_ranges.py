"""AWS's published address ranges: read from `rules.aws_ip_ranges_file`, handed to the detectors as `aws_ranges`.

The fixture `tests/rules/data/ip-ranges.json` has the published file's format with a few prefixes (IPv4
and IPv6). Nothing here reaches the internet: the download is tested against a loopback HTTP server.
"""

from __future__ import annotations

import dataclasses
import http.server
import ipaddress
import logging
import pickle
import random
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from detectors._aws_ranges import AddressRanges, address_in_ranges, ranges_param
from monitor.cli import main
from monitor.config import load_config, parse_config
from monitor.configreader import ConfigError
from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.rules.aws_ranges import RangesError, fetch, load_aws_ranges, parse_aws_ranges
from monitor.rules.aws_ranges import main as fetch_main
from monitor.rules.builtin import builtin_detectors
from monitor.rules.loader import assemble_detectors
from tests.helpers import ACCOUNT, DATA, api_call, latest

FIXTURE = Path(__file__).parent / "data" / "ip-ranges.json"
USERS_OF_RANGES = {"instance-credentials-used-elsewhere", "workload-credentials-used-elsewhere"}


def test_the_fixture_reads_into_ranges_that_answer_for_both_ip_versions(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="trailsentry.rules"):
        ranges = load_aws_ranges(FIXTURE)
    assert "8 prefixes" in caplog.text and "published 2026-12-01-00-00-00" in caplog.text
    assert ranges.prefixes == 8
    # 52.95.110.0/24 lies inside 52.95.0.0/16: merged into one interval.
    assert len(ranges.v4_starts) == 5 and len(ranges.v6_starts) == 2
    inside = ("52.94.0.0", "52.94.3.255", "52.95.110.1", "3.80.0.1", "3.95.255.255", "18.185.1.1",
              "2600:1f18::5", "2a05:d014:1::1", "::ffff:52.95.1.1")
    outside = ("52.94.4.0", "198.51.100.7", "3.79.255.255", "3.96.0.0", "2600:1f18:8000::1", "2001:db8::1",
               "10.0.0.1", "AWS Internal", "s3.amazonaws.com", "")
    assert all(address_in_ranges(ip, ranges) for ip in inside)
    assert not any(address_in_ranges(ip, ranges) for ip in outside)
    # Worker processes get the same answers from a copy.
    copy = pickle.loads(pickle.dumps(ranges))
    assert all(address_in_ranges(ip, copy) for ip in inside)
    assert str(ranges) == f"8 address prefixes from {FIXTURE}"


def test_ten_thousand_prefixes_answer_as_checking_each_one_does() -> None:
    rng = random.Random(7)
    nets = [ipaddress.ip_network(f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/"
                                 f"{rng.choice((16, 20, 22, 24, 26))}", strict=False) for _ in range(10_000)]
    ranges = AddressRanges.from_networks(nets, "random")
    probes = [ipaddress.ip_address(rng.getrandbits(32)) for _ in range(300)]
    probes += [net.network_address for net in nets[:100]] + [net.broadcast_address for net in nets[100:200]]
    probes += [net.broadcast_address + 1 for net in nets[200:300] if int(net.broadcast_address) < 2**32 - 1]
    for probe in probes:
        assert (probe in ranges) == any(probe in net for net in nets), probe


def test_a_param_may_also_be_a_short_list_of_cidrs() -> None:
    ranges = ranges_param(["52.95.0.0/16", "not a network", "2600:1f18::/33"])
    assert ranges is not None and ranges.prefixes == 2
    assert ranges_param(["52.95.0.0/16", "not a network", "2600:1f18::/33"]) is ranges  # built once
    assert ranges_param([]) is None and ranges_param(None) is None and ranges_param({"x": 1}) is None


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "not JSON"),
    (b"[]", 'no "prefixes" list'),
    (b'{"syncToken": "1", "prefixes": []}', "no prefixes"),
    (b'{"prefixes": [{"ip_prefix": "52.95.0.0/16"}, {"ip_prefix": "52.95.0.0/33"}, {"region": "x"}]}',
     "malformed prefix entries: prefixes[1], prefixes[2]"),
    (b'{"prefixes": [{"ip_prefix": "52.95.0.0/16"}], "ipv6_prefixes": [{"ipv6_prefix": "52.94.0.0/22"}]}',
     "malformed prefix entries: ipv6_prefixes[0]"),
    (b'{"prefixes": [{"ip_prefix": "52.95.0.0/16"}], "ipv6_prefixes": "2600:1f18::/33"}', '"ipv6_prefixes" is not'),
])
def test_a_corrupt_file_is_a_config_error_naming_the_path(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "ip-ranges.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as raised:
        load_aws_ranges(path)
    [message] = raised.value.errors
    assert message.startswith(f"rules.aws_ip_ranges_file: {path}: ") and problem in message


def _config(tmp_path: Path, ranges: str | None) -> Path:
    config = tmp_path / "trailsentry.yaml"
    config.write_text(yaml.safe_dump({"rules": {"aws_ip_ranges_file": ranges}} if ranges else {}))
    return config


def test_the_configured_file_reaches_every_detector_that_asks_and_a_relative_path_is_the_configs(
        tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "aws.json")
    detectors, _ = assemble_detectors(load_config(_config(tmp_path, "aws.json")))
    given = {d.id: d.params["aws_ranges"] for d in detectors if "aws_ranges" in d.params}
    assert set(given) == USERS_OF_RANGES
    [ranges] = {id(r): r for r in given.values()}.values()  # one structure, shared
    assert isinstance(ranges, AddressRanges) and ranges.origin == str(tmp_path / "aws.json")
    # Without the setting the detectors keep their default (no ranges: today's learned behaviour).
    (tmp_path / "plain").mkdir()
    detectors, _ = assemble_detectors(load_config(_config(tmp_path / "plain", None)))
    assert all(d.params["aws_ranges"] == [] for d in detectors if d.id in USERS_OF_RANGES)


def test_a_missing_file_stops_validate_and_scan_with_its_path(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "missing/ip-ranges.json")
    with pytest.raises(ConfigError, match=r"rules\.aws_ip_ranges_file: .*missing/ip-ranges\.json: cannot read it"):
        assemble_detectors(load_config(config))
    assert main(["config", "validate", str(config)]) != 0
    assert "missing/ip-ranges.json" in capsys.readouterr().err


def test_an_empty_path_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"rules\.aws_ip_ranges_file: empty path"):
        parse_config({"rules": {"aws_ip_ranges_file": " "}})


def _instance_call(seconds: float, ip: str) -> dict[str, object]:
    identity = {"type": "AssumedRole", "principalId": "AROAEXAMPLEINSTANCE1:i-0abc1234def567890",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app-instance-role/i-0abc1234def567890",
                "accountId": ACCOUNT, "sessionContext": {"sessionIssuer": {
                    "type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/app-instance-role",
                    "accountId": ACCOUNT, "userName": "app-instance-role"}}}
    return api_call(identity, "s3.amazonaws.com", "ListBuckets", seconds, ip=ip, readOnly=True)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scan_with_the_file_alerts_on_the_first_call_from_outside_aws(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str) -> None:
    shutil.copy(FIXTURE, tmp_path / "ip-ranges.json")
    events = tmp_path / "events.json"
    # The stolen credentials' first call comes before the instance's own (a NAT address inside AWS).
    events.write_bytes(orjson.dumps({"Records": [_instance_call(0, "198.51.100.7"), _instance_call(60, "52.95.110.1"),
                                                 _instance_call(120, "52.95.110.1")]}))
    args = ["scan", "--format", "jsonl", "--no-progress", "--workers", workers,
            "--detector", "instance-credentials-used-elsewhere", str(events)]
    assert main([*args[:1], "--config", str(_config(tmp_path, "ip-ranges.json")), *args[1:]]) == 0
    [alert] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert alert["severity"] == "high" and alert["source_ip"] == "198.51.100.7"
    assert alert["context"]["reason"] == "outside AWS's address ranges"
    # Without the file: the first address is learned as the session's own, and the NAT address is the second.
    (tmp_path / "plain").mkdir()
    assert main([*args[:1], "--config", str(_config(tmp_path / "plain", None)), *args[1:]]) == 0
    [alert] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert alert["severity"] == "medium" and alert["source_ip"] == "52.95.110.1"


def test_detectors_list_shows_the_ranges_by_what_they_hold(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(FIXTURE, tmp_path / "ip-ranges.json")
    config = _config(tmp_path, "ip-ranges.json")
    assert main(["detectors", "list", "--config", str(config), "--format", "json"]) == 0
    listed = {d["id"]: d for d in orjson.loads(capsys.readouterr().out)}
    assert listed["workload-credentials-used-elsewhere"]["params"]["aws_ranges"] == \
        f"8 address prefixes from {tmp_path / 'ip-ranges.json'}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for the files in a folder: the download is tested without the internet."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_download_checks_the_file_and_replaces_the_old_one_only_when_it_is_good(
        served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, root = served
    shutil.copy(FIXTURE, root / "ip-ranges.json")
    (root / "broken.json").write_bytes(b'{"prefixes": [{"ip_prefix": "nonsense"}]}')
    output = tmp_path / "shared" / "ip-ranges.json"
    assert fetch_main(["--url", f"{url}/ip-ranges.json", "--output", str(output)]) == 0
    assert output.read_bytes() == FIXTURE.read_bytes()
    assert "8 prefixes written" in capsys.readouterr().out
    with pytest.raises(RangesError, match="malformed"):
        fetch(f"{url}/broken.json", output)
    assert fetch_main(["--url", f"{url}/missing.json", "--output", str(output)]) == 1
    assert "404" in capsys.readouterr().err
    assert output.read_bytes() == FIXTURE.read_bytes()  # the good file stays
    assert sorted(p.name for p in output.parent.iterdir()) == ["ip-ranges.json"]  # no temporary left behind
    assert parse_aws_ranges(output.read_bytes(), "x").prefixes == 8


def test_the_real_stolen_instance_session_alerts_from_its_first_call_even_with_an_ordinary_client() -> None:
    """OTRF's EC2 proxy exfiltration (../shared/data): the stolen session's calls carry a macOS CLI, which
    alerts on its own. Told it was a Linux SDK, only the address is left: learned as the session's own
    without the ranges, outside AWS (the fixture's ranges) from the first call with them."""
    path = DATA / "otrf_ec2_proxy_s3_exfil" / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    records = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    stolen = [r for r in records if ":i-" in (r.get("userIdentity") or {}).get("principalId", "")]
    assert len(stolen) == 11
    for record in stolen:
        record["userAgent"] = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64 prompt/off"
    detector = next(d for d in builtin_detectors() if d.id == "instance-credentials-used-elsewhere")
    decoded = decode_bytes(orjson.dumps({"Records": records}), str(path))
    assert Engine([detector]).process(decoded).alerts == []
    with_ranges = dataclasses.replace(detector, params={**detector.params, "aws_ranges": load_aws_ranges(FIXTURE)})
    engine = Engine([with_ranges])
    alerts = latest([*engine.process(decode_bytes(orjson.dumps({"Records": records}), str(path))).alerts,
                     *engine.flush()])
    [alert] = alerts.values()
    assert alert.severity.label == "high" and alert.context["reason"] == "outside AWS's address ranges"
    assert alert.count == 11 and alert.context["instance_id"] == "i-0317f6c6b66ae9c40"
