"""Dated values: parameters whose value changes on given dates, resolved per calendar year.

(A stub until dated values land: no scenario has them yet.)
"""

from __future__ import annotations

from streetlevel.scenario.schema import Scenario

__all__ = ["at_year", "change_years"]


def change_years(scenario: Scenario) -> list[int]:
    """The calendar years at whose start some dated value of ``scenario`` changes."""
    return []


def at_year(scenario: Scenario, year: int) -> Scenario:
    """``scenario`` with every dated parameter at its value in force on 1 January ``year``."""
    return scenario
