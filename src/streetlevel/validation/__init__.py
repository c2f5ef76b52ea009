"""Validation and calibration: the published figures as data (``targets``), every figure
next to the simulated one (``validate``), the check that the engine's sanction effect is
recovered from its own events (``effect_recovery``), and the calibration that fits the
parameters the studies do not give (``calibration``).

May import ``analysis``, ``survey``, ``output``, ``model`` and ``scenario``.
"""
