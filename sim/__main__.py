"""`python -m sim` is the `simulate` command."""

from sim.cli.main import main

main()
