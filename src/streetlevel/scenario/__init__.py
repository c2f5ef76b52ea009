"""Scenarios: what a simulation is asked to simulate, as validated data.

Holds the parameter types that carry a value with its unit and source (``params``), the
schema of every section of a scenario file (``schema``), the one entry point that merges and
validates files and presets (``loading``) as ``sources`` reads them, the rules by which a
file inherits from its base (``inherit``), values by date resolved per calendar year
(``dates``), what ``streetlevel show`` prints (``show``, written by ``render``), and the
presets themselves (``presets/*.toml``). The lowest layer: imports nothing of streetlevel
but ``errors`` and ``constants``.
"""
