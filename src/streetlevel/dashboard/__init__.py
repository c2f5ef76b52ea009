"""The web dashboard (``streetlevel dashboard``): an optional extra,
``pip install 'streetlevel[dashboard]'``. Nothing else in the package imports it.

From Python::

    from streetlevel.dashboard import serve
    serve(["runs/dk", "runs/rnp"], port=8050)
"""

from __future__ import annotations

from pathlib import Path

from streetlevel.errors import StreetlevelError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "require_extra", "serve"]

DEFAULT_HOST = "127.0.0.1"
"""Only this machine can open the page unless told otherwise."""
DEFAULT_PORT = 8050


def require_extra() -> None:
    """Raise a :class:`StreetlevelError` saying how to install the dashboard's extra when
    its web framework is missing."""
    try:
        import dash  # noqa: F401
    except ImportError:
        raise StreetlevelError(
            "the dashboard needs its optional extra (Dash is not installed): "
            "pip install 'streetlevel[dashboard]'"
        ) from None


def serve(
    directories: list[Path | str],
    *,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    work_dir: Path | str = "dashboard-runs",
) -> None:
    """Serve the dashboard over ``directories`` until interrupted; runs started from the page
    are written under ``work_dir``."""
    from streetlevel.dashboard.app import create_app

    app = create_app(directories, work_dir)
    app.run(host=host, port=port, debug=False)
