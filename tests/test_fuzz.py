"""Fuzzing the front doors: every file a user hands streetlevel either loads or is refused with
the project's own error, naming the file and the place (key path, or row and column).

Each door is fuzzed from damaged copies of the files streetlevel ships (tests/fuzz_strategies.py),
seeded (``derandomize``) and without Hypothesis's example database, so that CI runs the same
cases every time. A case that loads must give a sane object; a case that is refused must raise a
:class:`StreetlevelError` whose message names the file and where the damage is. Any other
exception, or a case running past :data:`HANG_SECONDS`, fails the test. The counts of loaded and
refused cases per door are printed at the end of the session (``tests/conftest.py``).
"""

from __future__ import annotations

import re
import signal
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streetlevel.analysis.benchmark import benchmark
from streetlevel.analysis.microdata import (
    SCHEMA,
    DecisionDataError,
    read_decisions,
    validate_decisions,
)
from streetlevel.errors import ExperimentError, ScenarioError, StreetlevelError
from streetlevel.experiments.spec import Experiment, load_experiment
from streetlevel.model.country import build_country
from streetlevel.scenario.loading import (
    load_scenario,
    parse_assignment,
    scenario_from_dict,
    scenario_to_toml,
    with_values,
)
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.data import COLUMNS, SurveyDataError, allowed_values, read_survey_csv
from tests import fuzz_strategies as fs
from tests.conftest import cli

pytestmark = pytest.mark.slow  # thousands of fuzzed files, every front door

SHA256_HEX_DIGITS = 64
HANG_SECONDS = 20
"""A case taking longer than this is a hang: the slowest door (an experiment that loads runs
a one-client-per-municipality probe) takes well under a second."""

settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,
    # Time per case is bounded by HANG_SECONDS; Hypothesis's deadline would turn the noise of a
    # shared CI machine into flaky failures.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("fuzz")

# Cases per door, chosen so that the whole file runs in about a minute on the 2-core CI
# machine (a minute and a half while other jobs share it): a scenario or --set case takes a
# few milliseconds, an experiment case up to ~50 ms (one that loads runs a probe), a decision
# case ~25 ms, a survey case ~5 ms.
SCENARIO_CASES = 1200
OVERRIDE_CASES = 500
EXPERIMENT_CASES = 400
DECISION_CSV_CASES = 400
DECISION_PARQUET_CASES = 250
SURVEY_CASES = 800


class HangError(Exception):
    """A case ran past HANG_SECONDS."""


@contextmanager
def bounded(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail a case that runs too long instead of waiting for it forever."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"a case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def names_place(message: str, where: str) -> bool:
    """Whether an error message names the key path ``where``, or, for a cross-check of a
    table, the table and the key: ``time: reporting_years.value must be at least 1`` names
    ``time.reporting_years.value``; ``categories[*].stock_share must sum to 1`` names
    ``categories[1].stock_share.value``."""
    if where in message:
        return True
    parts = re.findall(r"[^.\[\]]+", where)
    # A key that is a quoted name (a covariance's 'categories["match-3"].exit_other') is named
    # by the name itself, however the message quotes it.
    keys = [
        p.strip('"') for p in parts if not p.isdigit() and p not in ("*", "value", "unit", "source")
    ]
    return bool(keys) and all(re.search(rf"\b{re.escape(k)}\b", message) for k in keys)


def check_refusal(err: StreetlevelError, path: Path, mutant: fs.Mutant) -> None:
    message = str(err)
    assert str(path) in message, message
    if "not UTF-8" in message:
        assert re.search(r"\bline \d+", message), message
    if mutant.kind == "deep" and "nested too deep" in message:
        return  # refused before any key is read
    if mutant.where is not None:
        # A deleted region is reported where it is missed: at the municipality that names it
        # ("municipalities[1].region: unknown region 'Midtjylland' (expected one of ...)").
        missed_region = (
            mutant.kind == "delete"
            and re.fullmatch(r"regions\[\d+\]", mutant.where) is not None
            and re.search(r"municipalities\[\d+\]\.region: unknown region", message) is not None
        )
        assert names_place(message, mutant.where) or missed_region, (
            f"{mutant.where} not in: {message}"
        )
    if mutant.column is not None:
        assert mutant.column in message, f"column {mutant.column!r} not in: {message}"
    if mutant.row is not None:
        line = mutant.row + 1
        assert re.search(rf"\b(row {mutant.row}|line {line})\b", message), (
            f"row {mutant.row} not in: {message}"
        )


def assert_both_branches(door: str) -> None:
    counts = fs.COUNTS[door]
    assert counts["loaded"] > 0 and counts["refused"] > 0, f"{door}: {dict(counts)}"


# -- scenario files ----------------------------------------------------------------------------


def check_scenario(scenario: Scenario) -> None:
    """A scenario that validates is usable: it survives a round trip through TOML, and its
    country can be built with finite sizes (a tenth of a second at the most municipalities
    validation allows) and no numerical warning (pytest makes those errors)."""
    again = scenario_from_dict(tomllib.loads(scenario_to_toml(scenario)), "round trip")
    assert again == scenario
    country = build_country(scenario)
    assert country.n_municipalities == sum(r.municipalities.value for r in scenario.regions)
    assert np.isfinite(country.recipients).all() and (country.slots >= 1).all()


def try_door(
    door: str,
    path: Path,
    mutant: fs.Mutant,
    load: Callable[[Path], Any],
    error: type[StreetlevelError],
    check_loaded: Callable[[Any], None],
) -> None:
    """One case of a file door: write the mutant, load it (bounded in time), and check the
    refusal's message or what loaded; count which it was."""
    path.write_bytes(mutant.content)
    try:
        with bounded():
            loaded = load(path)
    except error as err:
        fs.count(door, "refused")
        check_refusal(err, path, mutant)
    else:
        fs.count(door, "loaded")
        check_loaded(loaded)


def test_scenario_files_load_or_fail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"

    @settings(FUZZ, max_examples=SCENARIO_CASES)
    @given(fs.scenario_mutant())
    def case(mutant: fs.Mutant) -> None:
        try_door("scenario", path, mutant, load_scenario, ScenarioError, check_scenario)

    case()
    assert_both_branches("scenario")


def test_overrides_load_or_fail_clearly() -> None:
    base = load_scenario("municipality-b")
    data, _ = fs.preset_data("municipality-b")
    paths = [fs.key_path(p) for p in fs._paths(data)]
    values = st.sampled_from(
        ("0.5", "-1", "nan", "inf", "1e400", "99999999999999999999", "true", "[1, 2]", "{a = 1}")
    ) | st.text(max_size=10)

    @settings(FUZZ, max_examples=OVERRIDE_CASES)
    @given(st.sampled_from(paths) | st.sampled_from(fs.BAD_KEYS) | st.text(max_size=20), values)
    def case(key: str, value: str) -> None:
        try:
            with bounded():
                path, parsed = parse_assignment(f"{key}={value}")
                scenario = with_values(base, {path: parsed}, "--set")
        except ScenarioError as err:
            fs.count("--set", "refused")
            message = str(err)
            assert message.startswith("--set"), message
            if key.strip() and "=" not in key:
                assert names_place(message, key.strip()), f"{key!r} not in: {message}"
        else:
            fs.count("--set", "loaded")
            check_scenario(scenario)

    case()
    assert_both_branches("--set")


# -- experiment files --------------------------------------------------------------------------


def check_experiment(experiment: Experiment) -> None:
    """A loaded experiment varies something and builds a sane scenario at a point."""
    assert experiment.factors
    assert len(experiment.fingerprint) == SHA256_HEX_DIGITS
    point = {f.name: f.labels[0] if f.range is None else f.range[0] for f in experiment.factors}
    check_scenario(experiment.scenario_at(point, "fuzz"))


def test_experiment_files_load_or_fail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "experiment.toml"

    @settings(FUZZ, max_examples=EXPERIMENT_CASES)
    @given(fs.experiment_mutant())
    def case(mutant: fs.Mutant) -> None:
        try_door("experiment", path, mutant, load_experiment, ExperimentError, check_experiment)

    case()
    assert_both_branches("experiment")


# -- decision data for `benchmark` -------------------------------------------------------------

_KINDS = {c.name: c.kind for c in SCHEMA}
_DTYPES = {"integer": "int64", "number": "float64", "flag": "bool"}


def check_decisions(frame: pd.DataFrame) -> None:
    """Loaded decision data has canonical dtypes, values in range, and validates again as is."""
    assert len(frame) > 0
    for column in SCHEMA:
        if column.name not in frame:
            assert not column.required, column.name
            continue
        values = frame[column.name]
        if column.kind in _DTYPES:
            assert str(values.dtype) == _DTYPES[column.kind], column.name
        else:
            assert isinstance(values.dtype, pd.CategoricalDtype), column.name
        if column.kind in ("integer", "number"):
            assert np.isfinite(values).all(), column.name
            if column.minimum is not None:
                assert (values >= column.minimum).all(), column.name
            if column.maximum is not None:
                assert (values <= column.maximum).all(), column.name
    pd.testing.assert_frame_equal(validate_decisions(frame), frame)


def check_benchmark(path: Path) -> None:
    """Data that loads can be benchmarked (the rest of ``streetlevel benchmark``): it runs to
    the end or refuses with the project's error, and a result has every municipality."""
    try:
        result = benchmark(path)
    except StreetlevelError as err:
        assert str(path) in str(err), str(err)
        return
    # Per full-year recipient (jobindsats): above 1 when spells are short, never negative.
    assert 0 <= result.national_rate < np.inf
    year = read_decisions(path).query("year == @result.year")
    assert set(result.risk_adjusted["municipality"]) == set(year["municipality"])


def checks_of_decisions(path: Path) -> Callable[[pd.DataFrame], None]:
    """What loaded decision data from ``path`` must pass: its frame, then the benchmark."""

    def check(frame: pd.DataFrame) -> None:
        check_decisions(frame)
        check_benchmark(path)

    return check


def test_decision_csv_files_load_or_fail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "decisions.csv"
    loaded = checks_of_decisions(path)

    @settings(FUZZ, max_examples=DECISION_CSV_CASES)
    @given(fs.decision_mutant())
    def case(mutant: fs.Mutant) -> None:
        try_door("decisions csv", path, mutant, read_decisions, DecisionDataError, loaded)

    case()
    assert_both_branches("decisions csv")


def test_decision_parquet_files_load_or_fail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "decisions.parquet"
    loaded = checks_of_decisions(path)

    @settings(FUZZ, max_examples=DECISION_PARQUET_CASES)
    @given(fs.parquet_mutant())
    def case(mutant: fs.Mutant) -> None:
        try_door("decisions parquet", path, mutant, read_decisions, DecisionDataError, loaded)

    case()
    assert_both_branches("decisions parquet")


# -- survey data for `survey --data` -----------------------------------------------------------


def test_survey_files_load_or_fail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "survey.csv"
    allowed = allowed_values()

    def check_survey(frame: pd.DataFrame) -> None:
        assert list(frame.columns) == list(COLUMNS) and len(frame) > 0
        for column in COLUMNS:
            assert frame[column].astype(str).isin(allowed[column]).all(), column

    @settings(FUZZ, max_examples=SURVEY_CASES)
    @given(fs.survey_mutant())
    def case(mutant: fs.Mutant) -> None:
        try_door("survey", path, mutant, read_survey_csv, SurveyDataError, check_survey)

    case()
    assert_both_branches("survey")


# -- the same doors through the command line ---------------------------------------------------


def _nasty_toml(text: str, number: str, key: str) -> dict[str, tuple[bytes, str]]:
    """Nested too deep, and a number set to NaN (``number`` is a line of ``text`` that sets
    ``key``); each with what the message must say."""
    assert number in text
    nan = text.replace(number, re.sub(r"= [0-9.]+", "= nan", number), 1)
    return {
        "deep.toml": (b"x = " + b"[" * fs.MAX_DEPTH + b"]" * fs.MAX_DEPTH + b"\n", "nested"),
        "nan.toml": (nan.encode("utf-8"), key),
    }


def _nasty_table(name: str) -> dict[str, tuple[bytes, str]]:
    """Not UTF-8, and NaN in the last row's second-last column; each with what the message
    must say."""
    header, rows = fs.table_rows(name, CLI_ROWS)
    bad_cell = [list(r) for r in rows]
    bad_cell[-1][-2] = "nan"
    return {
        "not-utf8.csv": (b"\xff" + fs.write_csv(header, rows), "UTF-8"),
        "bad-cell.csv": (fs.write_csv(header, bad_cell), f"row {CLI_ROWS}"),
    }


CLI_ROWS = 20
"""Rows of the shipped tables in the command-line cases."""


@pytest.mark.parametrize("door", ["run", "sweep", "benchmark", "survey"])
def test_cli_refuses_nasty_files(tmp_path: Path, door: str) -> None:
    """Nasty files through each command: exit status 2, a message on stderr naming the file
    and the place, no traceback, nothing written."""
    nasty = {
        "run": lambda: _nasty_toml(
            fs.preset_data("municipality-b")[1], "weeks_per_year = { value = 52,", "weeks_per_year"
        ),
        "sweep": lambda: _nasty_toml(
            fs.experiment_data()[1], "replications = 10", "experiment.replications"
        ),
        "benchmark": lambda: _nasty_table("example-decisions.csv"),
        "survey": lambda: _nasty_table("survey_example.csv"),
    }[door]()
    out = tmp_path / "out"
    for name, (content, place) in nasty.items():
        path = tmp_path / name
        path.write_bytes(content)
        if door == "survey":
            result = cli("survey", "--data", str(path))
        else:
            result = cli(door, str(path), "--out", str(out))
        assert result.returncode == 2, (name, result.returncode, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert name in result.stderr and place in result.stderr, result.stderr
        assert not out.exists(), name


# -- regressions: what the fuzz found, as plain examples -----------------------------------------


def test_toml_nested_too_deep_is_refused(tmp_path: Path) -> None:
    """Python's TOML parser recurses: nesting past the recursion limit raised RecursionError."""
    deep = b"x = " + b"[" * fs.MAX_DEPTH + b"]" * fs.MAX_DEPTH + b"\n"
    scenario, experiment = tmp_path / "scenario.toml", tmp_path / "experiment.toml"
    scenario.write_bytes(deep)
    experiment.write_bytes(deep)
    with pytest.raises(ScenarioError, match="nested too deep"):
        load_scenario(scenario)
    with pytest.raises(ExperimentError, match="nested too deep"):
        load_experiment(experiment)


def test_toml_with_byte_order_mark_loads(tmp_path: Path) -> None:
    """A BOM (Windows editors write one) was refused as "Invalid statement" at line 1."""
    path = tmp_path / "scenario.toml"
    path.write_bytes(fs.BOM + fs.preset_data("municipality-b")[1].encode("utf-8"))
    assert load_scenario(path) == load_scenario("municipality-b")
    experiment = tmp_path / "experiment.toml"
    experiment.write_bytes(fs.BOM + fs.experiment_data()[1].encode("utf-8"))
    assert load_experiment(experiment).spec.experiment.name == "route-norm-pressure"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("synthetic.population_mean", 0),
        ("synthetic.recipients_per_100_mean", 0.0),
        ("synthetic.population_log_sd", 1e6),
    ],
)
def test_synthetic_values_that_cannot_be_drawn_are_refused(key: str, value: float) -> None:
    """These validated, then building the country divided by zero or overflowed."""
    table, name = key.split(".")
    with pytest.raises(ScenarioError, match=rf"{table}: {name}\.value must be"):
        with_values(load_scenario("denmark-2011"), {key: value})


def test_population_spread_at_its_bound_builds_a_country() -> None:
    from streetlevel.scenario.schema import MAX_POPULATION_LOG_SD

    scenario = with_values(
        load_scenario("denmark-2011"), {"synthetic.population_log_sd": MAX_POPULATION_LOG_SD}
    )
    check_scenario(scenario)


def test_more_municipalities_than_the_engine_indexes_are_refused() -> None:
    """Municipalities are indexed with 16-bit integers: 40,000 validated and then wrapped
    round to negative indices, silently mixing municipalities up."""
    from streetlevel.scenario.schema import MAX_MUNICIPALITIES

    base = load_scenario("denmark-2011")
    others = sum(r.municipalities.value for r in base.regions[1:])
    at_limit = MAX_MUNICIPALITIES - others
    assert with_values(base, {"regions[0].municipalities": at_limit}).regions[0]
    with pytest.raises(ScenarioError, match=r"regions\[\*\]\.municipalities"):
        with_values(base, {"regions[0].municipalities": at_limit + 1})


def _decisions_csv(tmp_path: Path, change: Any = None) -> Path:
    header, rows = fs.table_rows("example-decisions.csv", CLI_ROWS)
    rows = [list(r) for r in rows]
    if change is not None:
        change(header, rows)
    path = tmp_path / "decisions.csv"
    path.write_bytes(fs.write_csv(header, rows))
    return path


def test_decisions_not_utf8_after_the_header_names_the_line(tmp_path: Path) -> None:
    """Bad bytes past the header line raised UnicodeDecodeError while looking for the line."""
    path = _decisions_csv(tmp_path)
    lines = path.read_bytes().split(b"\r\n")
    lines[5] = lines[5] + b"\xff"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DecisionDataError, match="line 6: not UTF-8"):
        read_decisions(path)


@pytest.mark.parametrize("cell", ["1e400", "99999999999999999999", "inf"])
def test_decisions_whole_numbers_beyond_int64_are_refused(tmp_path: Path, cell: str) -> None:
    """1e400 and 10**20 passed as whole numbers and wrapped round in int64."""

    def change(header: list[str], rows: list[list[str]]) -> None:
        rows[2][header.index("sanctions")] = cell

    with pytest.raises(DecisionDataError, match=r"row 3 \(line 4\), column 'sanctions'"):
        read_decisions(_decisions_csv(tmp_path, change))


def test_decisions_parquet_with_an_all_null_choice_column_is_refused(tmp_path: Path) -> None:
    """A choice column with no value at all raised IndexError."""
    table = fs.decision_table()
    c = table.column_names.index("category")
    path = tmp_path / "decisions.parquet"
    pq.write_table(table.set_column(c, "category", pa.nulls(table.num_rows, pa.string())), path)
    with pytest.raises(DecisionDataError, match="row 1, column 'category': missing value"):
        read_decisions(path)


def test_decisions_parquet_with_a_list_column_is_refused(tmp_path: Path) -> None:
    """A list column raised TypeError (unhashable numpy.ndarray)."""
    table = fs.decision_table()
    c = table.column_names.index("sex")
    lists = pa.array([[1]] * table.num_rows, pa.list_(pa.int64()))
    path = tmp_path / "decisions.parquet"
    pq.write_table(table.set_column(c, "sex", lists), path)
    with pytest.raises(DecisionDataError, match="'sex': lists or tables"):
        read_decisions(path)


def test_outcome_probe_of_one_week_years_lists_the_same_names() -> None:
    """load_experiment lists the outcomes with a probe run; it now runs without burn-in and
    with one-week years (200 years of 5,200 weeks took about ten minutes to check)."""
    from streetlevel.experiments.sweep import outcome_names

    for preset in ("denmark-2011", "norway-2010"):
        base = load_scenario(preset)
        short = with_values(base, {"time.burn_in_years": 0, "time.weeks_per_year": 1})
        assert outcome_names(short) == outcome_names(base)


@pytest.mark.parametrize(
    "key", ["time.weeks_per_year[x]", "time..weeks_per_year", "time.weeks_per_year.", ".time"]
)
def test_malformed_key_paths_are_refused(key: str) -> None:
    """A bad index or an empty key was dropped, so the value landed on another key."""
    with pytest.raises(ScenarioError, match=re.escape(f"--set: {key}: not a key path")):
        with_values(load_scenario("municipality-b"), {key: 4}, "--set")


@pytest.mark.parametrize("key", ["categories[99].absence[*]", "municipalities[x][*].name"])
def test_wildcard_behind_a_bad_index_is_refused(tmp_path: Path, key: str) -> None:
    """expand_key raised IndexError or ValueError on the part before the wildcard."""
    text = fs.experiment_data()[1].replace("pressure.ranking_published", key)
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExperimentError, match=re.escape(f"levers[2].values[0]: {key}: not a")):
        load_experiment(path)


FIELD_LIMIT = 131_072
"""The csv module's default field size limit (csv.field_size_limit())."""


@pytest.mark.parametrize("name", ["example-decisions.csv", "survey_example.csv"])
def test_unclosed_quote_in_a_large_table_names_its_line(tmp_path: Path, name: str) -> None:
    """A quote never closed ran on past the csv module's field limit: csv.Error escaped."""
    header, rows = fs.table_rows(name)
    rows = [list(r) for r in rows]
    content = fs.write_csv(header, rows)
    copies = FIELD_LIMIT // len(content) + 1
    rows = rows * copies
    rows[2][0] = "QUOTE"
    path = tmp_path / name
    path.write_bytes(fs.write_csv(header, rows).replace(b"QUOTE", b'"', 1))
    reader = read_decisions if name.startswith("example") else read_survey_csv
    with pytest.raises(StreetlevelError, match=r"line 4: field larger than field limit"):
        reader(path)


def test_survey_with_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    """The first of two columns of the same name was used, the other ignored."""
    header, rows = fs.table_rows("survey_example.csv", CLI_ROWS)
    path = tmp_path / "survey.csv"
    path.write_bytes(fs.write_csv([*header, "push"], [[*r, "very"] for r in rows]))
    with pytest.raises(SurveyDataError, match=re.escape("column(s) push given more than once")):
        read_survey_csv(path)


def test_devices_are_refused_not_read_forever() -> None:
    """/dev/zero passed the existence check of scenario and survey files and was read until
    memory ran out (decision and experiment files called it missing)."""
    endless = Path("/dev/zero")
    with bounded():
        with pytest.raises(ScenarioError, match="/dev/zero: not a regular file"):
            load_scenario(endless)
        with pytest.raises(SurveyDataError, match="/dev/zero: not a regular file"):
            read_survey_csv(endless)
        with pytest.raises(DecisionDataError, match="/dev/zero: not a regular file"):
            read_decisions(endless)
        with pytest.raises(ExperimentError, match="/dev/zero: not a regular file"):
            load_experiment(endless)


def test_experiment_messages_quote_odd_keys_and_say_a_bad_value_once(tmp_path: Path) -> None:
    """An empty level name was shown as ``levels..[key]``; a table where a value belongs was
    reported four times, once per type of the union (bool, int, float, str)."""
    data = fs._copy(fs.experiment_data()[0])
    levels = data["levers"][0]["levels"]
    levels[""] = levels.pop("caseworker")
    data["levers"][2]["values"] = [{"a": 1}, True]
    path = tmp_path / "experiment.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    lines = str(err.value).splitlines()
    assert lines[0].endswith("2 problem(s) in the experiment:")
    assert lines[1].startswith('  levers[0].levels."": String should have at least 1 character')
    assert lines[2] == (
        "  levers[2].values[0]: expected true or false, a number or text (got a table)"
    )


def test_a_mistyped_region_in_a_municipality_first_row_names_that_row(tmp_path: Path) -> None:
    """The first row of a municipality set its region, so a typo there blamed every other
    row of the municipality and not the one with the typo."""

    def change(header: list[str], rows: list[list[str]]) -> None:
        rows[0][header.index("region")] = "Hovedstaden"

    with pytest.raises(DecisionDataError) as err:
        read_decisions(_decisions_csv(tmp_path, change))
    assert str(err.value).endswith(
        "row 1 (line 2), column 'region': 'Hovedstaden' differs from the region of the "
        "municipality's other rows"
    )
