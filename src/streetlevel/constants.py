"""Constants that several layers share, each defined once.

Not model parameters (those live in scenario files, with unit and source): statistical
constants and the defaults of the library functions and of the commands that call them.
"""

from __future__ import annotations

__all__ = [
    "CALIBRATION_REPLICATIONS",
    "DASHBOARD_HOST",
    "DASHBOARD_PORT",
    "DEFAULT_REPLICATIONS",
    "DEFAULT_SEED",
    "DRAW_REPLICATIONS",
    "PARAMETER_DRAWS",
    "SIG_PRINTED_ZERO",
    "SURVEY_RESPONDENTS",
    "Z95",
]

Z95 = 1.959963984540054
"""The standard normal's 97.5th percentile: half a two-sided 95 % interval, in standard
errors (``scipy.stats.norm.ppf(0.975)``)."""

DEFAULT_SEED = 1
"""The root seed of a run, sweep, survey or calibration when none is given."""

DEFAULT_REPLICATIONS = 10
"""Replications of ``streetlevel run`` when none are given."""

SIG_PRINTED_ZERO = 0.0005
"""The two-sided p-value taken for a significance printed as ``,000`` (three decimals): the
largest p that rounds to it, so the standard error derived from it is an upper bound."""
SURVEY_RESPONDENTS = 477
"""Respondents of a simulated survey when none are given: DK's caseworkers with a minority
user in job placement in the past six months ([DK] 2011: 477 of 1,044 interviews)."""

CALIBRATION_REPLICATIONS = 4
"""Replications per simulated moment in a calibration (common random numbers) when none are
given."""

PARAMETER_DRAWS = 20
"""Parameter sets ``streetlevel validate`` draws from the calibrated parameters' sampling
distribution when none are given (``--parameter-draws``; 0 leaves parameter uncertainty out).
Twenty draws of :data:`DRAW_REPLICATIONS` replications cost about as much as the validation
run of 20 replications itself (docs/validation.md)."""

DRAW_REPLICATIONS = 2
"""Replications of each parameter draw of ``streetlevel validate`` (common random numbers:
the validation run's first seeds). Two is the fewest that measure the simulation noise of a
draw's mean apart from the parameters' effect."""

DASHBOARD_HOST = "127.0.0.1"
"""Only this machine can open the dashboard unless told otherwise."""

DASHBOARD_PORT = 8050
"""The dashboard's port (Dash's usual one)."""
