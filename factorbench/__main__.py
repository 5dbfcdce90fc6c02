"""`python -m factorbench` is the `factorbench` command."""

from .cli import main

main()
