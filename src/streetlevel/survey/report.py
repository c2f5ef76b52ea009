"""The survey as SPSS would print it, next to DK's published table (``streetlevel survey``).

>>> import io
>>> from rich.console import Console
>>> from streetlevel.scenario.loading import load_scenario
>>> from streetlevel.survey.simulate import run_survey
>>> console = Console(width=140, record=True, file=io.StringIO())
>>> print_survey(run_survey(load_scenario("norway-2010"), replications=2), console)
>>> "Nagelkerke" in console.export_text()
True
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from streetlevel.model.attitudes import published_survey
from streetlevel.output.catalogue import SPREAD_PERCENTILES
from streetlevel.survey.sampling import Funnel
from streetlevel.survey.simulate import SurveyResult

__all__ = ["print_designs", "print_funnel", "print_survey"]


def _num(value: float, digits: int = 3) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f} %"


def print_survey(result: SurveyResult, console: Console) -> None:
    """Print the regression table, the fit figures and the bivariate tables."""
    survey = published_survey()
    many = result.replications > 1
    # Several simulated surveys: where one survey's figure falls; one (a user's): its CI.
    spread = SPREAD_PERCENTILES if many else "95 % CI"
    what = (
        f"{result.replications} simulated surveys of {result.n}, seed {result.seed}"
        if result.seed is not None
        else f"{result.scenario}: {result.n} respondents"
    )
    share = result.overruled_share()
    console.print(
        f"[bold]Overruled a minority client's job-placement proposal at least once[/]: "
        f"{_pct(share['mean'])} ({spread} {_pct(share['low'])} - {_pct(share['high'])}); "
        f"DK: {_pct(survey.overruled_share)} of {survey.respondents}"
    )
    labels = {c.name: c.label for c in survey.coefficients}
    published = {c.name: c for c in survey.coefficients}
    table = Table(title=f"Logistic regression ({what}) beside DK's published table")
    table.add_column("covariate")
    table.add_column("B" + (" (mean)" if many else ""), justify="right")
    table.add_column(spread, justify="right")
    table.add_column("Sig." + (" (median)" if many else ""), justify="right")
    table.add_column("Exp(B)", justify="right")
    table.add_column("DK B", justify="right")
    table.add_column("DK Sig.", justify="right")
    table.add_column("DK Exp(B)", justify="right")
    for c in result.coefficients():
        pub = published[c["name"]]
        table.add_row(
            labels[c["name"]],
            _num(c["mean"]),
            f"{_num(c['low'])} - {_num(c['high'])}",
            _num(c["sig"]),
            _num(float(2.718281828459045 ** c["mean"])),
            _num(pub.b),
            _num(pub.sig),
            _num(pub.exp_b),
        )
    names = {"minus_2ll": "-2 log likelihood", "cox_snell": "Cox & Snell R²",
             "nagelkerke": "Nagelkerke R²"}  # fmt: skip
    for key, fig in result.fit_figures().items():
        digits = 3
        table.add_row(
            names[key],
            _num(fig["mean"], digits),
            f"{_num(fig['low'], digits)} - {_num(fig['high'], digits)}" if many else "",
            "",
            "",
            _num(fig["published"], digits),
            "",
            "",
            style="italic",
        )
    console.print(table)
    bivariate = Table(title="Share who overruled, by answer (DK's bivariate tables)")
    for name in ("question", "answer", "n", "overruled", spread, "DK overruled", "DK n"):
        bivariate.add_column(name, justify="left" if name in ("question", "answer") else "right")
    for row in result.bivariate_rows():
        bivariate.add_row(
            row["question"],
            row["answer"],
            f"{row['n']:.0f}" if not many else f"{row['n']:.1f}",
            _pct(row["overruled_mean"]),
            f"{_pct(row['low'])} - {_pct(row['high'])}",
            _pct(row["published"]),
            str(row["published_n"]),
        )
    console.print(bivariate)
    reasons = result.reason_rows()
    if reasons:
        why = Table(title="Why they overruled (multiple choice, among those who overruled)")
        for name in ("reason", "named", spread, "DK"):
            why.add_column(name, justify="left" if name == "reason" else "right")
        for row in reasons:
            why.add_row(
                row["text"],
                _pct(row["mean"]),
                f"{_pct(row['low'])} - {_pct(row['high'])}",
                _pct(row["published"]),
            )
        console.print(why)
    if result.parameter_uncertainty:
        console.print(
            "[italic]Intervals include the uncertainty of DK's estimates: each B's SE from its "
            "printed Sig. through the Wald test (Sig. ,000 taken as p = 0.0005, a bound), the "
            "estimates treated as independent (DK publish no covariances).[/]"
        )


def print_funnel(funnel: Funnel, console: Console) -> None:
    """DK's sampling funnel, simulated beside published."""
    table = Table(title="Who was asked: DK's sampling funnel")
    for name in ("stage", "simulated", "DK"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for row in funnel.rows():
        table.add_row(str(row["stage"]), str(row["simulated"]), str(row["published"]))
    console.print(table)


def print_designs(rows: list[dict[str, float | str]], what: str, console: Console) -> None:
    """The observational survey and the vignette design against the true per-proposal effects."""
    table = Table(title=f"What each design recovers ({what})")
    for name in ("covariate", "true (per proposal)", "vignette", "SE", "survey B", "SE",
                 "survey B without correlation", "bias of DK's design"):  # fmt: skip
        table.add_column(name, justify="left" if name == "covariate" else "right")
    for r in rows:
        table.add_row(
            str(r["name"]),
            _num(float(r["true"])),
            _num(float(r["vignette"])),
            _num(float(r["vignette_se"])),
            _num(float(r["observational"])),
            _num(float(r["observational_se"])),
            _num(float(r["without_correlation"])),
            _num(float(r["bias"])),
        )
    console.print(table)
