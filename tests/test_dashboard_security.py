"""The dashboard against forged and broken requests, and under load (issue 9).

It serves only the directories it was started with, listens on 127.0.0.1 unless told
otherwise, answers any request its page never sends with 4xx (never a 5xx, never a hang), and
answers 200 concurrent clients with no error and no growth of memory. Plain HTTP, no browser:
Flask's test client for the callbacks, and the real server (`streetlevel dashboard`, served
by waitress) for raw paths, the listening address and the load.

The rule the tests hold the dashboard to: a request the page can send is answered 200 (with
the problem shown in the page if the data fails); a request it never sends (a directory,
level or number it does not offer, a value of the wrong type, a malformed body) is answered
400 with a one-line reason, before any file is opened or any run is started.
"""

from __future__ import annotations

import json
import math
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streetlevel.dashboard.app import REGION, create_app
from streetlevel.dashboard.data import REPLICATION_LIMITS, SCALE_LIMITS
from streetlevel.dashboard.files import load_files
from streetlevel.dashboard.guard import MAX_BODY_BYTES
from streetlevel.experiments import load_experiment, run_sweep
from streetlevel.output.files import PARTIAL_SUFFIX
from streetlevel.output.run import run_scenario
from tests.conftest import accepts, dashboard, tiny_scenario

SERVED = "Municipality B"
"""The served run's only municipality."""
OUTSIDE = "Municipality A"
"""A municipality only the run outside every served directory has: a response that names it
has leaked that run's data."""
SECRET = "outside-secret-5b1f0c"
"""The text of a file outside every served directory."""
SOURCE = "def create_app("
"""A line of the dashboard's own source: a response that holds it has leaked a file."""
PASSWD = "root:x:0:0"
MARKERS = (OUTSIDE, SECRET, SOURCE, PASSWD)
CALLBACK = "/_dash-update-component"
EXAMPLE_AGGREGATED = Path(str(resources.files("streetlevel") / "data" / "example-aggregated.csv"))
SWEEP = """
[experiment]
name = "security-tiny"
scenario = "municipality-b"
seed = 7
replications = 2

[design]
kind = "full_factorial"

[constants]
"scale.client_scale" = 0.3
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[levers]]
name = "pressure"
key = "pressure.ranking_published"
values = [true, false]
"""


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A served run and sweep; a run and a secret file outside them; symlinks inside the
    served directories that lead outside."""
    root = tmp_path_factory.mktemp("security")
    run_scenario(tiny_scenario("municipality-b"), seed=5, replications=2, out=root / "run")
    outside = root / "outside"
    run_scenario(tiny_scenario("municipality-a"), seed=5, replications=1, out=outside)
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    spec = root / "tiny.toml"
    spec.write_text(SWEEP, encoding="utf-8")
    run_sweep(load_experiment(spec), root / "sweep", workers=1)
    for served in ("run", "sweep"):
        (root / served / "escape").symlink_to(outside, target_is_directory=True)
        (root / served / "secret.txt").symlink_to(outside / "secret.txt")
    return {
        "run": root / "run",
        "sweep": root / "sweep",
        "outside": outside,
        "work": root / "work",
    }


@pytest.fixture(scope="module")
def client(dirs: dict[str, Path]) -> Any:
    # With a file of aggregated counts, so that the files view's callback is exercised too.
    files = load_files([EXAMPLE_AGGREGATED])
    app = create_app([dirs["run"], dirs["sweep"]], dirs["work"], files=files)
    return app.server.test_client(), app.callback_map


# -- callback requests as the page sends them -------------------------------------------------


def _outputs(key: str) -> list[str]:
    """``"id.property"`` of each output of a callback (its key in Dash's callback map)."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    return [p.split("@", 1)[0] for p in parts]


def body(callbacks: dict[str, Any], first: str, values: dict[str, Any]) -> dict[str, Any]:
    """The JSON body the page POSTs for the callback whose first output is ``first``, with
    the values of its inputs and state (keyed ``"id.property"``; the rest null)."""
    key = next(k for k in callbacks if _outputs(k)[0] == first)
    callback = callbacks[key]
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True)) for o in _outputs(key)]

    def specs(items: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in items]

    return {
        "output": key,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": specs(callback["inputs"]),
        "state": specs(callback["state"]),
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in callback["inputs"]],
    }


def page_requests(dirs: dict[str, Path]) -> dict[str, tuple[str, dict[str, Any]]]:
    """One valid request of each callback that reads a directory: (first output, values)."""
    run, sweep = str(dirs["run"]), str(dirs["sweep"])
    return {
        "municipalities": ("municipality.options", {"run-dir.value": run}),
        "municipality": (
            "rates-graph.figure",
            {"municipality.value": SERVED, "compare-with.value": REGION, "run-dir.value": run},
        ),
        "sweep": ("outcome.options", {"sweep-dir.value": sweep}),
        "policies": (
            "policy-graph.figure",
            {
                "outcome.value": "national_sanction_rate",
                "policy-a.value": "pressure = true",
                "policy-b.value": "pressure = false",
                "sweep-dir.value": sweep,
            },
        ),
    }


def post(test_client: Any, payload: Any) -> Any:
    return test_client.post(CALLBACK, data=json.dumps(payload), content_type="application/json")


def leaked(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


# -- 1. only the directories it was started with ------------------------------------------------


def test_a_served_directory_is_answered(client: Any, dirs: dict[str, Path]) -> None:
    test_client, callbacks = client
    for name, (first, values) in page_requests(dirs).items():
        response = post(test_client, body(callbacks, first, values))
        assert response.status_code == 200, (name, response.text)
        assert '"className":"error"' not in response.text, (name, response.text[:300])
    shown = post(test_client, body(callbacks, *page_requests(dirs)["municipalities"]))
    assert SERVED in shown.text


def test_the_outside_marker_shows_when_served(dirs: dict[str, Path]) -> None:
    """The marker means something: the outside run, were it served, would show it."""
    app = create_app([dirs["outside"]], dirs["work"])
    values = {"run-dir.value": str(dirs["outside"])}
    response = post(
        app.server.test_client(), body(app.callback_map, "municipality.options", values)
    )
    assert response.status_code == 200
    assert OUTSIDE in response.text


def forged_directories(dirs: dict[str, Path]) -> list[str]:
    """Every way a request could name a directory that is not served."""
    run, sweep, outside = str(dirs["run"]), str(dirs["sweep"]), str(dirs["outside"])
    return [
        outside,
        f"{run}/../outside",
        "../outside",
        "../" * 12 + "etc/passwd",
        "/etc/passwd",
        "/",
        "~",
        "file:///etc/passwd",
        f"{run}/escape",  # a symlink inside the served directory, to the outside run
        f"{run}/escape/secret.txt",
        f"{run}/secret.txt",
        f"{sweep}/escape",
        f"{run}/%2e%2e%2foutside",
        "%2e%2e%2f" * 12 + "etc%2fpasswd",
        f"{run}/..%2Foutside",
        f"{run}\x00",
        f"{outside}\x00{run}",
        f"{run}/",  # the served directory itself, but not by the name it is served under
        f"{run}/.",
        f"{dirs['run'].parent}/./run",
        run.upper(),
        run + " ",
        "",
    ]


@pytest.mark.parametrize("name", ["municipalities", "municipality", "sweep", "policies"])
def test_a_forged_directory_is_refused(client: Any, dirs: dict[str, Path], name: str) -> None:
    """Any directory but the ones served (by the exact name the page lists) is a 400 that
    names none of the other directory's data; a served directory of the other kind too."""
    test_client, callbacks = client
    first, values = page_requests(dirs)[name]
    key = "run-dir.value" if "run-dir.value" in values else "sweep-dir.value"
    other_kind = str(dirs["sweep"] if key == "run-dir.value" else dirs["run"])
    for forged in [*forged_directories(dirs), other_kind]:
        response = post(test_client, body(callbacks, first, {**values, key: forged}))
        assert response.status_code == 400, (forged, response.text[:300])
        assert "the dashboard offers" in response.text, (forged, response.text)
        assert leaked(response.text) == [], forged


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def started(dirs: dict[str, Path], options: list[str], host: str = "127.0.0.1") -> Iterator[Server]:
    """`streetlevel dashboard` over the run and the sweep in a subprocess, on a free port
    (``--host`` etc. in ``options``), once it answers; stopped on leaving."""
    served = [str(dirs["run"]), str(dirs["sweep"])]
    args = [*served, "--work-dir", str(dirs["work"]), *options]
    with dashboard(args, dirs["work"].parent, host=host) as (port, process):
        yield Server(host, port, process)


@pytest.fixture(scope="module")
def server(dirs: dict[str, Path]) -> Iterator[Server]:
    """The dashboard as a user starts it: default host."""
    with started(dirs, []) as running:
        yield running


def raw(server: Server, head: str, data: bytes = b"") -> tuple[int, str]:
    """Send a request exactly as written (no client normalises or quotes its path) and read
    the answer until the server closes."""
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(head.encode("latin-1") + b"\r\n\r\n" + data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), rest.decode("utf-8", "replace")


def raw_get(server: Server, path: str) -> tuple[int, str]:
    return raw(
        server, f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nConnection: close"
    )


def test_static_paths_do_not_leak_files(server: Server, dirs: dict[str, Path]) -> None:
    """Dash's own routes (scripts, assets, the page for any path) give no file outside its
    wheel: a 4xx, or the page itself."""
    outside = str(dirs["outside"])
    paths = [
        "/assets/../../../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets/%2e%2e/%2e%2e/app.py",
        "/assets/..%2fapp.py",
        "/assets/%2e%2e%2fapp.py",
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/_dash-component-suites/dash/../../../../../../etc/passwd",
        "/_dash-component-suites/dash/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/_dash-component-suites/dash/%2e%2e/%2e%2e/streetlevel/dashboard/app.py",
        "/_dash-component-suites/streetlevel/dashboard/app.py",
        "/_dash-component-suites/os/../../etc/passwd",
        "/_dash-component-suites/dash/dcc/..%00/app.py",
        "/_favicon.ico/../../etc/passwd",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        f"{outside}/secret.txt",
        f"/{outside}/secret.txt",
        "/%00",
        f"/assets/{'a' * 5000}",
    ]
    for path in paths:
        status, text = raw_get(server, path)
        assert status in (200, 400, 404, 405, 414), (path, status)
        if status == 200:
            assert "<title>streetlevel dashboard</title>" in text, path
        assert leaked(text) == [], (path, leaked(text))


# -- 2. this machine only, unless told otherwise ------------------------------------------------


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses, loopback 127.0.0.1 aside, and 127.0.0.2: all of
    127.0.0.0/8 reaches this machine, so a server bound to every address answers on it."""
    found = {
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET
    }
    return sorted((found | {"127.0.0.2"}) - {"127.0.0.1"})


def test_it_listens_on_this_machine_only_by_default(server: Server) -> None:
    assert accepts("127.0.0.1", server.port)
    assert [a for a in other_addresses() if accepts(a, server.port)] == []


def test_the_host_option_moves_it(dirs: dict[str, Path]) -> None:
    with started(dirs, ["--host", "127.0.0.2"], host="127.0.0.2") as moved:
        assert accepts("127.0.0.2", moved.port)
        assert not accepts("127.0.0.1", moved.port)


# -- 3. malformed requests: 4xx, no crash, no run ------------------------------------------------


def run_request(callbacks: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The run form's "Start run" request, as the page sends it, with ``changes``."""
    values: dict[str, Any] = {
        "run-start.n_clicks": 1,
        "run-preset.value": "denmark-2011",
        "lever-route.value": "caseworker",
        "lever-norm.value": "as_2011",
        "lever-pressure.value": "true",
        "run-scale.value": SCALE_LIMITS[0],
        "run-replications.value": REPLICATION_LIMITS[0],
    }
    # run_scale__value names "run-scale.value".
    for key, value in changes.items():
        component, prop = key.split("__")
        values[f"{component.replace('_', '-')}.{prop}"] = value
    return body(callbacks, "run-job.data", values)


def malformed(callbacks: dict[str, Any], dirs: dict[str, Path]) -> dict[str, Any]:
    """Requests the page never sends: name -> JSON body, or (raw bytes, content type)."""
    first, values = page_requests(dirs)["municipalities"]
    good = body(callbacks, first, values)
    heavy_first, heavy_values = page_requests(dirs)["municipality"]
    heavy = body(callbacks, heavy_first, heavy_values)
    low, high = SCALE_LIMITS
    most = REPLICATION_LIMITS[1]

    def with_(**changes: Any) -> dict[str, Any]:
        return {**good, **changes}

    def value(v: Any) -> dict[str, Any]:
        return with_(inputs=[{**good["inputs"][0], "value": v}])

    return {
        "invalid JSON": (b'{"output": ', "application/json"),
        "empty body": (b"", "application/json"),
        "not UTF-8": (b'{"output": "\xff\xfe"}', "application/json"),
        "text/plain": (json.dumps(good).encode(), "text/plain"),
        "form-encoded": (b"output=run-dir.options", "application/x-www-form-urlencoded"),
        "a JSON list": [],
        "a JSON string": "run-dir.options",
        "a JSON number": 1e308,
        "JSON null": None,
        "no output": {k: v for k, v in good.items() if k != "output"},
        "unknown output": with_(output="secret.children"),
        "output of a number": with_(output=7),
        "outputs of another callback": with_(outputs=heavy["outputs"]),
        "no outputs": {k: v for k, v in good.items() if k != "outputs"},
        "outputs a string": with_(outputs="municipality.options"),
        "no inputs": {k: v for k, v in good.items() if k != "inputs"},
        "inputs a dict": with_(inputs={"id": "run-dir", "property": "value"}),
        "inputs of another callback": with_(inputs=heavy["inputs"]),
        "an extra input": with_(inputs=[*good["inputs"], *good["inputs"]]),
        "an input without id": with_(inputs=[{"property": "value", "value": None}]),
        "an input id a dict": with_(inputs=[{"id": {"x": 1}, "property": "value"}]),
        "state it does not read": with_(state=heavy["state"]),
        "changedPropIds a string": with_(changedPropIds="run-dir.value"),
        "changedPropIds not an input": with_(changedPropIds=["secret.value"]),
        "a number for a directory": value(5),
        "a list for a directory": value([str(dirs["run"])]),
        "a dict for a directory": value({"path": str(dirs["run"])}),
        "true for a directory": value(True),
        "a huge string for a directory": value("x" * (MAX_BODY_BYTES // 2)),
        "a body over the limit": value("x" * (MAX_BODY_BYTES + 1)),
        "a municipality not in the run": {
            **heavy,
            "inputs": [{**heavy["inputs"][0], "value": "Nowhere 99"}, heavy["inputs"][1]],
        },
        "a list for a municipality": {
            **heavy,
            "inputs": [{**heavy["inputs"][0], "value": [SERVED]}, heavy["inputs"][1]],
        },
        "10^9 clients per recipient": run_request(callbacks, run_scale__value=1e9),
        "a scale above the form's": run_request(callbacks, run_scale__value=high * 2),
        "a scale below the form's": run_request(callbacks, run_scale__value=low / 2),
        "a negative scale": run_request(callbacks, run_scale__value=-1.0),
        "a NaN scale": run_request(callbacks, run_scale__value=math.nan),
        "an infinite scale": run_request(callbacks, run_scale__value=math.inf),
        "a string scale": run_request(callbacks, run_scale__value="0.5"),
        "10^9 replications": run_request(callbacks, run_replications__value=10**9),
        "replications above the form's": run_request(callbacks, run_replications__value=most + 1),
        "zero replications": run_request(callbacks, run_replications__value=0),
        "negative replications": run_request(callbacks, run_replications__value=-5),
        "fractional replications": run_request(callbacks, run_replications__value=1.5),
        "a bool for replications": run_request(callbacks, run_replications__value=True),
        "a preset the form does not offer": run_request(
            callbacks, run_preset__value="municipality-a"
        ),
        "a path for a preset": run_request(callbacks, run_preset__value="../../etc/passwd"),
        "a level the form does not offer": run_request(callbacks, lever_route__value="anything"),
        "a list for a level": run_request(callbacks, lever_norm__value=["as_2011"]),
        "negative clicks": run_request(callbacks, run_start__n_clicks=-1),
        "a job id a list": body(
            callbacks, "run-progress.value", {"run-poll.n_intervals": 1, "run-job.data": ["x"]}
        ),
    }


def test_malformed_requests_get_4xx_and_start_nothing(client: Any, dirs: dict[str, Path]) -> None:
    test_client, callbacks = client
    statuses = {}
    for name, request in malformed(callbacks, dirs).items():
        if isinstance(request, tuple):
            data, content_type = request
            response = test_client.post(CALLBACK, data=data, content_type=content_type)
        else:
            response = post(test_client, request)
        statuses[name] = response.status_code
        assert "Traceback" not in response.text, name
        assert leaked(response.text) == [], name
        # A refusal of the run form names the field it refuses.
        for word in ("scale", "replications", "preset", "lever"):
            if word in name.replace("level", "lever"):
                assert word in response.text, (name, response.text)
    assert {n: s for n, s in statuses.items() if not 400 <= s < 500} == {}
    assert statuses["a body over the limit"] == 413
    assert statuses["text/plain"] == 415
    print(f"\n{len(statuses)} malformed requests: {dict(Counter(statuses.values()))}")
    # The form's own refusal (the number inputs send null out of range) is a message in
    # the page, and starts nothing either.
    response = post(test_client, run_request(callbacks, run_scale__value=None))
    assert response.status_code == 200
    assert "must be numbers in range" in response.text
    # Nothing was queued: the run pool starts its thread at the first run, and every run
    # writes under the work directory.
    assert not any(t.name.startswith("streetlevel-run") for t in threading.enumerate())
    assert not dirs["work"].exists()
    # And the app still answers the page.
    first, values = page_requests(dirs)["municipalities"]
    assert post(test_client, body(callbacks, first, values)).status_code == 200


def test_the_real_server_refuses_too(server: Server, dirs: dict[str, Path]) -> None:
    """The same through waitress: a run of 10^9 clients is a 400, invalid JSON a 400, a body
    over the limit a 413 before it is read, a request line that is not HTTP a 400; then the
    server answers the page."""
    callbacks = create_app([dirs["run"], dirs["sweep"]], dirs["work"]).callback_map
    huge_run = json.dumps(run_request(callbacks, run_scale__value=1e9)).encode()

    def post_raw(data: bytes, length: int) -> int:
        head = (
            f"POST {CALLBACK} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            "Connection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}"
        )
        return raw(server, head, data)[0]

    assert post_raw(huge_run, len(huge_run)) == 400
    assert post_raw(b"{", 1) == 400
    # Only the head is sent: the server answers without waiting for a megabyte.
    assert post_raw(b"", MAX_BODY_BYTES + 1) == 413
    assert raw(server, "NOT HTTP AT ALL")[0] == 400
    assert raw_get(server, "/")[0] == 200
    assert not dirs["work"].exists()


STOP_S = 60.0
"""A stopped server ends its run at the run's next simulated week (after building the
country, a few seconds at full scale); it is lost if it has not ended in this time."""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_the_server_interrupts_its_run(
    dirs: dict[str, Path], tmp_path: Path, signum: int
) -> None:
    """Ctrl-C or SIGTERM while a run started from the page goes on: the server exits soon,
    and the run's directory keeps only complete tables and a manifest marked interrupted."""
    work = tmp_path / "work"
    callbacks = create_app([dirs["run"]], work).callback_map
    # The largest run the form allows: minutes, so it is running when the signal comes.
    longest = run_request(
        callbacks, run_scale__value=SCALE_LIMITS[1], run_replications__value=REPLICATION_LIMITS[1]
    )
    with started({**dirs, "work": work}, []) as server:
        status, answer = raw(
            server,
            f"POST {CALLBACK} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            "Connection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(json.dumps(longest))}",
            json.dumps(longest).encode(),
        )
        assert status == 200, answer
        deadline = time.monotonic() + STOP_S
        while not list(work.glob("*/manifest.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        server.process.send_signal(signum)
        server.process.wait(timeout=STOP_S)
    [manifest_path] = work.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["status"] == "interrupted"
    assert "the dashboard stopped" in manifest["error"]
    assert list(manifest_path.parent.rglob(f"*{PARTIAL_SUFFIX}")) == []


# -- fuzzing the callback route ----------------------------------------------------------------

FUZZ_CASES = 1000
"""Mutated callback requests, each a few milliseconds through the test client."""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, callbacks: dict[str, Any], valid: list[dict[str, Any]]) -> Any:
    """A valid request of the page with one to three things changed."""
    request = json.loads(json.dumps(draw(st.sampled_from(valid))))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["value", "key", "drop", "spec", "output", "whole"]))
        # Earlier mutations may have left inputs or state of any shape.
        specs = [
            spec
            for key in ("inputs", "state")
            if isinstance(request.get(key), list)
            for spec in request[key]
            if isinstance(spec, dict)
        ]
        if where == "value" and specs:
            draw(st.sampled_from(specs))["value"] = draw(json_values)
        elif where == "key":
            request[draw(st.sampled_from(sorted(request)))] = draw(json_values)
        elif where == "drop" and request:
            request.pop(draw(st.sampled_from(sorted(request))))
        elif where == "spec" and specs:
            draw(st.sampled_from(specs))[draw(st.sampled_from(["id", "property"]))] = draw(
                json_values
            )
        elif where == "output":
            request["output"] = draw(st.sampled_from(sorted(callbacks)) | st.text(max_size=40))
        elif where == "whole":
            return draw(json_values)
    return request


@pytest.mark.slow
def test_fuzzed_callback_requests_never_crash(client: Any, dirs: dict[str, Path]) -> None:
    """Random mutations of every directory-reading request of the page: each is answered
    200 (a mutation the page could send) or 4xx, never 5xx, and none leaks outside data."""
    test_client, callbacks = client
    valid = [body(callbacks, first, values) for first, values in page_requests(dirs).values()]
    # A run request wrong in three ways, so that no mutation starts a run.
    valid.append(
        run_request(
            callbacks,
            run_scale__value=1e9,
            run_replications__value=10**9,
            run_preset__value="municipality-a",
        )
    )
    # And every other callback of the page, as the page sends it.
    covered = {_outputs(request["output"])[0] for request in valid}
    values = {
        "tabs.value": "muni",
        "municipality.value": SERVED,
        "run-dir.value": str(dirs["run"]),
        "file.value": 0,
        "run-poll.n_intervals": 1,
        "run-job.data": "no-such-job",
    }
    valid += [
        body(callbacks, _outputs(key)[0], values)
        for key in callbacks
        if _outputs(key)[0] not in covered
    ]
    assert len(valid) == len(callbacks)
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=FUZZ_CASES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated(callbacks, valid))
    def check(request: Any) -> None:
        response = post(test_client, request)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (request, response.text[:300])
        assert "Traceback" not in response.text
        assert leaked(response.text) == []

    check()
    print(f"\n{sum(statuses.values())} fuzzed callback requests: {dict(statuses)}")
    assert sum(statuses.values()) >= FUZZ_CASES
    assert not dirs["work"].exists()


# -- 4. load: 200 concurrent clients -----------------------------------------------------------

LOAD_CLIENTS = 200
LOAD_SECONDS = 20.0
"""The issue suggests 60 s; 20 s keeps the suite's time, and the memory is judged on its
second half, by which the caches (benchmark, funnel) are full: the first requests fill them."""
REQUEST_TIMEOUT_S = 60.0
"""A request not answered in this time counts as lost (the p95 is a few seconds here)."""
MEMORY_SLACK = 16 * 2**20
"""Growth of the server's resident memory allowed over the load's second half: allocator
noise measured at about 2 MiB; a leak of a few tens of kilobytes per request (a response of
the municipality view is about 70 kB) passes it within a few hundred requests."""
RSS_EVERY_S = 0.25


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_load_of_200_concurrent_clients(server: Server, dirs: dict[str, Path]) -> None:
    """Page loads and the municipality view's callbacks (and a forged request now and then)
    from 200 clients at once: every request answered as expected, memory flat."""
    callbacks = create_app([dirs["run"], dirs["sweep"]], dirs["work"]).callback_map
    run = str(dirs["run"])
    view = [
        ("municipality.options", {"run-dir.value": run}),
        (
            "compare-with.options",
            {"municipality.value": SERVED, "run-dir.value": run},
        ),
        page_requests(dirs)["municipality"],
    ]
    forged = body(callbacks, "municipality.options", {"run-dir.value": str(dirs["outside"])})
    mix: list[tuple[str, str, bytes | None, int]] = [
        ("GET", "/", None, 200),
        ("GET", "/_dash-layout", None, 200),
        ("GET", "/_dash-dependencies", None, 200),
        *[("POST", CALLBACK, json.dumps(body(callbacks, *v)).encode(), 200) for v in view],
        ("POST", CALLBACK, json.dumps(forged).encode(), 400),
    ]
    url = f"http://{server.host}:{server.port}"
    deadline = time.monotonic() + LOAD_SECONDS
    latencies: list[float] = []
    errors: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def user(seed: int) -> None:
        pick: Callable[[list[Any]], Any] = random.Random(seed).choice
        while time.monotonic() < deadline:
            method, path, data, expected = pick(mix)
            headers = {"Content-Type": "application/json"} if data else {}
            request = urllib.request.Request(url + path, data, headers, method=method)
            began = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                    response.read()
                    status: Any = response.status
            except urllib.error.HTTPError as err:
                status = err.code
            except OSError as err:  # a timeout or a refused or dropped connection
                status = repr(err)
            with lock:
                latencies.append(time.monotonic() - began)
                if status != expected:
                    errors.append((path, status))

    samples: list[tuple[float, int]] = []

    def watch() -> None:
        while time.monotonic() < deadline:
            samples.append((time.monotonic(), rss(server.process.pid)))
            time.sleep(RSS_EVERY_S)

    watcher = threading.Thread(target=watch)
    began = time.monotonic()
    watcher.start()
    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        list(pool.map(user, range(LOAD_CLIENTS)))
    elapsed = time.monotonic() - began
    watcher.join()

    latencies.sort()
    p95 = latencies[int(0.95 * len(latencies))]
    middle = began + LOAD_SECONDS / 2
    first = max(r for t, r in samples if t < middle)
    second = max(r for t, r in samples if t >= middle)
    second_half = sum(1 for t, _ in samples if t >= middle) * RSS_EVERY_S
    per_request = MEMORY_SLACK / max(1.0, len(latencies) * second_half / elapsed)
    print(
        f"\n{LOAD_CLIENTS} clients, {elapsed:.1f} s: {len(latencies)} requests, "
        f"{len(latencies) / elapsed:.1f} requests/s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s; "
        f"RSS {first / 2**20:.0f} MiB at half time, {second / 2**20:.0f} MiB at the end "
        f"(a leak of {per_request / 1024:.0f} kB per request would show)"
    )
    assert errors == []
    assert latencies[-1] < REQUEST_TIMEOUT_S
    assert second - first < MEMORY_SLACK
    assert server.process.poll() is None
