"""The caseworker survey of [DK]: attitudes, proposals, the simulated survey and survey files.

Statistical checks use fixed seeds; each tolerance is derived from a sampling error and says
which one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from streetlevel.errors import ScenarioError
from streetlevel.model.attitudes import COVARIATES, published_survey
from streetlevel.model.caseworkers import Workforce
from streetlevel.model.country import build_country
from streetlevel.model.culture import individual_scale
from streetlevel.model.streams import Streams
from streetlevel.output.run import run_scenario
from streetlevel.scenario.loading import load_scenario, preset_text, scenario_from_dict, with_values
from streetlevel.scenario.schema import Overrule
from streetlevel.survey.data import COLUMNS, SurveyDataError, example_path, read_survey_csv
from streetlevel.survey.indirect import (
    binding_function,
    draw_frame,
    reason_shares,
    solve_theta,
    with_prevalence,
)
from streetlevel.survey.simulate import SurveyResult, run_survey
from tests.conftest import cli

Z = 1.959963984540054  # two-sided 95 %
Z_STRICT = 4.0  # for checks of exact-in-expectation properties over large simulated samples
REPLICATIONS = 100
SURVEY = published_survey()


@pytest.fixture(scope="module")
def norway():  # type: ignore[no-untyped-def]
    return load_scenario("norway-2010")


@pytest.fixture(scope="module")
def repeated(norway) -> SurveyResult:  # type: ignore[no-untyped-def]
    """100 surveys of 477, seed 1 (about 4 s)."""
    return run_survey(norway, n=SURVEY.respondents, replications=REPLICATIONS, seed=1)


# -- attitudes ------------------------------------------------------------------------------


def test_marginals_reproduce_the_answer_counts(norway) -> None:  # type: ignore[no-untyped-def]
    """Answer shares over 10 simulated countries (about 40,000 caseworkers) match DK's counts
    within 4 simulation standard errors of each share."""
    country = build_country(norway)
    workforce, _ = Workforce.draw(norway, country, Streams(3, list(range(10))))
    for q in SURVEY.questions:
        codes = workforce.attitudes.answers[q.key].ravel()
        n = len(codes)
        for code, share in enumerate(q.shares()):
            got = float(np.mean(codes == code))
            tol = Z_STRICT * np.sqrt(share * (1 - share) / n)
            assert abs(got - share) <= tol, (q.key, q.labels[code], got, share)


def test_restrictive_attitudes_go_together(norway) -> None:  # type: ignore[no-untyped-def]
    """The two attitudes about minorities correlate positively, as the loading says; a zero
    loading makes them independent (correlation within 4 SE of 0)."""
    country = build_country(norway)
    for loading, positive in ((norway.attitudes.loading.value, True), (0.0, False)):
        s = with_values(norway, {"attitudes.loading": loading, "attitudes.role_loading": 0.0})
        wf, _ = Workforce.draw(s, country, Streams(4, list(range(5))))
        a = wf.attitudes.answers
        stricter = (a["immigration_policy"] == 2).ravel()
        disagree = np.isin(a["minority_motivated"], [2, 3]).ravel()
        r = np.corrcoef(stricter, disagree)[0, 1]
        if positive:
            assert r > Z_STRICT / np.sqrt(len(stricter))
        else:
            assert abs(r) < Z_STRICT / np.sqrt(len(stricter))


def test_strictness_is_the_latent_factor_and_unchanged_without_attitudes() -> None:
    """A Danish caseworker's own strictness is F * strictness_sd * sqrt(1 - culture_share),
    draw for draw the same as a scenario without [attitudes] (the answers come from a child
    stream); the office's part is model/culture.py's."""
    s = load_scenario("municipality-b")
    data = s.model_dump(mode="json", exclude_none=True)
    data.pop("attitudes")
    bare = scenario_from_dict(data)
    country = build_country(s)
    with_att, slots_a = Workforce.draw(s, country, Streams(5, [0, 1]))
    without, slots_b = Workforce.draw(bare, country, Streams(5, [0, 1]))
    np.testing.assert_array_equal(with_att.strictness, without.strictness)
    np.testing.assert_array_equal(slots_a, slots_b)
    scale = individual_scale(s.caseworkers)
    assert s.caseworkers.culture_share is not None
    assert scale == pytest.approx(
        s.caseworkers.strictness_sd.value * np.sqrt(1 - s.caseworkers.culture_share.value)
    )
    np.testing.assert_array_equal(
        with_att.strictness, (with_att.attitudes.factor * scale).astype(np.float32)
    )
    assert with_att.attitudes.answers and not without.attitudes.answers


def test_overrule_keys_are_dk_covariates() -> None:
    assert list(Overrule.model_fields) == ["intercept", *COVARIATES]
    assert [c.name for c in SURVEY.coefficients] == [*COVARIATES, "constant"]


# -- the simulated survey -------------------------------------------------------------------


def test_overall_share_over_replications(repeated: SurveyResult) -> None:
    """35.9 % ± 4 points (the issue's tolerance), mean over 100 surveys of 477."""
    assert abs(repeated.overruled_share()["mean"] - SURVEY.overruled_share) <= 0.04


def test_nagelkerke_of_published_size(repeated: SurveyResult) -> None:
    """Nagelkerke R² 0.23 ± 0.05 (the issue's tolerance) at n = 477, mean over surveys."""
    assert abs(repeated.fit_figures()["nagelkerke"]["mean"] - SURVEY.nagelkerke) <= 0.05


def test_bivariate_tables_within_sampling_error(repeated: SurveyResult) -> None:
    """Each of DK's bivariate shares lies within its 95 % sampling error
    (1.96 sqrt(p (1 - p) / n) with DK's n) of the simulated mean over 100 surveys."""
    for row in repeated.bivariate_rows():
        p, n = row["published"], row["published_n"]
        tol = Z * np.sqrt(p * (1 - p) / n)
        assert abs(row["overruled_mean"] - p) <= tol, row


def test_coefficients_recovered_at_large_n(norway) -> None:  # type: ignore[no-untyped-def]
    """With n = 50,000 every fitted B is within ±0.15 of DK's (the issue's tolerance)."""
    result = run_survey(norway, n=50_000, replications=1, seed=2)
    for c in result.coefficients():
        assert abs(c["mean"] - c["published"]) <= 0.15, c


def test_indirect_inference_solves_the_binding_function(norway) -> None:  # type: ignore[no-untyped-def]
    """The solved per-proposal coefficients reproduce DK's B through the binding function, and
    differ from them where the number of proposals matters: the caseload effect per proposal
    is smaller than DK's survey-level 1.159 (busier caseworkers have more proposals)."""
    frame = draw_frame(norway, 20_000, seed=3)
    target = np.array([SURVEY.b()[k] for k in (*COVARIATES, "constant")])
    solution = solve_theta(frame)
    k = len(target)
    theta, frame = solution[:k], with_prevalence(frame, solution[k:])
    np.testing.assert_allclose(binding_function(theta, frame, target), target, atol=1e-6)
    shares = [r.share for r in SURVEY.reasons]  # fitted beside B by the prevalences
    np.testing.assert_allclose(reason_shares(theta, frame), shares, atol=1e-6)
    assert theta[COVARIATES.index("over_250_users")] < target[COVARIATES.index("over_250_users")]
    assert theta[-1] < target[-1]  # one proposal is overruled less often than "at least once"


def test_same_seed_same_survey(norway) -> None:  # type: ignore[no-untyped-def]
    a = run_survey(norway, n=200, replications=2, seed=9).to_dict()
    b = run_survey(norway, n=200, replications=2, seed=9).to_dict()
    assert a == b


# -- the engine's proposals -----------------------------------------------------------------


def test_engine_records_placement_decisions(tmp_path: Path, norway) -> None:  # type: ignore[no-untyped-def]
    """A small norway-2010 run writes placement events; minority clients' proposals are
    overruled more often than majority clients' (their caseworkers' attitudes about
    minorities weigh on them only), by more than 4 standard errors of the difference."""
    s = with_values(norway, {"scale.client_scale": 0.05, "placements.proposal": 0.01})
    out = run_scenario(s, seed=1, replications=1, out=tmp_path / "run").out
    ev = pq.read_table(out / "events.parquet").to_pandas()
    placed = ev[ev.event == "placement"]
    assert len(placed) > 1000
    assert set(placed.outcome.astype(str)) == {"approved", "overruled"}
    cy = pq.read_table(out / "client_years.parquet").to_pandas()
    minority = cy.drop_duplicates(["replication", "client_id"]).set_index("client_id")["minority"]
    overruled = placed.outcome.astype(str) == "overruled"
    is_min = placed.client_id.map(minority).astype(bool)
    p1, p0 = overruled[is_min].mean(), overruled[~is_min].mean()
    se = np.sqrt(p1 * (1 - p1) / is_min.sum() + p0 * (1 - p0) / (~is_min).sum())
    assert p1 - p0 > Z_STRICT * se


def test_placements_need_attitudes() -> None:
    data = load_scenario("norway-2010").model_dump(mode="json", exclude_none=True)
    data.pop("attitudes")
    with pytest.raises(ScenarioError, match=r"placements: .*\[attitudes\]"):
        scenario_from_dict(data, "test")


def test_one_capital_only() -> None:
    assert "capital = { value = true" in preset_text("norway-2010")
    data = load_scenario("norway-2010").model_dump(mode="json", exclude_none=True)
    extra = dict(data["municipalities"][0], name="Bergen", region="Rest of Norway")
    data["municipalities"].append(extra)
    with pytest.raises(ScenarioError, match="at most one capital"):
        scenario_from_dict(data, "test")


# -- survey files and the command line ------------------------------------------------------


def test_example_file_reads_and_round_trips(tmp_path: Path) -> None:
    frame = read_survey_csv(example_path())
    assert list(frame.columns) == list(COLUMNS)
    copy = tmp_path / "copy.csv"
    frame.to_csv(copy, index=False)
    pd.testing.assert_frame_equal(read_survey_csv(copy), frame)


def test_bad_value_names_row_and_column(tmp_path: Path) -> None:
    lines = example_path().read_text().splitlines()
    cells = lines[3].split(",")
    cells[COLUMNS.index("push")] = "sometimes"
    lines[3] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SurveyDataError, match=r"row 3 \(line 4\), column push: 'sometimes'"):
        read_survey_csv(bad)
    result = cli("survey", "--data", str(bad))
    assert result.returncode == 2
    assert "row 3 (line 4), column push" in result.stderr


def test_a_quoted_line_break_moves_the_lines_named_after_it(tmp_path: Path) -> None:
    """A quoted cell holding a line break spans two lines: later rows' lines move down."""
    lines = example_path().read_text().splitlines()
    for row, value in ((1, '"never\nreally"'), (3, "sometimes")):
        cells = lines[row].split(",")
        cells[COLUMNS.index("push")] = value
        lines[row] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SurveyDataError) as err:
        read_survey_csv(bad)
    assert "row 1 (line 2), column push" in str(err.value)
    assert "row 3 (line 5), column push: 'sometimes'" in str(err.value)


def test_missing_column_is_named(tmp_path: Path) -> None:
    frame = read_survey_csv(example_path()).drop(columns=["oslo"])
    path = tmp_path / "no_oslo.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(SurveyDataError, match=r"missing column.*oslo"):
        read_survey_csv(path)


def test_survey_data_command() -> None:
    result = cli("survey", "--data", str(example_path()), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n"] == SURVEY.respondents and data["replications"] == 1
    # One survey: a 95 % confidence interval around each B.
    for c in data["coefficients"]:
        assert c["low"] < c["mean"] < c["high"]


@pytest.mark.slow
def test_survey_json_keys() -> None:
    result = cli("survey", "norway-2010", "--n", "300", "--replications", "3", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"n", "replications", "overruled_share", "coefficients", "fit", "bivariate",
                         "design", "parameter_uncertainty", "reasons"}  # fmt: skip
    assert data["parameter_uncertainty"] is True
    assert [r["reason"] for r in data["reasons"]] == ["mismatch", "employer", "prospects"]
    assert set(data["overruled_share"]) == {"mean", "low", "high"}
    assert len(data["coefficients"]) == len(COVARIATES) + 1
    for c in data["coefficients"]:
        assert set(c) == {"name", "published", "mean", "low", "high"}
    assert set(data["fit"]) == {"minus_2ll", "cox_snell", "nagelkerke"}
    for b in data["bivariate"]:
        assert set(b) == {"question", "answer", "n", "overruled_mean", "low", "high"}
    assert data["n"] == 300 and data["replications"] == 3


def test_survey_needs_placements() -> None:
    result = cli("survey", "municipality-b")
    assert result.returncode == 2
    assert "[placements]" in result.stderr
