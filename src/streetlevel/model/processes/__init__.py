"""The weekly and yearly processes of docs/model.md section 3, one module each.

Each process is a function whose parameters name what it reads and writes: the client state
(:class:`~streetlevel.model.state.ClientState`), the municipalities and caseworkers
(:class:`~streetlevel.model.world.World`), the week's scratch
(:class:`~streetlevel.model.scratch.Scratch`), the coefficients
(:class:`~streetlevel.model.coefficients.Coefficients`), the random streams, the row log and
the week ``t``; its docstring lists the fields under "Reads", "Writes" and "Draws". The
engine (:data:`streetlevel.model.engine.WEEKLY`) calls them in order; no process imports the
engine or reads the scenario. Part of ``model``; may import its modules below the engine.
"""
