"""Analysis of tables: benchmarking municipalities as national databases do, funnel plots,
the schema of a user's own client-year data, and the HTML and PNG reports they share.

Reads tables (a run directory or a user's file), never live simulation objects. May import
``output``, ``model`` (codes and indicators) and ``scenario``.
"""
