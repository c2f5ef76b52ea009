"""Users' files the dashboard shows: aggregated counts (``--aggregated``, as ``streetlevel
benchmark`` reads them) and per-unit observed and expected counts (``--funnel``, as
``streetlevel funnel`` reads them).

Each file is read, validated and judged once, when the dashboard starts, by the functions the
two commands call (:func:`streetlevel.analysis.standardise.benchmark_source`,
:func:`streetlevel.analysis.funnel_report.read_units` and
:func:`streetlevel.analysis.outliers.funnel`): a bad file stops the dashboard before it
listens, with the reader's message (file, row, line, column). After that the dashboard holds
the results in memory and opens no file for a request; the page names a file by its place in
the list (:class:`ServedFile`), never by a path.

No web framework here: the results and their figures (PNG ``data:`` URLs) can be tested and
used without a browser.

>>> from streetlevel.errors import StreetlevelError
>>> try:
...     load_files(funnels=["units.csv"])
... except StreetlevelError as err:
...     print(err)  # doctest: +ELLIPSIS
--funnel needs --funnel-unit, --funnel-observed and --funnel-expected (the columns ...)
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from streetlevel.analysis.aggregate import Columns, Counts
from streetlevel.analysis.benchmark import Benchmark
from streetlevel.analysis.benchmark_report import funnel_figure, raw_funnel_figure, years_figure
from streetlevel.analysis.funnel_report import figure as unit_funnel_figure
from streetlevel.analysis.funnel_report import read_units
from streetlevel.analysis.outliers import Adjustment, Funnel, funnel
from streetlevel.analysis.overdispersion import Method
from streetlevel.analysis.standardise import benchmark_source
from streetlevel.errors import StreetlevelError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "KIND_LABELS",
    "AggregatedOptions",
    "FunnelOptions",
    "ServedFile",
    "data_url",
    "load_files",
]

FileKind = Literal["aggregated", "funnel"]
KIND_LABELS: dict[FileKind, str] = {"aggregated": "aggregated counts", "funnel": "funnel"}
"""How the page's list of files names each kind."""
PNG_DPI = 90
"""Every figure of the page (a funnel plot some 70 kB)."""


@dataclass(frozen=True)
class AggregatedOptions:
    """How ``--aggregated`` files are read and benchmarked: ``streetlevel benchmark``'s
    options for aggregated input."""

    columns: Columns = field(default_factory=Columns)
    counts: Counts = "people"
    denominator: str = "recipients"
    """What the denominator counts (``--per``)."""
    year: int | None = None
    """The year to rank and risk-adjust (default: the latest)."""
    delimiter: str | None = None


@dataclass(frozen=True)
class FunnelOptions:
    """How ``--funnel`` files are read and judged: ``streetlevel funnel``'s options."""

    unit: str
    observed: str
    expected: str
    denominator: str | None = None
    method: Method | None = None
    overdispersion: Adjustment | None = None
    delimiter: str | None = None


@dataclass(frozen=True)
class ServedFile:
    """A file the dashboard was started with, and its result. The page lists it by
    :attr:`label` and sends back only its place in the list."""

    label: str
    """The file as given on the command line: shown in the page, never read from it."""
    kind: FileKind
    result: Benchmark | Funnel
    _figures: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def benchmark(self) -> Benchmark:
        assert isinstance(self.result, Benchmark)
        return self.result

    @property
    def funnel(self) -> Funnel:
        assert isinstance(self.result, Funnel)
        return self.result

    def figure(self, name: str) -> str:
        """One of the file's figures as a ``data:`` URL, drawn once (drawing is most of a
        view's time, and every user of the page asks for the same few): for aggregated
        counts ``funnel`` (risk-adjusted), ``raw`` (the raw shares) and ``years`` (the
        ratios over the years, with several years); for a funnel file ``funnel``."""
        with self._lock:
            if name not in self._figures:
                self._figures[name] = data_url(self._draw(name)())
            return self._figures[name]

    def _draw(self, name: str) -> Callable[[], Figure]:
        if self.kind == "funnel" and name == "funnel":
            return lambda: unit_funnel_figure(self.funnel, f"Funnel plot: {self.label}")
        drawn: dict[str, Callable[[], Figure]] = {
            "funnel": lambda: funnel_figure(self.benchmark),
            "raw": lambda: raw_funnel_figure(self.benchmark),
            "years": lambda: years_figure(self.benchmark),
        }
        if self.kind != "aggregated" or name not in drawn:
            raise StreetlevelError(f"{self.label}: no figure {name!r}")
        return drawn[name]


def data_url(fig: Figure) -> str:
    """A figure as a PNG ``data:`` URL for an ``<img>``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _a_file(path: Path, option: str) -> None:
    # A directory is served as an argument (a run or a sweep), not as a user's file.
    if path.is_dir():
        raise StreetlevelError(
            f"{path}: {option} takes a file (.csv or .parquet), not a directory; give run "
            "and sweep directories as arguments"
        )


def load_files(
    aggregated: Sequence[Path | str] = (),
    funnels: Sequence[Path | str] = (),
    *,
    aggregated_options: AggregatedOptions | None = None,
    funnel_options: FunnelOptions | None = None,
) -> list[ServedFile]:
    """Read, validate and judge every file, aggregated ones first, in the order given.

    Raises:
        StreetlevelError: the first file that cannot be read or judged, with the reader's
            message (:class:`~streetlevel.analysis.aggregate.AggregateDataError`,
            :class:`~streetlevel.analysis.funnel_report.FunnelDataError`: the file, row, line
            and column); or funnel files without ``funnel_options``.
    """
    if funnels and funnel_options is None:
        raise StreetlevelError(
            "--funnel needs --funnel-unit, --funnel-observed and --funnel-expected (the columns "
            "of the unit, its observed and its expected count)"
        )
    options = aggregated_options or AggregatedOptions()
    served = []
    for given in aggregated:
        path = Path(given)
        _a_file(path, "--aggregated")
        result = benchmark_source(
            path,
            input="aggregated",
            year=options.year,
            columns=options.columns,
            counts=options.counts,
            denominator=options.denominator,
            delimiter=options.delimiter,
        )
        served.append(ServedFile(str(given), "aggregated", result))
    for given in funnels:
        assert funnel_options is not None
        path = Path(given)
        _a_file(path, "--funnel")
        f = funnel_options
        units = read_units(
            path, f.unit, f.observed, f.expected, f.denominator, delimiter=f.delimiter
        )
        judged = funnel(
            units["unit"].to_numpy(),
            units["observed"].to_numpy(),
            units["expected"].to_numpy(),
            units["denominator"].to_numpy() if f.denominator else None,
            method=f.method,
            overdispersion=f.overdispersion,
        )
        served.append(ServedFile(str(given), "funnel", judged))
    return served
