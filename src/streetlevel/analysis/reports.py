"""Self-contained HTML reports and PNG figures, shared by every analysis command.

A report is one HTML file with its figures embedded (base64 PNG) and its tables inline, so it
can be mailed or archived without the run directory and opened with no internet access.
Figures are bare ``matplotlib.figure.Figure`` objects, never pyplot's: they need no display
(commands run on servers and in CI) and no global state (safe in threads and loops).

>>> import tempfile, pathlib
>>> import pandas as pd
>>> report = Report("Example")
>>> report.heading("A table")
>>> report.table(pd.DataFrame({"municipality": ["A"], "rate": [0.34]}))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
>>> report.write(path)
>>> "<td>A</td>" in path.read_text()
True
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from streetlevel.output.files import write_bytes_atomic

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["Report", "label_points", "log_count_axis", "new_figure", "save_png"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.met { color: #1a7f37; } .not-met { color: #b42318; font-weight: 600; }
img { max-width: 100%; }
footer { color: #666; font-size: 0.8rem; margin-top: 3rem; }
"""


def new_figure(width: float = 8.0, height: float = 5.0) -> Figure:
    """A new figure (constrained layout)."""
    return Figure(figsize=(width, height), layout="constrained")


def log_count_axis(ax: Axes) -> None:
    """A logarithmic x axis of counts labelled at 1, 2 and 5 times each power of ten, in
    plain numbers (``20``, ``50``, ``100``): a funnel's counts span one or two decades, where
    matplotlib's default labels a single power of ten."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def label_points(
    ax: Axes, x: Iterable[float], y: Iterable[float], names: Sequence[str], size: float = 7
) -> None:
    """Name points beside them: to the right of a point in the left half of the axis (in
    its scale) and to the left of one in the right half, so that labels stay inside the
    panel and two neighbours on the right do not write over each other."""
    low, high = ax.get_xlim()
    log = ax.get_xscale() == "log"
    middle = (low * high) ** 0.5 if log and low > 0 else (low + high) / 2
    for xi, yi, name in zip(x, y, names, strict=True):
        right = float(xi) > middle
        ax.annotate(
            str(name),
            (xi, yi),
            fontsize=size,
            xytext=(-5 if right else 5, 3),
            textcoords="offset points",
            ha="right" if right else "left",
        )


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


def save_png(fig: Figure, path: Path) -> None:
    """Write a figure as PNG atomically (a crash leaves no half-written image)."""
    write_bytes_atomic(path, _png(fig))


class Report:
    """Build an HTML report block by block, then ``write`` it."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self._blocks: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        if subtitle:
            self._blocks.append(f"<p>{html.escape(subtitle)}</p>")

    def heading(self, text: str) -> None:
        self._blocks.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        self._blocks.append(f"<p>{html.escape(text)}</p>")

    def table(self, frame: pd.DataFrame, classes: list[str] | None = None) -> None:
        """A table; ``classes`` gives each row a CSS class (e.g. ``met`` / ``not-met``)."""
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        rows = []
        for i, record in enumerate(frame.itertuples(index=False)):
            cls = f' class="{classes[i]}"' if classes else ""
            cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in record)
            rows.append(f"<tr{cls}>{cells}</tr>")
        self._blocks.append(
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def figure(self, fig: Figure, alt: str) -> None:
        data = base64.b64encode(_png(fig)).decode("ascii")
        self._blocks.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')

    def to_html(self) -> str:
        from streetlevel.version import __version__

        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = "\n".join(self._blocks)
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body>\n{body}\n<footer>streetlevel {__version__}, {stamp}</footer>"
            f"</body></html>\n"
        )

    def write(self, path: Path) -> None:
        write_bytes_atomic(path, self.to_html().encode("utf-8"))


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
