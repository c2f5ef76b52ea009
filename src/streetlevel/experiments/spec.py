"""Experiment files: the schema, and the one entry point that reads and validates them.

An experiment names a base scenario, the *levers* (what policy chooses) and *uncertainties*
(what we do not know) that vary over it, a design that says which combinations are run, the
replications of each, and the *outcomes* kept (EMA Workbench's vocabulary). A factor sets one
or more scenario key paths, written as for ``streetlevel run --set``; ``[*]`` stands for every
entry of a list (``municipalities[*].absence_route``). A factor is one of:

- ``key``/``keys`` with ``values``: a list of values, each set on every key;
- ``key``/``keys`` with ``range = [low, high]``: a number drawn by the design (rounded when
  the parameter is a whole number);
- ``levels``: named levels, each a table of key paths and the values it sets.

>>> experiment = load_experiment(example_path())
>>> experiment.spec.experiment.name, [f.name for f in experiment.factors]
('route-norm-pressure', ['route', 'norm', 'pressure'])
>>> experiment.assignments({"route": "caseworker", "norm": "have_to", "pressure": False})[
...     "municipalities[1].absence_route"]
'caseworker'
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from streetlevel.errors import ExperimentError, ScenarioError
from streetlevel.output.run import outcome_names
from streetlevel.scenario.loading import (
    expand_key,
    explain,
    load_scenario,
    parse_toml,
    read_user_text,
    scenario_hash,
    with_values,
)
from streetlevel.scenario.schema import Name, Scenario, Section

__all__ = [
    "DESIGNS",
    "Design",
    "Experiment",
    "ExperimentFile",
    "ExperimentMeta",
    "Factor",
    "example_path",
    "expand_key",
    "experiment_path",
    "load_experiment",
    "shipped_experiments",
]

DESIGNS = ("full_factorial", "latin_hypercube", "sobol", "morris")
RESERVED_COLUMNS = ("point", "replication", "seed")
"""Columns of the results store that a factor or outcome must not be named."""
MAX_SEED = 2**63 - 1

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
"""A factor's name is a column of the results: lower case, digits and underscores."""
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ExperimentMeta(Section):
    """What the experiment is, what it varies, and how often each point is replicated."""

    name: Name
    description: str = ""
    scenario: Name
    """A preset name, or a scenario file (relative to the experiment file)."""
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)]
    replications: Annotated[int, Field(ge=1, le=100_000)]
    common_random_numbers: bool = False
    """Every point uses the experiment's seed (its replications share random streams across
    points), instead of a seed of its own drawn from the experiment's seed."""


class Design(Section):
    """Which points are run: every combination, or a sample drawn with SALib."""

    kind: Literal["full_factorial", "latin_hypercube", "sobol", "morris"]
    samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    """latin_hypercube: points; sobol: base samples N (a power of 2); morris: trajectories."""
    second_order: bool = False
    """sobol only: also sample for second-order indices (N x (2D + 2) points, not N x (D + 2))."""
    grid_levels: Annotated[int, Field(ge=2, le=100)] = 4
    """morris only: levels of the grid the trajectories move on (even)."""
    uncertainty_samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    """full_factorial only: cross every combination of the levers' levels with this many Latin
    hypercube draws of the uncertainties (the same draws for every combination)."""

    @model_validator(mode="after")
    def _check(self) -> Design:
        if self.kind != "full_factorial" and self.uncertainty_samples is not None:
            raise ValueError(
                f"uncertainty_samples is used by a full_factorial design only, not {self.kind}"
            )
        if self.kind == "full_factorial" and self.samples is not None:
            raise ValueError("samples is not used by a full_factorial design; remove it")
        if self.kind != "full_factorial" and self.samples is None:
            raise ValueError(f"samples is required by a {self.kind} design")
        n = self.samples or 0
        if self.kind == "sobol" and n & (n - 1):
            raise ValueError(f"samples must be a power of 2 in a sobol design, got {n}")
        if self.kind == "morris" and self.grid_levels % 2:
            raise ValueError(f"grid_levels must be even in a morris design, got {self.grid_levels}")
        return self


class Factor(Section):
    """A lever or an uncertainty: the scenario keys it sets and the values they take."""

    name: Identifier
    description: str = ""
    key: Name | None = None
    keys: Annotated[list[Name], Field(min_length=1)] | None = None
    values: Annotated[list[Scalar], Field(min_length=1)] | None = None
    range: Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)] | None = None
    levels: Annotated[dict[Name, dict[Name, Scalar]], Field(min_length=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_levels(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("levels"), dict):
            levels = {
                label: _flatten(pairs) if isinstance(pairs, dict) else pairs
                for label, pairs in data["levels"].items()
            }
            data = {**data, "levels": levels}
        return data

    @model_validator(mode="after")
    def _check(self) -> Factor:
        given = [k for k in ("values", "range", "levels") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"factor '{self.name}' needs exactly one of values, range, levels "
                f"(got {', '.join(given) or 'none'})"
            )
        named = [k for k in ("key", "keys") if getattr(self, k) is not None]
        if self.levels is not None and named:
            raise ValueError(f"factor '{self.name}': levels name their own keys; remove {named[0]}")
        if self.levels is None and len(named) != 1:
            raise ValueError(f"factor '{self.name}' needs exactly one of key, keys")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"factor '{self.name}': range must be [low, high] with low < high")
        if self.values is not None and len({json.dumps(v) for v in self.values}) < len(self.values):
            raise ValueError(f"factor '{self.name}': values must differ")
        return self

    @property
    def discrete(self) -> bool:
        """Whether the factor takes one of a list of levels (values or named levels)."""
        return self.range is None

    @property
    def labels(self) -> list[Scalar]:
        """What the results store records for each level: the value, or the level's name."""
        if self.levels is not None:
            return list(self.levels)
        return list(self.values or [])

    def targets(self) -> list[str]:
        return [self.key] if self.key is not None else list(self.keys or [])


class ExperimentFile(Section):
    """The whole file: ``[experiment]``, ``[design]``, ``[constants]``, ``[[levers]]``,
    ``[[uncertainties]]``, ``outcomes``."""

    experiment: ExperimentMeta
    design: Design
    constants: dict[Name, Scalar] = Field(default_factory=dict)
    """Key paths set in the base scenario for every point (e.g. a smaller client scale)."""
    levers: list[Factor] = Field(default_factory=list)
    uncertainties: list[Factor] = Field(default_factory=list)
    outcomes: list[Name] = Field(default_factory=list)
    """Indicators kept per replication (names as in ``streetlevel run --json``); empty: all."""

    @model_validator(mode="before")
    @classmethod
    def _flatten_constants(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("constants"), dict):
            data = {**data, "constants": _flatten(data["constants"])}
        return data

    @model_validator(mode="after")
    def _check(self) -> ExperimentFile:
        factors = [*self.levers, *self.uncertainties]
        if not factors:
            raise ValueError("levers, uncertainties: the experiment varies nothing; add a factor")
        names = [f.name for f in factors]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"levers, uncertainties: factor names must differ: {repeated}")
        reserved = sorted(set(names) & {*RESERVED_COLUMNS, *self.outcomes})
        if reserved:
            raise ValueError(
                f"levers, uncertainties: {reserved} name a column of the results "
                f"({', '.join(RESERVED_COLUMNS)} or an outcome)"
            )
        if self.design.kind == "full_factorial":
            crossed = self.design.uncertainty_samples is not None
            ranged = [f.name for f in (self.levers if crossed else factors) if not f.discrete]
            if ranged:
                raise ValueError(
                    f"design.kind: a full_factorial design needs values or levels, but "
                    f"{ranged} have a range"
                    + ("" if crossed else " (or set design.uncertainty_samples for uncertainties)")
                )
            if crossed and not self.uncertainties:
                raise ValueError("design.uncertainty_samples: the experiment has no uncertainties")
        return self


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its file, the base scenario, and where it came from."""

    spec: ExperimentFile
    base: Scenario
    origin: str

    @property
    def factors(self) -> list[Factor]:
        """Levers, then uncertainties: the columns of the design, in order."""
        return [*self.spec.levers, *self.spec.uncertainties]

    @property
    def fingerprint(self) -> str:
        """A SHA-256 of what the results depend on: the file's content (not where it lies)
        and the resolved base scenario."""
        data = self.spec.model_dump(mode="json")
        data["experiment"].pop("scenario")
        data["experiment"].pop("description")
        text = json.dumps(data, sort_keys=True) + scenario_hash(self.base)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def assignments(self, point: dict[str, Any]) -> dict[str, Any]:
        """Key paths and values that turn the base scenario into a point's scenario.

        ``point`` maps each factor's name to its level label or (range) number.
        """
        data = self.base.model_dump(mode="json", exclude_none=True)
        out: dict[str, Any] = {}
        for factor in self.factors:
            label = point[factor.name]
            if factor.levels is not None:
                pairs = list(factor.levels[str(label)].items())
            else:
                pairs = [(key, label) for key in factor.targets()]
            for key, value in pairs:
                for path in expand_key(data, key):
                    out[path] = value
        return out

    def whole(self, factor: Factor) -> bool:
        """Whether every key a range factor sets holds a whole number (weeks, people, ...):
        its drawn values are then rounded."""
        data = self.base.model_dump(mode="json", exclude_none=True)
        values = [
            _value_at(data, path) for key in factor.targets() for path in expand_key(data, key)
        ]
        return bool(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)

    def scenario_at(self, point: dict[str, Any], label: str) -> Scenario:
        """The base scenario with a point's values set; each changed source says ``label``."""
        return with_values(self.base, self.assignments(point), label)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Key paths from TOML tables: an unquoted dotted key (``synthetic.rural = 0.4``) is a
    nested table to TOML, and means the same as the quoted ``"synthetic.rural" = 0.4``.

    >>> _flatten({"synthetic": {"rural": 0.4}, "time.burn_in_years": 1})
    {'synthetic.rural': 0.4, 'time.burn_in_years': 1}
    """
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, path))
        else:
            out[path] = value
    return out


EXAMPLE = "route-norm-pressure"
"""The shipped experiment the README and the dashboard's run view use."""


def shipped_experiments() -> dict[str, Path]:
    """The experiment files shipped with streetlevel, by name (their file name without
    ``.toml``), so that ``streetlevel sweep route-norm-pressure`` works from any directory,
    as a preset's name does for ``run``.

    >>> sorted(shipped_experiments())[:2]
    ['overruling-gap', 'pressure-response']
    """
    folder = resources.files("streetlevel") / "experiments"
    return {
        entry.name.removesuffix(".toml"): Path(str(entry))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    }


def example_path(name: str = EXAMPLE) -> Path:
    """The file of a shipped experiment (default: route x norm x pressure)."""
    shipped = shipped_experiments()
    if name not in shipped:
        raise ExperimentError(
            f"{name}: not an experiment shipped with streetlevel (expected one of "
            f"{', '.join(shipped)})"
        )
    return shipped[name]


def experiment_path(source: str | Path) -> Path:
    """``source`` as a file: a path, or the name of a shipped experiment when no file of
    that name exists (a file in the working directory wins, as for scenarios)."""
    path = Path(source)
    if not path.exists() and str(source) in shipped_experiments():
        return shipped_experiments()[str(source)]
    return path


def load_experiment(source: str | Path) -> Experiment:
    """Read and validate an experiment file (or a shipped experiment, by name); its base
    scenario and every value it sets.

    Raises:
        ExperimentError: naming the file, the key path and what was expected, for every
            problem at once.
    """
    path = experiment_path(source)
    text = read_user_text(path, str(path), ExperimentError, "no such experiment file")
    data = parse_toml(text, str(path), ExperimentError)
    origin = str(path)
    try:
        spec = ExperimentFile.model_validate(data)
    except ValidationError as err:
        raise ExperimentError(explain(err, origin, ExperimentFile, "the experiment")) from None
    base = _base_scenario(spec.experiment.scenario, path.parent, origin)
    if spec.constants:
        try:
            base = with_values(base, spec.constants, f"experiment {spec.experiment.name} constants")
        except ScenarioError as err:
            raise ExperimentError(f"{origin}: constants: {err}") from None
    experiment = Experiment(spec, base, origin)
    problems = [*_check_values(experiment), *_check_outcomes(experiment)]
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ExperimentError(f"{origin}: {len(problems)} problem(s) in the experiment:\n{lines}")
    return experiment


def _base_scenario(name: str, folder: Path, origin: str) -> Scenario:
    candidate = folder / name
    try:
        return load_scenario(candidate if candidate.is_file() else name)
    except ScenarioError as err:
        raise ExperimentError(f"{origin}: experiment.scenario: {err}") from None


def _check_values(experiment: Experiment) -> list[str]:
    """Every value a factor can set must exist and validate in the base scenario."""
    problems = []
    data = experiment.base.model_dump(mode="json", exclude_none=True)
    for group in ("levers", "uncertainties"):
        for i, factor in enumerate(getattr(experiment.spec, group)):
            where = f"{group}[{i}]"
            trials: list[tuple[str, dict[str, Any]]] = []
            if factor.levels is not None:
                for label, pairs in factor.levels.items():
                    trials.append((f"{where}.levels.{label}", dict(pairs)))
            elif factor.values is not None:
                for j, value in enumerate(factor.values):
                    trials.append((f"{where}.values[{j}]", {k: value for k in factor.targets()}))
            else:
                assert factor.range is not None
                for j, bound in enumerate(factor.range):
                    trials.append((f"{where}.range[{j}]", {k: bound for k in factor.targets()}))
            for label, pairs in trials:
                expanded = {p: v for k, v in pairs.items() for p in expand_key(data, k)}
                if factor.range is not None and experiment.whole(factor):
                    expanded = {p: round(v) for p, v in expanded.items()}
                try:
                    with_values(experiment.base, expanded, label)
                except ScenarioError as err:
                    message = str(err).removeprefix(f"{label}: ")
                    problems.append(f"{label}: {message}".replace("\n", "\n  "))
    return problems


def _value_at(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    try:
        for part in re.findall(r"[^.\[\]]+", path):
            node = node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return node.get("value") if isinstance(node, dict) else node


def _check_outcomes(experiment: Experiment) -> list[str]:
    if not experiment.spec.outcomes:
        return []
    # The names depend on the categories, the listed municipalities, the era and the number
    # of reporting years, not on the burn-in or the length of a year: a probe without burn-in
    # and with one-week years lists the same names, and takes at most a few hundred weeks
    # however long the scenario's years are.
    short = {"time.burn_in_years": 0, "time.weeks_per_year": 1}
    known = outcome_names(with_values(experiment.base, short, "outcome probe"))
    return [
        f"outcomes[{i}]: unknown outcome {name!r} (expected one of: {', '.join(known)})"
        for i, name in enumerate(experiment.spec.outcomes)
        if name not in known
    ]
