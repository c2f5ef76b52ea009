"""The results store of an experiment: one Parquet partition per finished point, and a
DuckDB catalog over them.

Layout of an experiment directory::

    experiment.json        the experiment (as validated), its fingerprint, package version
    scenario.toml          the resolved base scenario
    design.parquet         one row per point: point, seed, factor values, x_<factor>
    points/point-000012.parquet
                           one row per replication of point 12: point, replication, seed,
                           the factor values, one column per outcome
    catalog.duckdb         views ``results`` and ``design`` over the files above, by
                           paths relative to the directory (it opens wherever the
                           directory is moved or copied)
    status.json            running, complete, interrupted or failed; points finished
    tmp/                   partitions being written (cleared when a sweep starts)

A partition is written in ``tmp/`` and renamed into ``points/`` when complete: ``points/``
holds finished points only, at every moment, so anything that reads it (pandas, polars,
DuckDB, a resumed sweep) sees whole points or nothing. Which points are done is read from
the files present, never from a separate record that could disagree with them; the status
says whether the sweep that wrote them ended, and how.

A file that cannot be written (a full disk) raises :class:`streetlevel.errors.OutputError`
naming it, and leaves every finished point as it was.

>>> import tempfile, pathlib
>>> import pandas as pd
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> write_point(out, 3, pd.DataFrame({"point": [3, 3], "replication": [0, 1], "y": [0.1, 0.2]}))
>>> finished_points(out)
{3}
>>> con = connect(out)
>>> con.execute("SELECT count(*), round(sum(y), 6) FROM results").fetchall()
[(2, 0.3)]
>>> write_point(out, 4, pd.DataFrame({"point": [4], "replication": [0], "y": [0.5]}))
>>> con.execute("SELECT count(*) FROM results").fetchall()  # the view sees the new point
[(3,)]
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.markup import escape
from rich.table import Table

from streetlevel.errors import ExperimentError, StreetlevelError, output_error
from streetlevel.output.files import (
    make_directory,
    replace_durably,
    write_json_atomic,
    write_table_atomic,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from rich.console import Console

    from streetlevel.experiments.spec import ExperimentFile

__all__ = [
    "CATALOG",
    "DESIGN",
    "EXPERIMENT",
    "POINTS",
    "STATUS",
    "catalog_is_outdated",
    "connect",
    "finished_points",
    "frame_table",
    "partition_path",
    "print_query",
    "query",
    "read_design",
    "read_results",
    "read_spec",
    "read_status",
    "update_catalog",
    "write_catalog",
    "write_point",
    "write_status",
]

EXPERIMENT = "experiment.json"
POINTS = "points"
TMP = "tmp"
DESIGN = "design.parquet"
CATALOG = "catalog.duckdb"
STATUS = "status.json"
_PARTITION = re.compile(r"^point-(\d+)\.parquet$")
_READ_PARQUET = re.compile(r"read_parquet\('((?:[^']|'')*)'")


def partition_path(out: str | Path, point: int) -> Path:
    return Path(out) / POINTS / f"point-{point:06d}.parquet"


def write_point(out: str | Path, point: int, frame: pd.DataFrame) -> None:
    """Write a finished point's rows: in ``tmp/``, then renamed into ``points/``."""
    out = Path(out)
    final = partition_path(out, point)
    staging = out / TMP / final.name
    staging.parent.mkdir(parents=True, exist_ok=True)
    make_directory(final.parent)
    write_table_atomic(pa.Table.from_pandas(frame, preserve_index=False), staging)
    try:
        replace_durably(staging, final)
    except OSError as err:
        raise output_error(final, err) from err


def write_status(out: str | Path, status: dict[str, Any]) -> None:
    """Record how the sweep on ``out`` stands (``status``: running, complete, interrupted,
    failed), atomically: a kill or a full disk leaves the previous record whole."""
    write_json_atomic(status, Path(out) / STATUS)


def read_status(out: str | Path) -> dict[str, Any] | None:
    """The sweep's status record, or None for a directory written before there was one.

    A record saying "running" whose process is gone means the sweep was killed (SIGKILL,
    a crash, a machine that went down): its finished points are kept, and running the sweep
    again completes it.
    """
    path = Path(out) / STATUS
    if not path.is_file():
        return None
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def clear_staging(out: str | Path) -> None:
    """Remove partitions a killed sweep left half-written (never a finished one)."""
    shutil.rmtree(Path(out) / TMP, ignore_errors=True)


def finished_points(out: str | Path) -> set[int]:
    """The points whose partition is in ``points/``."""
    folder = Path(out) / POINTS
    if not folder.is_dir():
        return set()
    found = (_PARTITION.match(p.name) for p in folder.iterdir())
    return {int(m.group(1)) for m in found if m}


def connect(out: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``results`` (every finished point's rows)
    and ``design`` (every point, finished or not) over the experiment directory ``out``.

    Each query reads the partitions present when it runs, so it sees a running sweep's
    progress. Nothing is locked: any number of readers can connect while a sweep writes.
    """
    import duckdb

    out = Path(out)
    con = duckdb.connect()
    _create_views(con, out)
    return con


def read_results(out: str | Path) -> pd.DataFrame:
    """Every finished point's rows, ordered by point and replication."""
    con = connect(out)
    try:
        return con.sql("SELECT * FROM results ORDER BY point, replication").df()
    finally:
        con.close()


def query(out: str | Path, sql: str) -> pd.DataFrame:
    """The rows of a DuckDB ``sql`` query over the views of :func:`connect` (``streetlevel
    query``); a query DuckDB refuses is an :class:`~streetlevel.errors.ExperimentError` with
    its message."""
    import duckdb

    con = connect(out)
    try:
        return con.execute(sql).df()
    except duckdb.Error as err:
        raise ExperimentError(f"query: {err}") from None
    finally:
        con.close()


def frame_table(frame: pd.DataFrame, caption: str | None = None) -> Table:
    """A data frame as a table of plain cells (numbers to four significant digits): the rows
    of a query, whose columns may hold anything."""
    table = Table(*[str(c) for c in frame.columns], caption=caption)
    for row in frame.itertuples(index=False):
        table.add_row(*[escape(_cell(v)) for v in row])
    return table


def print_query(frame: pd.DataFrame, console: Console) -> None:
    """Print a :func:`query`'s rows as a table."""
    console.print(frame_table(frame))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4g}"
    return str(value)


def read_spec(out: str | Path) -> ExperimentFile:
    """The experiment an experiment directory holds (as validated when its sweep started)."""
    from streetlevel.experiments.spec import ExperimentFile

    record = Path(out) / EXPERIMENT
    if not record.is_file():
        raise ExperimentError(f"{out}: not an experiment directory (no {EXPERIMENT})")
    data = json.loads(record.read_text(encoding="utf-8"))
    return ExperimentFile.model_validate(data["experiment"])


def read_design(out: str | Path) -> pd.DataFrame:
    """Every point of the design, finished or not."""
    path = Path(out) / DESIGN
    if not path.is_file():
        raise ExperimentError(f"{out}: not an experiment directory (no {DESIGN})")
    return pq.read_table(path).to_pandas()


def write_catalog(out: str | Path) -> None:
    """Write ``catalog.duckdb``: the views of :func:`connect`, for DuckDB's own clients.

    Its views read ``points/*.parquet`` and ``design.parquet`` by paths relative to the
    experiment directory, which DuckDB resolves against its working directory, or against
    its ``file_search_path`` when set: ``cd DIR && duckdb -readonly catalog.duckdb``, or
    ``duckdb.connect("DIR/catalog.duckdb", read_only=True, config={"file_search_path":
    "DIR"})``. A moved or copied directory opens the same way.
    """
    import duckdb

    out = Path(out).resolve()
    staging = out / TMP / CATALOG
    staging.parent.mkdir(parents=True, exist_ok=True)
    staging.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(staging))
        try:
            # DuckDB checks a view's files when it is made: the relative paths are found
            # through the search path, which is a setting of this connection, not stored.
            con.execute(f"SET file_search_path = {_sql_string(str(out))}")
            _create_views(con, out, relative=True)
        finally:
            con.close()
        replace_durably(staging, out / CATALOG)
    except OSError as err:
        staging.unlink(missing_ok=True)
        raise output_error(out / CATALOG, err) from err
    except duckdb.IOException as err:
        staging.unlink(missing_ok=True)
        # DuckDB reports a failed write in its message only: no errno to test.
        full = os.strerror(errno.ENOSPC) in str(err)
        cause = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) if full else OSError(str(err))
        raise output_error(out / CATALOG, cause) from err


def catalog_is_outdated(out: str | Path) -> bool:
    """Whether ``out`` has a ``catalog.duckdb`` that names its files by absolute paths (as
    earlier versions of streetlevel wrote it: after a move, DuckDB's clients no longer find
    them), or that DuckDB cannot open."""
    import duckdb

    path = Path(out) / CATALOG
    if not path.is_file():
        return False
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            views = con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()
    except duckdb.Error:
        return True
    named = [m.group(1) for (sql,) in views for m in _READ_PARQUET.finditer(sql or "")]
    return any(os.path.isabs(name) for name in named)


def update_catalog(out: str | Path) -> bool:
    """Rewrite an outdated ``catalog.duckdb`` (:func:`catalog_is_outdated`) with relative
    paths, unless a sweep is writing ``out`` (it writes its own) or the directory cannot be
    written; returns whether it was rewritten."""
    from streetlevel.output.locking import DirectoryLock

    if not catalog_is_outdated(out):
        return False
    try:
        with DirectoryLock(Path(out)):
            write_catalog(out)
    except (StreetlevelError, OSError):
        # Busy (a sweep runs), or read-only: the catalog is left as it is, and the caller's
        # query does not need it (connect builds its own views).
        return False
    return True


def _create_views(con: duckdb.DuckDBPyConnection, out: Path, *, relative: bool = False) -> None:
    """The views ``results`` and ``design`` over ``out``'s files: by absolute paths (an
    in-memory connection, made for the directory where it is now), or by paths relative to
    the directory (the catalog file, resolved wherever the directory has gone)."""
    if not (out / DESIGN).is_file() and not finished_points(out):
        raise ExperimentError(f"{out}: not an experiment directory (no {DESIGN}, no points)")
    base = Path() if relative else out.resolve()
    folder = _sql_string((base / POINTS / "*.parquet").as_posix())
    if finished_points(out):
        con.execute(
            f"CREATE OR REPLACE VIEW results AS SELECT * FROM read_parquet({folder}, "
            "union_by_name = true)"
        )
    else:
        # No point has finished yet: an empty view with the columns every partition has.
        con.execute(
            "CREATE OR REPLACE VIEW results AS SELECT NULL::BIGINT AS point, "
            "NULL::BIGINT AS replication, NULL::BIGINT AS seed WHERE false"
        )
    if (out / DESIGN).is_file():
        design = _sql_string((base / DESIGN).as_posix())
        con.execute(f"CREATE OR REPLACE VIEW design AS SELECT * FROM read_parquet({design})")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
