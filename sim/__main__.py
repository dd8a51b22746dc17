"""`python -m sim` is the `simulate` command."""

from .cli import main

main()
