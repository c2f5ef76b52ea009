"""The scenario schema: every section of a scenario file, validated by pydantic.

A scenario is data. It is read and validated at one entry point (:mod:`~.loading`);
everything downstream receives a valid :class:`Scenario` and never checks its input again.
Each field's docstring is what ``docs/scenarios.md`` explains to users.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streetlevel.scenario.params import (
    Caseload,
    Flag,
    Loading,
    LogOdds,
    Money,
    Municipalities,
    People,
    Per100,
    Positive,
    Route,
    SanctionType,
    Seed,
    Share,
    StandardDeviation,
    SurveyAnswers,
    WeeklyProbability,
    Weeks,
    Years,
    parameters,
)

__all__ = [
    "Attendance",
    "Attitudes",
    "BenefitOfficeDecision",
    "CaseworkerDecision",
    "Caseworkers",
    "Category",
    "Clients",
    "Decision",
    "Exits",
    "Legislation",
    "LegitimateReason",
    "Meetings",
    "Meta",
    "Municipality",
    "Offers",
    "Overrule",
    "Placements",
    "Pressure",
    "Region",
    "Sanctions",
    "Scale",
    "Scenario",
    "Synthetic",
    "Time",
]

Name = Annotated[str, Field(min_length=1, max_length=200)]
SHARE_TOLERANCE = 1e-6  # rounding slack when shares written with a few decimals must sum to 1
MAX_MUNICIPALITIES = 2**15 - 1
"""The engine indexes municipalities with 16-bit integers; more would wrap round silently."""
MAX_POPULATION_LOG_SD = 3.0
"""Spread of the drawn municipalities' log population: 3 is already a twenty-fold factor per
standard deviation (a real country's is below 1); beyond it the draws, scaled to the mean,
leave almost every municipality with no one, and far beyond it they overflow."""
UNDATED_SECTIONS = (
    "time",
    "scale",
    "caseworkers",
    "attitudes",
    "placements",
    "regions",
    "municipalities",
    "synthetic",
)
"""Sections read once, when a run starts: the run's length and scale, the country, its
caseworkers and their attitudes. A value by date there would never take effect, so it is
refused (the engine rebuilds the rest at the start of a year in which a dated value changes)."""


class Section(BaseModel):
    """A table of a streetlevel TOML file: unknown keys, coercion and mutation refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Meta(Section):
    """What the scenario is."""

    name: Name
    description: str = ""
    country: Name
    era: Literal["2010", "2011", "2014"]
    """Danish legislation of 2011 (match categories) or 2014 (no passive category); 2010 is
    Norway's NAV in the year of the [DK] survey (no Danish category rules)."""


class Time(Section):
    """How long a run is: burn-in years are simulated but not reported."""

    weeks_per_year: Weeks
    burn_in_years: Years
    reporting_years: Years

    @model_validator(mode="after")
    def _some_reporting(self) -> Time:
        if self.reporting_years.value < 1:
            raise ValueError("reporting_years.value must be at least 1")
        return self


class Scale(Section):
    """Clients simulated per real recipient (1 = the real country; 0.1 for quick looks)."""

    client_scale: Positive


class Legislation(Section):
    """The national rules: the sanction type, the benefit and the legal individual assessment."""

    sanction_type: SanctionType
    benefit: Money
    deduction_weeks: Weeks
    individual_assessment: Flag


class Category(Section):
    """A match category (era 2011: 1-3) or readiness group (era 2014)."""

    name: Name
    label: str = ""
    stock_share: Share
    receives_offers: Flag
    activation_degree: Share
    problems: Share
    absence: LogOdds
    exit_work: WeeklyProbability
    exit_other: WeeklyProbability
    exit_unknown: WeeklyProbability


class Clients(Section):
    """Client attributes (shares of all recipients)."""

    age_under_30: Share
    age_50_plus: Share
    male: Share
    low_education: Share
    minority: Share

    @model_validator(mode="after")
    def _ages(self) -> Clients:
        if self.age_under_30.value + self.age_50_plus.value > 1 + SHARE_TOLERANCE:
            raise ValueError("age_under_30 + age_50_plus must not exceed 1")
        return self


class Attendance(Section):
    """The absence model: log-odds of being absent from an obligation in a week."""

    intercept: LogOdds
    problems: LogOdds
    age_under_30: LogOdds
    age_50_plus: LogOdds
    male: LogOdds
    low_education: LogOdds
    motivation: LogOdds
    perceived_risk: LogOdds
    repeat_reduction: Share


class LegitimateReason(Section):
    """Whether an absence has a legitimate reason, and whether that reason is documented."""

    intercept: LogOdds
    problems: LogOdds
    documented: Share


class Offers(Section):
    """Active offers (activation projects)."""

    mean_duration: Weeks


class Meetings(Section):
    """Jobcentre meetings and their timeliness."""

    interval: Weeks
    timely_intercept: LogOdds
    timely_per_100_clients: LogOdds


class Caseworkers(Section):
    """Caseworkers, their caseloads and (until the attitude model) their latent strictness."""

    clients_per_caseworker: Caseload
    overload_threshold: Caseload
    caseload_dispersion: StandardDeviation
    strictness_sd: StandardDeviation


class Attitudes(Section):
    """Caseworker attitudes and roles (MODEL.md 2 and 7.2): a one-factor model whose answers
    reproduce a published survey's answer counts; its latent factor is the caseworker
    strictness of the sanction decision."""

    answers: SurveyAnswers
    loading: Loading
    """Loading of the attitudes about immigrants and minority clients on restrictiveness."""
    role_loading: Loading
    """Loading of the other answers (role, views of job placement and of equal service)."""
    follow_up_routines: Share


class Overrule(Section):
    """Per-proposal log-odds that the caseworker overrules a job-placement proposal (MODEL.md
    7.2): DK's covariates, chosen by indirect inference, not copied from the survey."""

    intercept: LogOdds
    stricter_immigration: LogOdds
    disagrees_motivated: LogOdds
    push_very_important: LogOdds
    income_not_important: LogOdds
    negative_view: LogOdds
    clerk: LogOdds
    equal_participation: LogOdds
    equal_outcomes: LogOdds
    follow_up_routines: LogOdds
    seniority_2: LogOdds
    seniority_3: LogOdds
    seniority_4: LogOdds
    oslo: LogOdds
    over_250_users: LogOdds


class Placements(Section):
    """Job-placement proposals and the caseworker's decision on them (MODEL.md 7.2)."""

    proposal: WeeklyProbability
    majority_difference: LogOdds
    overrule: Overrule


class CaseworkerDecision(Section):
    """MODEL.md 7.1, route ``caseworker`` (CHM Figure 1)."""

    intercept: LogOdds
    management_strictness: LogOdds
    caseworker_strictness: LogOdds
    problems: LogOdds
    overloaded: LogOdds
    first_breach: LogOdds


class BenefitOfficeDecision(Section):
    """MODEL.md 7.1, route ``benefit_office`` (CHM Figure 2)."""

    intercept: LogOdds
    management_strictness: LogOdds


class Decision(Section):
    """The two sanction decisions."""

    caseworker: CaseworkerDecision
    benefit_office: BenefitOfficeDecision


class Sanctions(Section):
    """Re-compliance after a periodical sanction."""

    recompliance: WeeklyProbability


class Exits(Section):
    """Exit hazards beyond the per-category base rates (MODEL.md 7.4)."""

    duration_decay: Share
    duration_decay_years: Years
    post_effect: Positive
    post_effect_weeks: Weeks
    unknown_while_sanctioned: Positive

    @model_validator(mode="after")
    def _spells_end(self) -> Exits:
        if self.duration_decay.value >= 1 and self.duration_decay_years.value > 0:
            raise ValueError(
                "duration_decay.value must be below 1: a decay of 1 stops all exits after a "
                "year, and spells would never end"
            )
        return self


class Pressure(Section):
    """Regional rankings and the pressure they put on management (MODEL.md 7.3)."""

    ranking_published: Flag
    during_burn_in: Flag


class Region(Section):
    """A regional authority and the number of municipalities it ranks."""

    name: Name
    municipalities: Municipalities


class Municipality(Section):
    """A municipality given explicitly (e.g. CHM's Municipality A and B)."""

    name: Name
    region: Name
    population: People
    recipients_per_100: Per100
    rural: Flag
    absence_route: Route
    management_strictness: Share
    pressure_response: Positive
    clients_per_caseworker: Caseload | None = None
    capital: Flag | None = None
    note: str = ""


class Synthetic(Section):
    """Distributions from which the municipalities not listed by name are drawn."""

    seed: Seed
    population_mean: People
    population_log_sd: StandardDeviation
    recipients_per_100_mean: Per100
    recipients_per_100_sd: StandardDeviation
    rural: Share
    benefit_office_route: Share
    management_strictness_mean: Share
    management_strictness_concentration: Positive
    pressure_response: Positive

    @model_validator(mode="after")
    def _drawable(self) -> Synthetic:
        for name in ("population_mean", "recipients_per_100_mean"):
            if getattr(self, name).value <= 0:
                raise ValueError(
                    f"{name}.value must be above 0: municipalities are drawn around it"
                )
        if self.population_log_sd.value > MAX_POPULATION_LOG_SD:
            raise ValueError(
                f"population_log_sd.value must be at most {MAX_POPULATION_LOG_SD:g}, got "
                f"{self.population_log_sd.value:g}"
            )
        return self


class Scenario(Section):
    """A whole scenario file."""

    scenario: Meta
    time: Time
    scale: Scale
    legislation: Legislation
    categories: Annotated[list[Category], Field(min_length=1, max_length=20)]
    clients: Clients
    attendance: Attendance
    legitimate_reason: LegitimateReason
    offers: Offers
    meetings: Meetings
    caseworkers: Caseworkers
    attitudes: Attitudes | None = None
    decision: Decision
    sanctions: Sanctions
    exits: Exits
    placements: Placements | None = None
    pressure: Pressure
    regions: Annotated[list[Region], Field(min_length=1)]
    municipalities: list[Municipality] = []
    synthetic: Synthetic | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError(f"categories: names must be unique, got {names}")
        total = sum(c.stock_share.value for c in self.categories)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(f"categories[*].stock_share must sum to 1, got {total:.6g}")
        if self.scenario.era == "2014":
            passive = [c.name for c in self.categories if not c.receives_offers.value]
            if passive:
                raise ValueError(
                    f"categories: era 2014 has no passive category, but {passive} "
                    "have receives_offers = false"
                )
        regions = {r.name: r.municipalities.value for r in self.regions}
        if len(regions) != len(self.regions):
            raise ValueError("regions: names must be unique")
        listed = [m.name for m in self.municipalities]
        if len(set(listed)) != len(listed):
            raise ValueError("municipalities: names must be unique")
        for i, m in enumerate(self.municipalities):
            if m.region not in regions:
                raise ValueError(
                    f"municipalities[{i}].region: unknown region {m.region!r} "
                    f"(expected one of {sorted(regions)})"
                )
        for name, count in regions.items():
            n_listed = sum(m.region == name for m in self.municipalities)
            if n_listed > count:
                raise ValueError(
                    f"regions: {name!r} has {count} municipalities but {n_listed} are listed"
                )
            if n_listed < count and self.synthetic is None:
                raise ValueError(
                    f"regions: {name!r} has {count} municipalities, {n_listed} listed and no "
                    "[synthetic] section to draw the rest from"
                )
        if sum(regions.values()) == 0:
            raise ValueError("regions: the country has no municipalities")
        if sum(regions.values()) > MAX_MUNICIPALITIES:
            raise ValueError(
                f"regions[*].municipalities: {sum(regions.values())} municipalities in all, "
                f"at most {MAX_MUNICIPALITIES}"
            )
        if self.placements is not None and self.attitudes is None:
            raise ValueError(
                "placements: job-placement decisions need caseworker attitudes, but the "
                "scenario has no [attitudes] section"
            )
        capitals = [m.name for m in self.municipalities if m.capital and m.capital.value]
        if len(capitals) > 1:
            raise ValueError(
                f"municipalities[*].capital: at most one capital, got {len(capitals)}: {capitals}"
            )
        return self

    @model_validator(mode="after")
    def _dated_where_they_take_effect(self) -> Scenario:
        for path, param in parameters(self):
            if param.values is not None and path[0] in UNDATED_SECTIONS:
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
                others = ", ".join(f"[{s}]" for s in UNDATED_SECTIONS if s != path[0])
                raise ValueError(
                    f"{where[1:]}: values by date are not allowed in [{path[0]}]: it is read "
                    f"once, when a run starts (as are {others})"
                )
        return self
