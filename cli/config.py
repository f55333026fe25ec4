"""The FENIX_* settings as a command sees them."""

from __future__ import annotations

from pydantic import ValidationError

from cli.output import fail
from fenix.settings import Settings


def load_settings() -> Settings:
    try:
        # Not the cached get_settings(): each command reads the environment as it is when it runs.
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"FENIX_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid setting: {problems}")
