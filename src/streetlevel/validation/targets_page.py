"""The published figures as a page: ``docs/targets.md``, built from ``data/targets.toml``.

The page is generated whole, never written by hand; ``tests/test_doc_tables.py`` fails when it
differs from what :func:`targets_markdown` prints. Refresh it with::

    python -m streetlevel.validation.targets_page --write docs/targets.md

>>> page = targets_markdown()
>>> "| `national_sanction_rate` |" in page and "CHM citing Caswell et al. 2011" in page
True
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streetlevel.output.catalogue import SPREAD_PREDICTION
from streetlevel.scenario.reference import markdown_cell
from streetlevel.validation.targets import ROLES, Target, load_targets

__all__ = ["COMMAND", "targets_markdown"]

COMMAND = "python -m streetlevel.validation.targets_page --write docs/targets.md"
"""The command that refreshes the page, named in the page and in the test's message."""

ROLE_MEANS = {
    "input": "read back from the scenario: shown, never counted as met",
    "fitted": "a moment a calibration set-up fits: a match shows the calibration reached it",
    "derived": "follows from fitted moments or from how the model is built",
    "check": "a figure the model is not built to fit, which it could miss",
}
"""What a match of each role shows (docs/validation.md, "Four tiers")."""

KIND_MEANS = {
    "share": f"the figure inside the simulated {SPREAD_PREDICTION}",
    "count": f"the figure inside the simulated {SPREAD_PREDICTION}",
    "ratio": f"the figure inside the simulated {SPREAD_PREDICTION}",
    "positive": "direction: the whole simulated interval above zero",
    "above": "direction: the whole simulated interval above the figure",
    "range": "the simulated mean inside the published range",
    "input": "a scenario parameter, read back",
    "not_modelled": "the model has no mechanism for it; shown with the reason",
}
"""How ``validate`` compares a target of each kind with the simulated figure."""


def _value(t: Target) -> str:
    shown = f"{t.low:g} to {t.high:g}" if t.value is None else f"{t.value:g}"
    if t.precision:
        shown += f" ± {t.precision:g}"
    if t.sample_size is not None:
        shown += f" (n = {t.sample_size})"
    return shown


def _notes(t: Target) -> list[str]:
    """What the table has no room for: why the role, precision and year, and the tolerance."""
    notes = [
        t.role_source or "",
        f"precision: {t.precision_source}" if t.precision_source else "",
        f"year: {t.year_source}" if t.year_source else "",
        f"not modelled: {t.reason}" if t.reason else "",
        f"read back from `{t.parameter}`" if t.parameter else "",
        f"acceptance band of the validation test: ± {t.tolerance:g}" if t.tolerance else "",
    ]
    return [n for n in notes if n]


def targets_markdown() -> str:
    """The whole page: every target with its value, role, what it is and its source."""
    targets = load_targets()
    lines = [
        "# Published figures (targets)",
        "",
        f"<!-- Built from src/streetlevel/data/targets.toml by `{COMMAND}`. -->",
        "",
        "Every figure a simulation is compared with, as the package holds it",
        "(`src/streetlevel/data/targets.toml`, read by `streetlevel.validation.targets`).",
        "`streetlevel validate PRESET` prints each one next to the simulated figure and its",
        "interval, for the presets it describes; [validation.md](validation.md) explains the",
        "rule and the four roles. Shares are fractions; `±` is half the last digit the figure",
        "was published to, by which the simulated interval is widened. The answer counts,",
        "bivariate tables and regression of DK's caseworker survey are in",
        "`src/streetlevel/data/survey_dk.toml` ([survey.md](survey.md)).",
        "",
        'Sources: [CHM] Caswell & Høybye-Mortensen (2015), "Responses from the frontline",',
        "*European Journal of Social Security*, and the studies they cite; [DK] Djuve & Kavli",
        '(2011), "Discretion and discrimination at street level"; the literature on the effects',
        "of sanctions, cited in full in [model.md](model.md).",
        "",
        "| role | what a match shows |",
        "|---|---|",
        *(f"| `{role}` | {ROLE_MEANS[role]} |" for role in ROLES),
        "",
        "| compared as | rule |",
        "|---|---|",
        *(f"| `{kind}` | {means} |" for kind, means in KIND_MEANS.items()),
    ]
    for role in ROLES:
        chosen = [t for t in targets if t.role == role]
        if not chosen:
            continue
        lines.extend(["", f"## {role.capitalize()} targets", ""])
        lines.append("| target | what it is | value | year | compared as | presets | source |")
        lines.append("|---|---|---|---|---|---|---|")
        for t in chosen:
            cells = [
                f"`{t.name}`",
                t.description,
                _value(t),
                str(t.year) if t.year is not None else "–",
                f"`{t.kind}`",
                ", ".join(t.presets),
                t.source,
            ]
            lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
        noted = [(t, _notes(t)) for t in chosen]
        if any(notes for _, notes in noted):
            lines.append("")
        for t, notes in noted:
            if notes:
                lines.append(f"- `{t.name}`: " + "; ".join(" ".join(n.split()) for n in notes))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the page, or ``--write`` it to a file."""
    parser = argparse.ArgumentParser(prog="python -m streetlevel.validation.targets_page")
    parser.add_argument("--write", type=Path, help="the page to write")
    args = parser.parse_args(argv)
    page = targets_markdown()
    if args.write is None:
        sys.stdout.write(page)
        return 0
    try:
        args.write.write_text(page, encoding="utf-8")
    except OSError as err:
        sys.stderr.write(f"error: {args.write}: {err.strerror or err}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
