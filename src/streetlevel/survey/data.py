"""Survey files: a user's own caseworker survey in DK's format, read and checked cell by cell.

One row per caseworker, one column per question (``docs/survey.md`` documents them):

============================  ======================================================
column                        values
============================  ======================================================
``immigration_policy``        easier, as today, stricter, no answer
``minority_motivated``        strongly agree, partially agree, partially disagree,
                              strongly disagree, don't know, no answer
``push``                      not, quite, very, don't know, no answer
``income_need``               important, not
``negative_view``             0, 1, 2, 3
``unemployment_length``       not, important
``equal_participation``       no, yes
``equal_outcomes``            no, yes
``follow_up_routines``        0, 1
``seniority_quartile``        1, 2, 3, 4
``oslo``                      0, 1
``over_250_users``            0, 1
``overruled``                 0, 1 (overruled a minority client's proposal at least once)
============================  ======================================================

Answers are matched without regard to case or surrounding spaces; other columns are ignored.
A bad value is an error naming the file, the row (data rows count from 1; the line is the row
plus one for the header) and the column. The simulated surveys of :mod:`streetlevel.survey.simulate`
are tables in the same format, so a simulated survey saved as CSV reads back unchanged.

>>> frame = read_survey_csv(example_path())
>>> len(frame), bool(frame["overruled"].isin([0, 1]).all())
(477, True)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from streetlevel.errors import StreetlevelError
from streetlevel.model.attitudes import SENIORITY_QUARTILES, published_survey
from streetlevel.scenario.tables import read_user_table

__all__ = ["COLUMNS", "SurveyDataError", "allowed_values", "example_path", "read_survey_csv"]

FLAG_COLUMNS = ("follow_up_routines", "oslo", "over_250_users", "overruled")
EXAMPLE = "survey_example.csv"
MAX_REPORTED = 10
"""Bad cells listed in one error message (the count of the rest is given)."""


def _columns() -> tuple[str, ...]:
    questions = tuple(q.key for q in published_survey().questions)
    return (*questions, "follow_up_routines", "seniority_quartile", "oslo", "over_250_users",
            "overruled")  # fmt: skip


COLUMNS = _columns()
"""The columns of a survey file, in their documented order."""


class SurveyDataError(StreetlevelError):
    """A survey file that is missing, unreadable, or has a bad value (named by row and column)."""


def example_path() -> Path:
    """The example survey shipped with streetlevel (a simulated survey of 477, norway-2010)."""
    return Path(str(resources.files("streetlevel") / "data" / EXAMPLE))


def allowed_values() -> dict[str, tuple[str, ...]]:
    """Each column's allowed values, as written in a file."""
    allowed: dict[str, tuple[str, ...]] = {q.key: q.labels for q in published_survey().questions}
    for name in FLAG_COLUMNS:
        allowed[name] = ("0", "1")
    allowed["seniority_quartile"] = tuple(str(q) for q in range(1, SENIORITY_QUARTILES + 1))
    return allowed


def read_survey_csv(path: str | Path) -> pd.DataFrame:
    """Read and check a survey file; returns the survey table of :mod:`streetlevel.survey.simulate`.

    Raises:
        SurveyDataError: naming the file and, for a bad value, its row and column.
    """
    path = Path(path)
    # The one reader of users' files: the delimiter recognised, a ragged row named by its line.
    table = read_user_table(path, SurveyDataError, parquet=False)
    cells = [column.to_pylist() for column in table.table.columns]  # duplicates kept
    rows: list[list[str]] = [table.columns]
    rows += [["" if v is None else str(v) for v in row] for row in zip(*cells, strict=True)]
    line_of = table.line_of or (lambda r: r + 2)
    starts = [1, *(line_of(r) for r in range(len(rows) - 1))]
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SurveyDataError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} "
            f"(expected: {', '.join(COLUMNS)})"
        )
    twice = [c for c in COLUMNS if header.count(c) > 1]
    if twice:
        raise SurveyDataError(f"{path}: line 1: column(s) {', '.join(twice)} given more than once")
    index = {c: header.index(c) for c in COLUMNS}
    allowed = allowed_values()
    lookup = {c: {v.casefold(): v for v in values} for c, values in allowed.items()}
    data: dict[str, list[str]] = {c: [] for c in COLUMNS}
    problems: list[str] = []
    for row_number, row in enumerate(rows[1:], start=1):
        line = starts[row_number]
        if not any(cell.strip() for cell in row):
            problems.append(f"row {row_number} (line {line}): blank row")
            continue
        if len(row) != len(header):
            problems.append(
                f"row {row_number} (line {line}): {len(row)} cells, the header has {len(header)}"
            )
            continue
        for c in COLUMNS:
            cell = row[index[c]].strip()
            value = lookup[c].get(cell.casefold())
            if value is None:
                problems.append(
                    f"row {row_number} (line {line}), column {c}: {cell!r} is not one of "
                    f"{', '.join(allowed[c])}"
                )
            data[c].append(value or "")
    if problems:
        more = len(problems) - MAX_REPORTED
        tail = [f"... and {more} more"] if more > 0 else []
        lines = [f"{path}: {len(problems)} bad value(s):", *problems[:MAX_REPORTED], *tail]
        raise SurveyDataError("\n  ".join(lines))
    if len(rows) == 1:
        raise SurveyDataError(f"{path}: no data rows after the header")
    frame = pd.DataFrame(data)
    for c in (*FLAG_COLUMNS, "seniority_quartile"):
        frame[c] = frame[c].astype("int64")
    return frame
