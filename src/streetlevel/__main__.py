"""``python -m streetlevel`` runs the command line."""

from streetlevel.cli import main

main()
