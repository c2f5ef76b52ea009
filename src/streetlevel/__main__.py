"""``python -m streetlevel`` runs the command line."""

from streetlevel.cli.app import main

main()
