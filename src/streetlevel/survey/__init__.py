"""The caseworker survey of [DK]: asked of simulated caseworkers (``simulate``), read from a
user's own file (``data``), printed beside DK's table (``report``), and the indirect inference
that sets the per-proposal coefficients from DK's regression (``indirect``).

May import ``output``, ``model`` and ``scenario``.
"""
