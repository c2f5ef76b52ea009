"""The weekly and yearly processes of MODEL.md section 3, one module each.

Each process is a function ``process(sim)`` that reads and writes the simulation's arrays; the
engine (:data:`streetlevel.model.engine.WEEKLY`) calls them in order. Part of ``model``.
"""
