"""The schema of the policy test cases (tests/policy_cases.py): a case file with a wrong key or
a comparison without a margin is refused, naming the file and the key, so that a check cannot
fall away unnoticed; and a margin is held to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_cases import CASES, CaseFileError, Expect, load_case

GOOD = """
name = "A case"
scenario = "municipality-a"
seed = 3
replications = 3

[variant]
"municipalities[0].absence_route" = "caseworker"

[[expect]]
indicator = "national_sanction_rate"
min = 0.25
max = 0.45
why = "a source"

[[expect]]
indicator = "national_sanction_rate"
variant = "lower"
margin = 0.02
why = "a reason"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(CaseFileError) as err:
        load_case(write(tmp_path, text))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'case.toml'}: ")
    return message


def test_the_shipped_cases_follow_the_schema() -> None:
    paths = sorted(CASES.glob("*.toml"))
    assert paths
    for path in paths:
        load_case(path)


def test_a_good_case_loads(tmp_path: Path) -> None:
    case = load_case(write(tmp_path, GOOD))
    assert [e.variant for e in case.expect] == [None, "lower"]
    assert case.expect[1].margin == pytest.approx(0.02)


def test_a_misspelled_key_in_expect_is_refused_naming_it(tmp_path: Path) -> None:
    message = refused(tmp_path, GOOD.replace("max = 0.45", "maxx = 0.45"))
    assert "expect[0].maxx: unknown key" in message
    assert "margin" in message  # the keys expected there


def test_a_misspelled_top_level_key_is_refused_naming_it(tmp_path: Path) -> None:
    message = refused(tmp_path, GOOD.replace("replications = 3", "replication = 3"))
    assert "replication: unknown key" in message
    assert "replications: missing" in message


@pytest.mark.parametrize("direction", ["lower", "higher"])
def test_a_comparison_without_a_margin_is_refused(tmp_path: Path, direction: str) -> None:
    text = GOOD.replace('variant = "lower"\nmargin = 0.02', f'variant = "{direction}"')
    message = refused(tmp_path, text)
    assert f'expect[1]: variant = "{direction}" needs a margin' in message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('variant = "lower"', 'variant = "below"'), "expect[1].variant"),
        (("margin = 0.02", "margin = 0.0"), "expect[1].margin"),
        (("margin = 0.02", "margin = -0.02"), "expect[1].margin"),
        (("min = 0.25", "min = 0.5"), "min 0.5 is above max 0.45"),
        (('\nwhy = "a reason"', ""), "expect[1].why: missing"),
        (("min = 0.25\nmax = 0.45\n", ""), "give min and/or max, or variant"),
        (("min = 0.25\n", 'variant = "lower"\nmargin = 0.1\n'), "not both"),
        (("seed = 3", 'seed = "3"'), "seed"),
    ],
)
def test_other_mistakes_are_refused(tmp_path: Path, change: tuple[str, str], problem: str) -> None:
    assert change[0] in GOOD
    assert problem in refused(tmp_path, GOOD.replace(*change, 1))


def test_a_comparison_needs_a_variant(tmp_path: Path) -> None:
    text = GOOD.replace('[variant]\n"municipalities[0].absence_route" = "caseworker"\n', "")
    assert "expect[1] compares with the variant, but the case has no [variant]" in refused(
        tmp_path, text
    )


def test_not_toml_is_refused(tmp_path: Path) -> None:
    assert "not valid TOML" in refused(tmp_path, GOOD + "\n[[expect]\n")


def test_the_margin_is_held_to() -> None:
    lower = Expect(indicator="x", variant="lower", margin=0.25, why="w")
    assert lower.check(0.75, 0.25) is None
    assert lower.check(0.75, 0.5) is None  # exactly the margin (binary fractions: no rounding)
    assert "variant 0.6250 against base 0.7500 (-0.1250) is not lower by at least 0.25" in str(
        lower.check(0.75, 0.625)
    )
    assert lower.check(0.75, 0.875) is not None
    higher = Expect(indicator="x", variant="higher", margin=0.25, why="w")
    assert higher.check(0.25, 0.5) is None
    assert higher.check(0.25, 0.375) is not None
    assert higher.check(0.25, 0.0) is not None
    bounded = Expect(indicator="x", min=0.1, why="w")
    assert bounded.check(0.2, None) is None
    assert "outside [0.1, inf]" in str(bounded.check(0.05, None))
    assert bounded.check(float("nan"), None) is not None
