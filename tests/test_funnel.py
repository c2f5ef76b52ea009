"""The generic funnel against the field's reference implementation, FunnelPlotR (NHS-R
community), and the ``funnel`` command's JSON and files.

Every reference number below is copied from FunnelPlotR at commit
9020d4972873d863e10b8a16555975f0e322adfc (github.com/nhs-r-community/FunnelPlotR); the file
it comes from is named beside it. None is computed with R here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
import typer
from typer.testing import CliRunner

from streetlevel.analysis.funnel_report import FunnelDataError, read_units
from streetlevel.analysis.outliers import ADJUSTMENTS, funnel, poisson_limits
from streetlevel.analysis.overdispersion import estimate, trimmed, z_scores

MEDPAR = Path(__file__).parent / "data" / "medpar.csv"


# tests/testthat/test-poisson_limits.R: calculate_limits at number_seq = 15, 20, 30, target 1.
@pytest.mark.parametrize(
    ("level", "digits", "low", "high"),
    [
        (0.95, (7, 6), [0.5596924, 0.6108260, 0.6746958], [1.649348, 1.544419, 1.427562]),
        (0.998, (7, 6), [0.3862650, 0.4479107, 0.5289724], [2.082907, 1.902094, 1.702771]),
    ],
)
def test_exact_poisson_limits_are_funnelplotrs(
    level: float, digits: tuple[int, int], low: list[float], high: list[float]
) -> None:
    got_low, got_high = poisson_limits([15.0, 20.0, 30.0], level)
    assert np.round(got_low, digits[0]).tolist() == low
    assert np.round(got_high, digits[1]).tolist() == high


def test_rows_of_a_unit_are_summed_as_funnelplotr_aggregates(tmp_path: Path) -> None:
    # tests/testthat/test-aggregate_fun.R: rr of groups a, b, c.
    path = tmp_path / "records.csv"
    path.write_text(
        "group,numerator,denominator\na,100,102\na,150,135\na,180,165\nb,89,95\nb,120,100\n"
        "c,225,220\n"
    )
    units = read_units(path, "group", "numerator", "denominator")
    ratio = units["observed"] / units["expected"]
    assert np.round(ratio, 6).tolist() == [1.069652, 1.071795, 1.022727]


# tests/testthat/test-outliers_func.R: a ratio on a limit is inside, beyond it outside.
RATIOS = np.array([1, 0.95, 1.05, 0.8, 1.2, 0.6, 1.4, 0.4, 1.6, 0])


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.9, 1.1, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]),
        (0.79, 1.21, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
        (0.59, 1.41, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
        (0.38, 1.62, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    ],
)
def test_the_outlier_rule_is_funnelplotrs(low: float, high: float, expected: list[int]) -> None:
    # The same comparison as outliers.funnel's flags.
    ratios = RATIOS
    assert ((ratios < low) | (ratios > high)).astype(int).tolist() == expected


@pytest.fixture(scope="module")
def medpar() -> pd.DataFrame:
    """FunnelPlotR's README example: length of stay per provider, observed against a Poisson
    GLM's prediction (README.md, "Summary of Use"), providers' expected counts rounded to 2
    decimals as its SHMI method does (SHMI_rounding, R/funnel_plot.R)."""
    data = pd.read_csv(MEDPAR, dtype={"provnum": str})
    model = smf.glm("los ~ hmo + died + age80 + C(type)", data, family=sm.families.Poisson())
    fit = model.fit()
    # README.md: the GLM's coefficients (intercept, type 2, type 3, hmo, died, age80).
    coefficients = [2.26875, 0.24921, 0.74869, -0.07637, -0.24574, -0.02141]
    assert np.round(np.asarray(fit.params), 5).tolist() == coefficients
    # README.md: "sum(mod$weights * mod$residuals^2)/mod$df.residual" is 6.240519.
    assert fit.pearson_chi2 / fit.df_resid == pytest.approx(6.240519, rel=1e-5)
    data["prds"] = fit.predict()
    units = data.groupby("provnum")[["los", "prds"]].sum().reset_index()
    units["prds"] = units["prds"].round(2)
    return units


def test_medpar_poisson_outliers_are_funnelplotrs(medpar: pd.DataFrame) -> None:
    # README.md: "A funnel plot object with 54 points of which 25 are outliers" (limit 99,
    # i.e. 99.8 %, unadjusted).
    result = funnel(medpar["provnum"], medpar["los"], medpar["prds"], overdispersion="none")
    assert len(result.units) == 54
    assert int(result.units["outside_998"].sum()) == 25


def test_medpar_shmi_outliers_are_funnelplotrs(medpar: pd.DataFrame) -> None:
    # README.md: "54 points of which 9 are outliers. Plot is adjusted for overdispersion"
    # (sr_method "SHMI", limit 99, draw_adjusted).
    result = funnel(
        medpar["provnum"], medpar["los"], medpar["prds"], method="shmi", overdispersion="additive"
    )
    assert int(result.units["outside_998_overdispersed"].sum()) == 9
    # Truncation leaves 10 % groups out at each end (R/od_adjustment.R, truncation()).
    assert result.dispersion.used < 54 and result.dispersion.phi > 1
    assert result.dispersion.tau2 > 0


def test_cqc_adjusted_limits_are_wider_than_the_unadjusted() -> None:
    # tests/testthat/test-funnel_plot.R's data: with over-dispersion, the adjusted 95 % lower
    # limit of unit 5 lies below the unadjusted one (expect_gt(b LCL95[5], a OD95LCL[5])).
    num = [100, 150, 180, 80, 120, 225]
    den = [108.0, 112.0, 165.0, 95.0, 100.0, 220.0]
    for method in ("shmi", "cqc"):
        result = funnel(list("abcdef"), num, den, method=method, overdispersion="additive")  # type: ignore[arg-type]
        assert result.dispersion.tau2 > 0, method
        row = result.units.iloc[4]
        assert row["limit_95_low"] > row["limit_95_low_overdispersed"], method


def test_winsorising_and_truncating_as_funnelplotr() -> None:
    z = np.arange(1.0, 21.0)
    # winsorisation(): values beyond R's type-7 10 % / 90 % quantiles pulled in to them.
    winsorised = trimmed("cqc", z)
    assert winsorised.min() == pytest.approx(np.quantile(z, 0.1))
    assert winsorised.max() == pytest.approx(np.quantile(z, 0.9))
    # truncation(): ranks grouped by floor(rank * 10 / (n + 1)); groups 0 and 9 dropped.
    kept = trimmed("shmi", z)
    assert np.isnan(kept).sum() == 2 + 2  # ranks 1-2 (group 0) and 19-20 (group 9)


def test_phi_is_about_the_winsorised_normal_under_chance() -> None:
    rng = np.random.default_rng(7)
    expected = rng.uniform(50, 500, 400)
    observed = rng.poisson(expected)
    d = estimate("cqc", observed, expected)
    # Winsorised at 10 %, the mean square of N(0, 1) z-scores is about 0.68 (sd of the mean
    # of 400 such squares: about 0.05).
    assert 0.55 < d.phi < 0.85
    assert d.tau2 == 0.0


@pytest.mark.parametrize("adjustment", ADJUSTMENTS)
def test_overdispersion_choices(adjustment: str) -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(200, 2000, 60).astype(float)
    p = np.clip(0.2 * rng.lognormal(0, 0.3, 60), 0, 0.9)
    observed = rng.binomial(n.astype(int), p)
    result = funnel(np.arange(60), observed, 0.2 * n * observed.sum() / (0.2 * n).sum(), n,
                    overdispersion=adjustment)  # type: ignore[arg-type]  # fmt: skip
    units = result.units
    assert result.adjustment == adjustment and not result.chosen
    inside = units["outside_998_overdispersed"].sum()
    if adjustment == "none":
        assert (units["limit_998_low_overdispersed"] == units["limit_998_low"]).all()
        assert inside == units["outside_998"].sum()
    else:
        # Over-dispersed by construction: the adjusted limits are wider and flag fewer.
        assert (units["limit_998_high_overdispersed"] > units["limit_998_high"]).all()
        assert inside < units["outside_998"].sum()


def test_z_scores_of_proportions_need_a_denominator() -> None:
    with pytest.raises(ValueError, match="denominator"):
        z_scores("proportion", [1.0], [2.0])


def _app() -> typer.Typer:
    from streetlevel.cli import analysis

    app = typer.Typer()
    app.command()(analysis.funnel)
    app.command("other")(lambda: None)  # two commands: the first is not the app itself
    return app


def test_the_command_prints_the_json_schema(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("office;obs;exp\nA;10;12,5\nB;30;15\nC;12;11\nD;40;41\n")
    done = CliRunner().invoke(
        _app(), ["funnel", str(path), "--unit", "office", "--observed", "obs",
                 "--expected", "exp", "--json", "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert set(data) == {"units", "overdispersion"}
    assert {"phi", "tau2"} <= set(data["overdispersion"])
    keys = {"unit", "observed", "expected", "ratio", "outside_95", "outside_998",
            "outside_95_overdispersed", "outside_998_overdispersed"}  # fmt: skip
    assert [set(u) for u in data["units"]] == [keys] * 4
    # The ";" file with a decimal comma: 12,5 is 12.5.
    assert data["units"][0]["expected"] == 12.5
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "funnel.csv",
        "funnel.png",
        "report.html",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("u,o\nA,1\n", "missing column(s) 'e'"),
        ("u,o,e\nA,x,2\n", "row 1 (line 2), column 'o': 'x' is not a number"),
        ("u,o,e\nA,1,2\nB,-1,2\n", "row 2 (line 3), column 'o': -1 is negative"),
        ("u,o,e\nA,1,0\n", "nothing expected for unit(s) 'A'"),
    ],
)
def test_a_bad_file_is_named_and_nothing_written(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "units.csv"
    path.write_text(text)
    with pytest.raises(FunnelDataError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_units(path, "u", "o", "e")
    done = CliRunner().invoke(
        _app(), ["funnel", str(path), "--unit", "u", "--observed", "o", "--expected", "e",
                 "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert done.exit_code != 0
    assert not (tmp_path / "out").exists()
