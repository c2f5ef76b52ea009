"""Output: running a scenario end to end and what a run leaves on disk.

Holds the run itself, batched over processes (``run``), the executor that runs any
independent jobs on local processes or a Dask cluster (``executor``, where present), the
recorder that streams rows to Parquet (``recorder``, ``parquet``), atomic files
(``files``), one writer per directory (``locking``), size guards (``sizing``) and the run
summary read back from the tables (``summary``). May import ``model`` and ``scenario``.
"""
