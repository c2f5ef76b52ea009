"""The model: the country, its caseworkers and clients, and the weekly engine that steps them.

Holds the country and workforce drawn from a scenario (``country``, ``caseworkers``,
``attitudes``), the client state as arrays (``state``), the municipalities and caseworkers
as arrays (``world``), the week's masks (``scratch``), random streams (``streams``), the
scenario's numbers as the arrays the processes index (``coefficients``), the weekly and
yearly processes (``processes/``, one module each), the engine that calls them in order
(``engine``), the yearly tallies and indicators (``tally``, ``indicators``), and the codes
and the record sink through which rows leave (``codes``, ``sink``). May import ``scenario``;
knows nothing of files, tables or reports.
"""
