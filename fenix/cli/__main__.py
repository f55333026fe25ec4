"""`python -m fenix.cli`, the same as the `fenix` console script."""

from fenix.cli import app

app(prog_name="fenix")
