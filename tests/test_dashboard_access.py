"""Who may talk to the dashboard, and how much it may be asked to run (issue 21).

A web page the user visits can reach a server on 127.0.0.1 through the browser: by DNS
rebinding (a name of its own resolving to 127.0.0.1, sent as the Host), by posting to it from
another origin, or by framing it. Beyond this machine anyone on the network can. And anyone
who reaches it can press "Start run". The tests hold the dashboard to:

- a Host that is not an address served, a foreign Origin on a state-changing request, and a
  missing token beyond this machine are answered 403 before anything reads the request;
- every answer carries headers that forbid framing and sniffing, and a content security
  policy (the browser tests in tests/test_dashboard.py check the page works under it);
- a malformed request of any kind is a 4xx with a one-line reason, and the server's log holds
  no traceback;
- the run queue is bounded (429 beyond it) and the runs' disk budget counts the runs on disk
  and those queued (507 beyond it).

Flask's test client for the rules, the real server (waitress) where the log and the printed
address matter.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from streetlevel.dashboard import runs as runs_module
from streetlevel.dashboard.access import (
    Access,
    access_for,
    content_security_policy,
    host_allowed,
    origin_allowed,
)
from streetlevel.dashboard.app import create_app
from streetlevel.dashboard.data import run_scenario_for
from streetlevel.dashboard.runs import (
    DiskBudgetError,
    Limits,
    QueueFullError,
    Runner,
    bytes_under,
    disk_estimate,
)
from streetlevel.output.run import run_scenario
from tests.conftest import dashboard, tiny_scenario
from tests.test_dashboard_security import CALLBACK, body, run_request

SERVED = "Municipality B"
PORT = 8050
TOKEN = "a-token-for-the-tests"
LEVERS = {"route": "caseworker", "norm": "as_2011", "pressure": "true"}
SMALLEST = (0.01, 1)
"""The smallest run the form offers: client scale and replications."""
WAIT_S = 30.0


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("access")
    run_scenario(tiny_scenario("municipality-b"), seed=5, replications=1, out=root / "run")
    return root / "run"


def app_for(run: Path, work: Path, access: Access, runner: Runner | None = None) -> Any:
    return create_app([run], work, access=access, runner=runner)


def municipalities_request(app: Any, run: Path) -> dict[str, Any]:
    return body(app.callback_map, "municipality.options", {"run-dir.value": str(run)})


def post(client: Any, payload: Any, **headers: str) -> Any:
    return client.post(
        CALLBACK, data=json.dumps(payload), content_type="application/json", headers=headers
    )


# -- the rules, without a server ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "header", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1:8050", True),
        ("127.0.0.1", "localhost:8050", True),
        ("127.0.0.1", "LOCALHOST", True),
        ("127.0.0.1", "[::1]:8050", True),
        ("127.0.0.1", "rebind.example:8050", False),
        ("127.0.0.1", "rebind.example", False),
        ("127.0.0.1", "localhost.rebind.example", False),
        ("127.0.0.1", "127.0.0.1.rebind.example", False),
        ("127.0.0.1", "192.0.2.7:8050", False),
        ("127.0.0.1", "", False),
        ("127.0.0.1", None, False),
        ("127.0.0.1", "127.0.0.1:8050 extra", False),
        ("127.0.0.1", "127.0.0.1:port", False),
        ("127.0.0.1", "localhost\x00.rebind.example", False),
        ("127.0.0.1", "[::1", False),
        ("127.0.0.2", "127.0.0.2:8050", True),
        ("0.0.0.0", "192.0.2.7:8050", True),
        ("0.0.0.0", "[2001:db8::1]:8050", True),
        ("0.0.0.0", "stats.example.org:8050", False),
        ("0.0.0.0", "rebind.example", False),
    ],
)
def test_the_host_header_must_name_an_address_served(
    served: str, header: str | None, allowed: bool
) -> None:
    assert host_allowed(access_for(served, PORT), header) is allowed


def test_a_name_given_with_allow_host_is_served() -> None:
    access = access_for("0.0.0.0", PORT, ["Stats.Example.org"])
    assert host_allowed(access, "stats.example.org:8050")
    assert not host_allowed(access, "other.example.org:8050")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://127.0.0.1:8050", True),
        ("http://127.0.0.1:8051", False),
        ("http://rebind.example:8050", False),
        ("https://evil.example", False),
        ("null", False),
        ("file://", False),
        ("http://127.0.0.1:8050@evil.example", False),
    ],
)
def test_a_state_changing_request_must_come_from_the_page(
    origin: str | None, allowed: bool
) -> None:
    assert origin_allowed(origin, "127.0.0.1:8050") is allowed


def test_a_token_is_made_beyond_this_machine_only() -> None:
    assert access_for("127.0.0.1", PORT).token is None
    assert access_for("localhost", PORT).token is None
    assert access_for("::1", PORT).token is None
    made = [access_for(host, PORT).token for host in ("0.0.0.0", "192.0.2.7", "::")]
    assert all(t is not None and len(t) >= 32 for t in made)
    assert len(set(made)) == len(made)  # random, not a constant
    assert access_for("127.0.0.1", PORT, token=TOKEN).token == TOKEN


# -- the rules through the app -----------------------------------------------------------------


def test_a_rebound_host_gets_nothing(served_run: Path, tmp_path: Path) -> None:
    app = app_for(served_run, tmp_path / "work", access_for("127.0.0.1", PORT))
    client = app.server.test_client()
    own = {"Host": f"127.0.0.1:{PORT}"}
    rebound = {"Host": f"rebind.example:{PORT}"}
    assert client.get("/", headers=own).status_code == 200
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        answer = client.get(path, headers=rebound)
        assert answer.status_code == 403, path
        assert "--allow-host" in answer.text
    answer = post(client, municipalities_request(app, served_run), **rebound)
    assert answer.status_code == 403
    assert SERVED not in answer.text
    assert post(client, municipalities_request(app, served_run), **own).status_code == 200


def test_a_foreign_origin_cannot_start_a_run(served_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    app = app_for(served_run, work, access_for("127.0.0.1", PORT))
    client = app.server.test_client()
    start = run_request(app.callback_map, run_scale__value=0.01, run_replications__value=1)
    host = {"Host": f"127.0.0.1:{PORT}"}
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{PORT + 1}"):
        answer = post(client, start, Origin=origin, **host)
        assert answer.status_code == 403, origin
    assert not work.exists()
    # The page's own origin is answered (here: the municipalities view, which starts nothing).
    own = post(
        client, municipalities_request(app, served_run), Origin=f"http://127.0.0.1:{PORT}", **host
    )
    assert own.status_code == 200


def test_every_answer_forbids_framing_and_sniffing(served_run: Path, tmp_path: Path) -> None:
    app = app_for(served_run, tmp_path / "work", access_for("127.0.0.1", PORT))
    client = app.server.test_client()
    answers = [
        client.get("/"),
        client.get("/_dash-layout"),
        client.get("/no/such/page/_dash-component-suites/x.js"),
        post(client, municipalities_request(app, served_run)),
        post(client, {"output": 1}),
        client.get("/", headers={"Host": "rebind.example"}),
    ]
    policy = content_security_policy(app.csp_hashes())
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Security-Policy"] == policy
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-eval'" not in policy and "script-src 'self' 'sha256-" in policy


def test_beyond_this_machine_a_token_is_needed(served_run: Path, tmp_path: Path) -> None:
    access = access_for("0.0.0.0", PORT, ["stats.example.org"], token=TOKEN)
    app = app_for(served_run, tmp_path / "work", access)
    host = {"Host": f"192.0.2.7:{PORT}"}
    client = app.server.test_client()
    for path in ("/", "/_dash-layout", "/?token=wrong", f"/?token={TOKEN[:-1]}"):
        answer = client.get(path, headers=host)
        assert answer.status_code == 403, path
        assert "token" in answer.text
    assert post(client, municipalities_request(app, served_run), **host).status_code == 403
    # The printed address: the token becomes a cookie of this port and leaves the address.
    answer = client.get(f"/?token={TOKEN}", headers=host)
    assert answer.status_code == 302
    assert urlsplit(answer.headers["Location"]).query == ""
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{access.cookie}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/", headers=host).status_code == 200  # the test client keeps cookies
    assert post(client, municipalities_request(app, served_run), **host).status_code == 200
    # A client without cookies may send it as a header.
    bare = app.server.test_client(use_cookies=False)
    authorised = {**host, "Authorization": f"token {TOKEN}"}
    assert bare.get("/_dash-layout", headers=authorised).status_code == 200
    # A rebound name gets nothing, token or not; a name given with --allow-host is served.
    rebound = {"Host": "rebind.example", "Authorization": f"token {TOKEN}"}
    assert bare.get("/", headers=rebound).status_code == 403
    allowed = {"Host": "stats.example.org", "Authorization": f"token {TOKEN}"}
    assert bare.get("/", headers=allowed).status_code == 200


def test_compare_with_is_checked_against_the_run(served_run: Path, tmp_path: Path) -> None:
    """The compare-with options come from the run's own list: a municipality the client
    claims is in it, but is not, is refused."""
    app = app_for(served_run, tmp_path / "work", access_for("127.0.0.1", PORT))
    client = app.server.test_client()
    values = {"municipality.value": SERVED, "run-dir.value": str(served_run)}
    answer = post(client, body(app.callback_map, "compare-with.options", values))
    assert answer.status_code == 200
    assert SERVED not in [o["value"] for o in answer.json["response"]["compare-with"]["options"]]
    forged = {**values, "municipality.value": "Nowhere 99"}
    assert post(client, body(app.callback_map, "compare-with.options", forged)).status_code == 400
    # The options the client sends are no longer read at all: sending them is refused.
    key = next(k for k in app.callback_map if k.startswith("..compare-with.options"))
    assert [s["id"] for s in app.callback_map[key]["state"]] == ["run-dir"]


# -- malformed requests through the real server --------------------------------------------------


SAME = {"UTF-16", "UTF-32", "a byte-order mark", "duplicate keys", "a value 900 levels deep"}
"""Bodies that are the page's own request in another form (JSON allows these encodings, the
last of duplicate keys wins, a key no check reads is ignored)."""


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def malformed_bodies(good: dict[str, Any]) -> dict[str, bytes]:
    """Callback bodies no page sends, raw: deep nesting, huge numbers, bad encodings."""
    value = json.dumps(good)
    spec = json.dumps(good["inputs"][0])
    return {
        "1,000 levels deep (2 KB)": f'{{"output": {nested(1000)}}}'.encode(),
        "100,000 levels deep": f'{{"output": {nested(100_000)}}}'.encode(),
        "a value 900 levels deep": value.replace(
            spec, spec[:-1] + f', "x": {nested(900)}}}'
        ).encode(),
        "an input value 900 levels deep": value.replace(
            '"value": ', f'"value": {nested(900)}, "v": ', 1
        ).encode(),
        "a number of 5,000 digits": f'{{"output": {"9" * 5000}}}'.encode(),
        "an input of 5,000 digits": value.replace(
            '"value": ', f'"value": {"9" * 5000}, "v": ', 1
        ).encode(),
        "1e999": b'{"output": 1e999}',
        "NaN": b'{"output": NaN}',
        "-Infinity for a value": value.replace(
            '"value": ', '"value": -Infinity, "v": ', 1
        ).encode(),
        "invalid UTF-8": b'{"output": "\xff\xfe\xc3\x28"}',
        "overlong UTF-8": b'{"output": "\xc0\xaf"}',
        "a lone surrogate": b'{"output": "\\ud800"}',
        "a lone surrogate for a directory": value.replace(
            json.dumps(good["inputs"][0]["value"]), '"\\udfff"', 1
        ).encode(),
        "UTF-16": value.encode("utf-16"),
        "UTF-32": value.encode("utf-32"),
        "a byte-order mark": b"\xef\xbb\xbf" + value.encode(),
        "NUL bytes": value.encode().replace(b"{", b"{\x00", 1),
        "trailing garbage": value.encode() + b"}}}",
        "two bodies": value.encode() * 2,
        "a key of 500,000 characters": f'{{"{"k" * 500_000}": 1}}'.encode(),
        "100,000 inputs": json.dumps({**good, "inputs": [good["inputs"][0]] * 100_000}).encode()[
            : 1 << 19
        ],
        "a string with every control character": json.dumps(
            {"output": "".join(map(chr, range(32)))}
        ).encode(),
        "duplicate keys": value.replace('{"output": ', '{"output": 1, "output": ', 1).encode(),
    }


@pytest.mark.slow
def test_malformed_requests_are_4xx_and_leave_no_traceback(
    served_run: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    with dashboard([str(served_run), "--work-dir", str(work)], tmp_path) as (port, _):
        app = app_for(served_run, work, access_for("127.0.0.1", port))
        good = municipalities_request(app, served_run)
        statuses: dict[str, int] = {}
        for name, data in malformed_bodies(good).items():
            status, text = raw_post(port, data)
            statuses[name] = status
            assert "Traceback" not in text, name
            assert len(text.strip().splitlines()) <= 1, (name, text[:300])
        # The page's own request is still answered.
        assert raw_post(port, json.dumps(good).encode())[0] == 200
    log = (tmp_path / f"server-{port}.log").read_text(encoding="utf-8", errors="replace")
    # The page's own request in another encoding, or with a key no check reads, is the
    # page's request: answered as such. Everything else is refused.
    assert {n: s for n, s in statuses.items() if not 400 <= s < 500 and n not in SAME} == {}
    assert {n: s for n, s in statuses.items() if s not in (200, 400) and n in SAME} == {}
    assert "Traceback" not in log and "Exception on" not in log, log[-2000:]
    print(f"\n{len(statuses)} malformed bodies: {sorted(set(statuses.values()))}")


def raw_post(port: int, data: bytes) -> tuple[int, str]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        connection.request(
            "POST", CALLBACK, body=data, headers={"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.mark.slow
def test_beyond_localhost_the_printed_address_is_the_way_in(
    served_run: Path, tmp_path: Path
) -> None:
    """`--host 0.0.0.0` prints an address with a token; without it, 403; with it, the page."""
    import urllib.error
    import urllib.request

    args = [str(served_run), "--work-dir", str(tmp_path / "work"), "--host", "0.0.0.0"]
    with dashboard(args, tmp_path) as (port, _):
        printed = (tmp_path / f"server-{port}.log").read_text(encoding="utf-8")
        found = re.search(r"http://127\.0\.0\.1:\d+/\?token=([\w-]+)", printed)
        assert found is not None, printed
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT_S)
        assert refused.value.code == 403
        # A browser keeps the cookie the printed address sets, and follows the redirect.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(found.group(0), timeout=WAIT_S) as page:
            assert "<title>streetlevel dashboard</title>" in page.read().decode()


# -- the run queue and the disk budget ------------------------------------------------------------


@pytest.fixture
def blocked_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Runs that wait until the event is set (then write a 1,000-byte file), so that the
    queue's bookkeeping is tested without simulating."""
    release = threading.Event()

    def fake_run(scenario: Any, *, out: Path, **_: Any) -> None:
        release.wait(WAIT_S)
        out.mkdir(parents=True)
        (out / "table.bin").write_bytes(b"x" * 1000)

    monkeypatch.setattr(runs_module, "run_scenario", fake_run)
    monkeypatch.setattr(runs_module, "summarize", lambda out: None)
    yield release
    release.set()


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_queue_holds_one_running_and_three_waiting(
    blocked_runs: threading.Event, tmp_path: Path
) -> None:
    runner = Runner(tmp_path / "work", seed=1)
    try:
        jobs = [runner.start("denmark-2011", LEVERS, *SMALLEST) for _ in range(4)]
        wait_until(lambda: runner.state().running == 1)
        assert runner.state().queued == 3 and runner.state().full
        with pytest.raises(QueueFullError) as full:
            runner.start("denmark-2011", LEVERS, *SMALLEST)
        assert full.value.status == 429 and "queue is full" in str(full.value)
        blocked_runs.set()
        wait_until(lambda: all(j.status == "complete" for j in jobs))
        assert not runner.state().full
        assert runner.finished() == [j.out for j in jobs]
        runner.start("denmark-2011", LEVERS, *SMALLEST)  # room again
    finally:
        blocked_runs.set()
        runner.stop()


def test_requests_beyond_the_queue_get_429(
    blocked_runs: threading.Event, served_run: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    runner = Runner(work, seed=1, limits=Limits(running=1, queued=1))
    app = app_for(served_run, work, access_for("127.0.0.1", PORT), runner)
    client = app.server.test_client()
    start = run_request(app.callback_map, run_scale__value=0.01, run_replications__value=1)
    try:
        statuses = [post(client, start).status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        answer = post(client, start)
        assert "queue is full" in answer.text and "Traceback" not in answer.text
        # The page is told before the user presses the button: the queue line and the button.
        shown = post(client, body(app.callback_map, "run-queue.children", {"tabs.value": "run"}))
        response = shown.json["response"]
        assert response["run-start"]["disabled"] is True
        assert "1 of 1 running, 1 of 1 waiting" in response["run-queue"]["children"]
    finally:
        blocked_runs.set()
        runner.stop()


def test_the_disk_budget_counts_runs_on_disk_and_queued(
    blocked_runs: threading.Event, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    size = disk_estimate(run_scenario_for("denmark-2011", LEVERS, SMALLEST[0]), SMALLEST[1])
    assert size > 0
    # Room for two runs' estimates: the third is refused while two are queued or running.
    runner = Runner(work, seed=1, limits=Limits(queued=5, disk_budget=2 * size + size // 2))
    try:
        runner.start("denmark-2011", LEVERS, *SMALLEST)
        runner.start("denmark-2011", LEVERS, *SMALLEST)
        with pytest.raises(DiskBudgetError) as over:
            runner.start("denmark-2011", LEVERS, *SMALLEST)
        assert over.value.status == 507 and "budget" in str(over.value)
        blocked_runs.set()
        wait_until(lambda: runner.state().running + runner.state().queued == 0)
        # Finished, the runs count by their files (1,000 bytes each here), not their estimate.
        assert runner.state().disk_used == bytes_under(work) == 2000
        runner.start("denmark-2011", LEVERS, *SMALLEST)
    finally:
        blocked_runs.set()
        runner.stop()
    # Files already on disk count as well: a budget they fill leaves no room.
    (work / "old-run").mkdir()
    (work / "old-run" / "events.parquet").write_bytes(b"x" * (2 * size))
    full = Runner(work, seed=1, limits=Limits(disk_budget=2 * size + size // 2))
    try:
        with pytest.raises(DiskBudgetError):
            full.start("denmark-2011", LEVERS, *SMALLEST)
    finally:
        full.stop()


def test_finished_jobs_are_forgotten_after_the_keep_time(
    blocked_runs: threading.Event, tmp_path: Path
) -> None:
    runner = Runner(tmp_path / "work", seed=1, limits=Limits(keep_seconds=3600))
    try:
        job = runner.start("denmark-2011", LEVERS, *SMALLEST)
        blocked_runs.set()
        wait_until(lambda: job.status == "complete")
        assert runner.get(job.id) is job
        assert job.ended is not None
        with runner._lock:
            runner._forget_old(now=job.ended + 3599)
        assert runner.get(job.id) is job
        with runner._lock:
            runner._forget_old(now=job.ended + 3601)
        assert runner.get(job.id) is None
        assert runner.finished() == [job.out]  # its directory is still offered
    finally:
        runner.stop()


def test_bad_limits_are_refused() -> None:
    from streetlevel.errors import StreetlevelError

    for bad in ({"running": 0}, {"queued": -1}, {"disk_budget": -1}, {"keep_seconds": -1}):
        with pytest.raises(StreetlevelError, match="dashboard limits"):
            Limits(**bad)
