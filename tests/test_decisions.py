"""Decision data: the engine's client-years follow the schema; a bad file names row and column."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from streetlevel.analysis.microdata import (
    SCHEMA,
    DecisionDataError,
    arrow_schema,
    read_decisions,
    required_columns,
)
from streetlevel.output.run import run_scenario
from streetlevel.scenario.schema import Scenario

HEADER = (
    "municipality,region,year,category,age_group,sex,education,minority,"
    "weeks_on_benefit,weeks_in_year,sanctions,weeks_sanctioned,exit"
)
GOOD_ROWS = [
    "Aarhus,Midtjylland,2011,match-1,under 30,male,low,false,60,52,1,2,",
    "Aarhus,Midtjylland,2011,match-2,50+,female,higher,true,10,10,0,0,work",
    "Odense,Syddanmark,2011,match-3,30-49,male,low,0,200,40,2,5,other",
]


def write_csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "decisions.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def with_value(row: int, column: str, value: str) -> list[str]:
    """GOOD_ROWS with one value replaced (row is 0-based)."""
    names = HEADER.split(",")
    rows = [r.split(",") for r in GOOD_ROWS]
    rows[row][names.index(column)] = value
    return [",".join(r) for r in rows]


def test_engine_client_years_follow_the_schema(tmp_path: Path, tiny: Scenario) -> None:
    run_scenario(tiny, seed=2, replications=2, out=tmp_path / "run")
    path = tmp_path / "run" / "client_years.parquet"
    names = ds.dataset(path, format="parquet").schema.names
    undocumented = set(names) - {c.name for c in SCHEMA}
    assert not undocumented, f"add {undocumented} to decisions.SCHEMA and docs/benchmarking.md"
    assert set(required_columns()) <= set(names)
    frame = read_decisions(path, [c.name for c in tiny.categories])
    assert len(frame) == ds.dataset(path, format="parquet").count_rows()  # nothing dropped
    # The validated frame converts to the documented Arrow schema without loss.
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(arrow_schema(frame.columns))
    assert table.num_rows == len(frame)


def test_a_good_csv_reads_with_canonical_types(tmp_path: Path) -> None:
    frame = read_decisions(write_csv(tmp_path, GOOD_ROWS))
    assert len(frame) == 3
    assert frame["minority"].tolist() == [False, True, False]
    assert frame["sanctions"].tolist() == [1, 0, 2]
    assert frame["exit"].isna().tolist() == [True, False, False]
    assert list(frame["age_group"].cat.categories) == ["under 30", "30-49", "50+"]
    assert frame["municipality"].astype(str).tolist() == ["Aarhus", "Aarhus", "Odense"]


def test_the_example_data_validate() -> None:
    path = resources.files("streetlevel") / "data" / "example-decisions.csv"
    with resources.as_file(path) as csv_path:
        frame = read_decisions(csv_path)
        lines = csv_path.read_text(encoding="utf-8").count("\n")
    assert len(frame) == lines - 1  # one row per data line, none dropped
    assert len(frame) > 1000 and frame["municipality"].nunique() > 10


@pytest.mark.parametrize(
    ("rows", "row", "column", "text"),
    [
        # wrong type
        (with_value(1, "sanctions", "two"), 2, "sanctions", "'two' is not a whole number"),
        (with_value(0, "weeks_in_year", "4.5"), 1, "weeks_in_year", "'4.5' is not a whole number"),
        (with_value(2, "minority", "maybe"), 3, "minority", "'maybe' is not true or false"),
        # unknown category (and other unknown values)
        (with_value(2, "category", "match-7"), 3, "category", "'match-7' is not an allowed"),
        (with_value(0, "age_group", "30-39"), 1, "age_group", "'30-39' is not an allowed value"),
        (with_value(1, "exit", "moved"), 2, "exit", "'moved' is not an allowed value"),
        # negative counts, out of range
        (with_value(1, "sanctions", "-1"), 2, "sanctions", "'-1' is below the minimum 0"),
        (with_value(0, "weeks_in_year", "60"), 1, "weeks_in_year", "'60' is above the maximum 53"),
        # missing values are errors, never rows skipped
        (with_value(2, "municipality", ""), 3, "municipality", "missing value"),
        (with_value(0, "sanctions", ""), 1, "sanctions", "missing value"),
        ([GOOD_ROWS[0], "", GOOD_ROWS[1]], 2, "municipality", "missing value"),
        # rows that contradict themselves or each other
        (with_value(0, "weeks_sanctioned", "53"), 1, "weeks_sanctioned", "exceeds weeks_in_year"),
        (with_value(2, "weeks_on_benefit", "20"), 3, "weeks_in_year", "exceeds weeks_on_benefit"),
        (with_value(1, "region", "Sjælland"), 2, "region", "'Sjælland' differs from the"),
    ],
)
def test_a_bad_value_names_row_line_and_column(
    tmp_path: Path, rows: list[str], row: int, column: str, text: str
) -> None:
    path = write_csv(tmp_path, rows)
    with pytest.raises(DecisionDataError) as err:
        read_decisions(path)
    assert f"{path}: row {row} (line {row + 1}), column {column!r}: {text}" in str(err.value)


def test_a_quoted_line_break_moves_the_lines_named_after_it(tmp_path: Path) -> None:
    """A quoted municipality name holding a line break spans two lines: the rows after it
    start one line later than their number + 1, and the message says so."""
    first = GOOD_ROWS[0].replace("Aarhus", '"Aarhus\nKommune"', 1)
    path = write_csv(tmp_path, [first, *with_value(2, "sanctions", "-1")[1:]])
    with pytest.raises(DecisionDataError) as err:
        read_decisions(path)
    assert f"{path}: row 3 (line 5), column 'sanctions'" in str(err.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER.replace("sanctions,", ""), "missing columns: 'sanctions'"),
        (HEADER.replace(",region", "").replace(",sex", ""), "missing columns: 'region', 'sex'"),
        (HEADER + ",notes", "unknown columns: 'notes'"),
        (HEADER + ",sanctions", "duplicated columns: sanctions"),
    ],
)
def test_a_bad_header_names_the_column(tmp_path: Path, header: str, expected: str) -> None:
    # The data rows keep their width so that only the header is wrong.
    width = len(header.split(","))
    rows = [",".join((r.split(",") + ["x"] * width)[:width]) for r in GOOD_ROWS]
    with pytest.raises(DecisionDataError, match=expected):
        read_decisions(write_csv(tmp_path, rows, header))


def test_every_bad_value_is_listed_up_to_a_limit(tmp_path: Path) -> None:
    rows = [GOOD_ROWS[1].replace(",0,0,work", ",-1,0,work")] * 30
    with pytest.raises(DecisionDataError) as err:
        read_decisions(write_csv(tmp_path, rows))
    message = str(err.value)
    assert "row 1 (line 2), column 'sanctions'" in message
    assert "row 10 (line 11), column 'sanctions'" in message
    assert "more problems not shown" in message


def test_a_ragged_csv_names_the_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [GOOD_ROWS[0], GOOD_ROWS[1] + ",extra"])
    with pytest.raises(DecisionDataError, match="line 3: 14 fields, expected 13"):
        read_decisions(path)


def test_parquet_with_a_wrong_type_names_the_row(tmp_path: Path) -> None:
    frame = pd.read_csv(write_csv(tmp_path, GOOD_ROWS), keep_default_na=False, dtype=str)
    frame.loc[2, "weeks_in_year"] = "forty"
    path = tmp_path / "decisions.parquet"
    frame.to_parquet(path)
    with pytest.raises(DecisionDataError) as err:
        read_decisions(path)
    assert f"{path}: row 3, column 'weeks_in_year': 'forty' is not a whole number" in str(err.value)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("decisions.xlsx", "x", "expected a .csv or .parquet file"),
        ("decisions.csv", "", "empty file"),
        ("decisions.csv", HEADER + "\n", "no data rows"),
        ("decisions.parquet", "not parquet", "cannot read as Parquet"),
    ],
)
def test_an_unreadable_file_is_a_clear_error(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DecisionDataError, match=expected):
        read_decisions(path)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("sanctions", "x", "column 'sanctions': 'x' is not a whole number"),
        ("category", "passive", "column 'category': 'passive' is not an allowed value"),
    ],
)
def test_the_command_fails_with_row_and_column(
    tmp_path: Path, column: str, value: str, expected: str
) -> None:
    path = write_csv(tmp_path, with_value(1, column, value))
    done = subprocess.run(
        [sys.executable, "-m", "streetlevel", "benchmark", str(path), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert f"row 2 (line 3), {expected}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "b").exists()


def test_a_missing_column_fails_the_command(tmp_path: Path) -> None:
    header = HEADER.replace(",education", "")
    rows = [",".join(r.split(",")[:6] + r.split(",")[7:]) for r in GOOD_ROWS]
    done = subprocess.run(
        [sys.executable, "-m", "streetlevel", "benchmark", str(write_csv(tmp_path, rows, header))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "missing columns: 'education'" in done.stderr


def test_every_column_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "benchmarking.md").read_text()
    for column in SCHEMA:
        required = "yes" if column.required else "no"
        assert f"| `{column.name}` | {required} |" in docs, column.name
