"""The web dashboard (``streetlevel dashboard``): an optional extra,
``pip install 'streetlevel[dashboard]'``. May import every layer below it; only the CLI
imports it, lazily, for ``streetlevel dashboard``.

From Python::

    from streetlevel.dashboard import serve
    from streetlevel.dashboard.files import load_files
    serve(["runs/dk", "runs/rnp"], port=8050, files=load_files(["counts.csv"]))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streetlevel.constants import DASHBOARD_HOST, DASHBOARD_PORT
from streetlevel.errors import StreetlevelError

if TYPE_CHECKING:
    from streetlevel.dashboard.access import Access
    from streetlevel.dashboard.files import ServedFile
    from streetlevel.dashboard.runs import Limits

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "require_extra", "serve"]

DEFAULT_HOST = DASHBOARD_HOST
DEFAULT_PORT = DASHBOARD_PORT
THREADS = 4
"""Requests answered at once (waitress's default); others wait their turn in its queue. The
callbacks hold the GIL for most of their time, so more threads add memory, not speed."""
CONNECTIONS = 500
"""Connections held open at once (waitress's default is 100); later ones wait in the listen
backlog. A browser keeps up to 6 open to a site, so this is some 80 users at once, and a load
test of 200 clients is served side by side rather than half of them waiting for the others."""


def require_extra() -> None:
    """Raise a :class:`StreetlevelError` saying how to install the dashboard's extra when
    its web framework is missing."""
    try:
        import dash  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        raise StreetlevelError(
            "the dashboard needs its optional extra (Dash or waitress is not installed): "
            "pip install 'streetlevel[dashboard]'"
        ) from None


def serve(
    directories: list[Path | str],
    *,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    work_dir: Path | str = "dashboard-runs",
    files: Sequence[ServedFile] = (),
    access: Access | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve the dashboard over ``directories`` and ``files`` (read and judged beforehand by
    :func:`streetlevel.dashboard.files.load_files`, so that a bad file stops the command
    before the server starts) until interrupted; runs started from the page are written
    under ``work_dir``, within ``limits`` (default
    :data:`streetlevel.dashboard.runs.DEFAULT_LIMITS`). Who may talk to it is ``access``'s
    rule (default :func:`streetlevel.dashboard.access.access_for` of ``host`` and ``port``:
    a token is made unless ``host`` is a loopback address)."""
    from waitress import serve as serve_wsgi

    from streetlevel.dashboard.access import access_for
    from streetlevel.dashboard.app import create_app
    from streetlevel.dashboard.guard import MAX_BODY_BYTES
    from streetlevel.dashboard.runs import DEFAULT_LIMITS, Runner

    runner = Runner(work_dir, seed=1, limits=limits or DEFAULT_LIMITS)
    access = access or access_for(host, port)
    app = create_app(directories, work_dir, runner=runner, files=files, access=access)
    # Waitress, not Flask's development server, which starts a thread per connection: under
    # the load test's 200 clients (tests/test_dashboard_security.py) it answered 15 requests/s
    # with a p95 latency of 33 s and resident memory still growing by 43 MiB over the second
    # half; waitress, same code, 29 requests/s, 9 s and flat. Waitress also refuses a body
    # larger than any the page sends before reading it.
    try:
        serve_wsgi(
            app.server,
            host=host,
            port=port,
            threads=THREADS,
            connection_limit=CONNECTIONS,
            # poll(), not select(): select cannot watch a descriptor numbered 1024 or more.
            asyncore_use_poll=True,
            max_request_body_size=MAX_BODY_BYTES,
            ident="streetlevel",
        )
    finally:
        # Waitress returns on Ctrl-C or SIGTERM (the CLI turns both into KeyboardInterrupt).
        runner.stop()
