"""Scenarios: what a simulation is asked to simulate, as validated data.

Holds the parameter types that carry a value with its unit and source (``params``), the
schema of every section of a scenario file (``schema``), the one entry point that reads,
merges and validates files and presets (``loading``), and the presets themselves
(``presets/*.toml``). The lowest layer: imports nothing of streetlevel but ``errors`` and
``constants``.
"""
