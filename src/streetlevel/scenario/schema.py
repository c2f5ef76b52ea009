"""The scenario schema: every section of a scenario file, validated by pydantic.

A scenario is data. It is read and validated at one entry point (:mod:`~.loading`);
everything downstream receives a valid :class:`Scenario` and never checks its input again.
Each field's docstring is what ``docs/scenarios.md`` explains to users.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streetlevel.scenario.params import (
    Caseload,
    Flag,
    Loading,
    LogOdds,
    Membership,
    Money,
    Municipalities,
    MunicipalityTable,
    People,
    Per100,
    Positive,
    Route,
    SanctionType,
    Seed,
    Share,
    Shift,
    StandardDeviation,
    SurveyAnswers,
    VarianceShare,
    WeeklyProbability,
    Weeks,
    YearlyChange,
    YearlyRate,
    Years,
    parameters,
    value_at,
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
    "PlacementSurvey",
    "Placements",
    "Pressure",
    "Reason",
    "Reasons",
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
    era: Annotated[str, Field(pattern=r"^(19|20)[0-9]{2}$")]
    """The calendar year of the first reporting year (e.g. ``"2011"``; a timeline's first year,
    ``"2006"``), in which dated values are resolved year by year. Era ``"2014"`` is Danish
    legislation after the 2014 reform: no passive category."""


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
    separate_benefit_office: Flag | None = None
    """Whether the cash-benefit office is an organisation of its own to which an activation
    project's attendance register can go (the 2007 law; true if absent): without it every
    absence is the caseworker's to decide, whatever a municipality's route."""


class Category(Section):
    """A match category (era 2011: 1-3) or readiness group (era 2014)."""

    name: Name
    label: str = ""
    stock_share: Share
    members: Membership | None = None
    """Who belongs (``by_share`` if absent); dated, it re-categorises clients on its date."""
    receives_offers: Flag
    attendance_register: Flag | None = None
    """Whether the category's offers are activation projects that keep an attendance
    register, which a municipality's route may send straight to the cash-benefit office
    (true if absent); otherwise absence from an offer is seen by the caseworker."""
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
    """Caseworkers: their caseloads, and how their latent strictness splits between the
    office's culture and their own disposition (:mod:`streetlevel.model.culture`)."""

    clients_per_caseworker: Caseload
    overload_threshold: Caseload
    caseload_dispersion: StandardDeviation
    strictness_sd: StandardDeviation
    highest_priority_share: Share | None = None
    """Share of caseworkers who give sanctions highest priority; with it, the weight of
    strictness in the decision follows from the decision's intercept (the highest-priority
    rule) instead of ``decision.caseworker.caseworker_strictness``."""
    culture_share: VarianceShare | None = None
    """Share of the variance of latent strictness that is the office's culture (0 if absent)."""
    culture_management: Loading | None = None
    """Correlation of an office's culture with its management strictness (0 if absent)."""


class Attitudes(Section):
    """Caseworker attitudes and roles (docs/model.md 2.3 and 7.13): a one-factor model whose answers
    reproduce a published survey's answer counts; its latent factor is the caseworker
    strictness of the sanction decision."""

    answers: SurveyAnswers
    loading: Loading
    """Loading of the attitudes about immigrants and minority clients on restrictiveness."""
    role_loading: Loading
    """Loading of the other answers (role, views of job placement and of equal service)."""
    follow_up_routines: Share
    restrictiveness_shift: Shift | None = None
    """How much more restrictive the answers of the country's caseworkers are than those of
    [DK]'s surveyed caseworkers: the latent restrictiveness behind the answers shifted by this
    many standard deviations (0 or none: DK's answer counts)."""


class Overrule(Section):
    """Per-proposal log-odds that the caseworker overrules a job-placement proposal (docs/model.md
    7.13): DK's covariates, chosen by indirect inference, not copied from the survey."""

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


class Reason(Section):
    """One attribute of a proposal that a caseworker may name as a reason for overruling it
    ([DK]'s multiple-choice question): how often a proposal has it, and how much it adds to
    the log-odds of overruling."""

    prevalence: Share
    weight: LogOdds


class Reasons(Section):
    """The three attributes behind DK's reasons for overruling (docs/model.md 7.13), drawn per
    proposal: a mismatch with the user's competences or ambitions, an employer with a bad
    record, and a placement unlikely to lead to employment."""

    mismatch: Reason
    employer: Reason
    prospects: Reason
    difficulty_attitude: LogOdds
    """Lever: log-odds by which the user-side attributes (mismatch, prospects) are more
    common per standard deviation of the caseworker's restrictiveness (offices that route
    difficult cases to particular caseworkers); 0 is DK's validity condition."""


class PlacementSurvey(Section):
    """How DK's survey reaches caseworkers (docs/survey.md): a lever on who answers."""

    response_restrictiveness: LogOdds
    """Log-odds of answering per standard deviation of restrictiveness (0: none)."""


class Placements(Section):
    """Job-placement proposals and the caseworker's decision on them (docs/model.md 7.13)."""

    proposal: WeeklyProbability
    majority_difference: LogOdds
    overrule: Overrule
    reasons: Reasons | None = None
    work_effect: Positive | None = None
    """Relative rise of the exit-to-work hazard after an approved placement (0.15 = +15 %)."""
    work_effect_weeks: Weeks | None = None
    """How long that rise lasts, from the week of approval."""
    approve_all: Flag | None = None
    """Counterfactual: every proposal approved (the gap attributable to overruling)."""
    survey: PlacementSurvey | None = None

    @model_validator(mode="after")
    def _effect_has_weeks(self) -> Placements:
        if (self.work_effect is None) != (self.work_effect_weeks is None):
            raise ValueError("placements: work_effect and work_effect_weeks go together")
        return self


class CaseworkerDecision(Section):
    """docs/model.md 7.8, route ``caseworker`` (CHM Figure 1)."""

    intercept: LogOdds
    management_strictness: LogOdds
    caseworker_strictness: LogOdds | None = None
    """The weight of latent strictness; omit it where ``caseworkers.highest_priority_share``
    sets it by the highest-priority rule."""
    problems: LogOdds
    overloaded: LogOdds
    first_breach: LogOdds


class BenefitOfficeDecision(Section):
    """docs/model.md 7.8, route ``benefit_office`` (CHM Figure 2)."""

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
    """Exit hazards beyond the per-category base rates (docs/model.md 7.10)."""

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
    """Regional rankings and the pressure they put on management (docs/model.md 7.12)."""

    ranking_published: Flag
    during_burn_in: Flag
    relaxation: YearlyRate | None = None
    """Share of the distance back to its own starting strictness that management goes in a
    year (0 if absent: pressure only ever tightens)."""
    signal: YearlyChange | None = None
    """National and regional signals on sanctioning, as a change of management strictness per
    year (0 if absent); dated in a timeline."""


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
    category_mix_concentration: Positive | None = None
    """How closely a drawn municipality's mix of categories follows the national stock shares:
    each share is multiplied by a Gamma draw of this shape and mean 1, then renormalised (a
    larger value, a closer mix); absent, every municipality has the national mix."""
    municipality_table: MunicipalityTable | None = None
    """Real municipalities in place of drawn ones: the unlisted municipalities of each region
    are the table's rows of that region, with the table's official code, name and population
    (not scaled to ``population_mean``); the rest of their organisation is drawn as for any
    unlisted municipality. Each region's count must then be its listed municipalities and
    the table's (absent: names and sizes are drawn, ``Syddanmark 13``)."""

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

    def _check_categories(self) -> None:
        """In every year a category's values change: the stock shares of the categories drawn
        by share sum to 1, and a category of another membership has no stock share."""
        dated = [
            p
            for c in self.categories
            for p in (c.stock_share, c.members)
            if p is not None and p.values is not None
        ]
        years = sorted({int(d[:4]) for p in dated for d in p.values or {}}) or [0]
        for year in years:
            total = 0.0
            for c in self.categories:
                share = value_at(c.stock_share, year)
                members = value_at(c.members, year) if c.members is not None else "by_share"
                if members == "by_share":
                    total += share
                elif share != 0:
                    when = f" in {year}" if year else ""
                    raise ValueError(
                        f"categories[{c.name!r}]: members = {members!r}{when} takes no "
                        f"clients by share; its stock_share must be 0, got {share:g}"
                    )
            if abs(total - 1.0) > SHARE_TOLERANCE:
                when = f" in {year}" if year else ""
                raise ValueError(
                    "categories[*].stock_share of the categories drawn by share must sum to 1"
                    f"{when}, got {total:.6g}"
                )
        attribute = [
            c.name
            for c in self.categories
            if c.members is not None
            and "under_30_low_education"
            in {c.members.value, *(v.value for v in (c.members.values or {}).values())}
        ]
        if len(attribute) > 1:
            raise ValueError(f"categories: at most one category by attributes, got {attribute}")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        weight = self.decision.caseworker.caseworker_strictness
        if (weight is None) == (self.caseworkers.highest_priority_share is None):
            raise ValueError(
                "give either decision.caseworker.caseworker_strictness (the weight of "
                "caseworker strictness) or caseworkers.highest_priority_share (which sets it "
                "by the highest-priority rule), not both or neither"
            )
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError(f"categories: names must be unique, got {names}")
        self._check_categories()
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
        self._check_table(regions)
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

    def _check_table(self, regions: dict[str, int]) -> None:
        """With ``synthetic.municipality_table``: its regions are the scenario's, and each
        region's count is its listed municipalities and the table's, none of them twice."""
        table = self.synthetic.municipality_table if self.synthetic is not None else None
        if table is None:
            return
        # Imported here: the table reader brings pandas and pyarrow, which a run's worker
        # processes should not pay for at start-up (docs/performance.md, "Worker start-up").
        from streetlevel.scenario.municipality_table import municipality_table, region_counts

        rows = municipality_table(table.value)
        where = f"synthetic.municipality_table {table.value!r}"
        unknown = sorted(set(region_counts(rows)) - set(regions))
        if unknown:
            raise ValueError(
                f"{where} has municipalities in {unknown}, which are not among the regions "
                f"(expected one of {sorted(regions)})"
            )
        both = sorted({m.name for m in self.municipalities} & {r.name for r in rows})
        if both:
            raise ValueError(f"municipalities: {both} are also in {where}; list each once")
        in_table = region_counts(rows)
        for name, count in regions.items():
            n_listed = sum(m.region == name for m in self.municipalities)
            if n_listed + in_table.get(name, 0) != count:
                raise ValueError(
                    f"regions: {name!r} has {count} municipalities, but {n_listed} are listed "
                    f"and {in_table.get(name, 0)} are in {where}"
                )

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
