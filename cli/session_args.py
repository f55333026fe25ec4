"""`fenix session start`'s repeatable options, parsed into the fields of the API's request body.

A malformed value is a usage error (exit 2) that names the expected form, raised before anything is sent.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from fenix.models.session import ActionType, ReplyWindows


def parse_hosts(values: list[str] | None) -> list[str]:
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


def parse_reply_windows(values: list[str] | None) -> dict[str, float]:
    windows: dict[str, float] = {}
    for raw in values or []:
        name, sep, seconds = raw.partition("=")
        key = name.strip().replace("-", "_")
        # Checked here as well as by the API: a usage error names the valid windows before anything is sent.
        if not sep or key not in ReplyWindows.model_fields:
            raise typer.BadParameter(f"{raw!r}: expected NAME=SECONDS with NAME one of "
                                     f"{', '.join(ReplyWindows.model_fields)}", param_hint="--reply-window")
        try:
            windows[key] = float(seconds)
        except ValueError:
            raise typer.BadParameter(f"{raw!r}: {seconds!r} is not a number of seconds",
                                     param_hint="--reply-window") from None
    return windows


def parse_actions(values: list[str] | None) -> list[dict[str, Any]]:
    types = ", ".join(t.value for t in ActionType)
    specs: list[dict[str, Any]] = []
    for raw in values or []:
        plugin, _, rest = raw.partition(":")
        kind, _, meta = rest.partition(":")
        if not plugin or kind not in {t.value for t in ActionType}:
            raise typer.BadParameter(f"{raw!r}: expected PLUGIN:TYPE[:JSON] with TYPE one of {types}",
                                     param_hint="--action")
        spec: dict[str, Any] = {"plugin": plugin, "type": kind}
        if meta:
            try:
                spec["metadata"] = json.loads(meta)
            except ValueError:
                raise typer.BadParameter(f"{raw!r}: the metadata after TYPE: must be a JSON object",
                                         param_hint="--action") from None
            if not isinstance(spec["metadata"], dict):
                raise typer.BadParameter(f"{raw!r}: the metadata must be a JSON object", param_hint="--action")
        specs.append(spec)
    return specs


def parse_metadata(values: list[str] | None) -> dict[str, str]:
    meta: dict[str, str] = {}
    for raw in values or []:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{raw!r}: expected KEY=VALUE", param_hint="--metadata")
        meta[key.strip()] = value
    return meta
