"""`python -m cli`, the same as the `fenix` console script."""

from cli import app

app(prog_name="fenix")
