"""Bounds on what tenants send: identifiers, free-form JSON, URLs (docs/security.md#limits).

Everything a tenant writes ends up in a workflow's input, an Update, a registry's state carried over
continue-as-new or a notice: Temporal refuses payloads over 2 MB, and a worker cannot decode JSON nested deeper
than its parser's recursion limit (a session with ~210 levels of `metadata` could never start nor be read). So
every field is bounded where it enters, at the API, with a 422 that says which bound.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# Ids of constraints (and the path segments naming them): what Nova, Keystone and Tacker use (UUIDs, names with
# dashes), and nothing that can hide in a log or a UI: no control characters (NUL, tab), no spaces, no bidi
# overrides. A letter or digit first, then letters, digits and `_ . : @ -`.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$"
ID_RE = re.compile(ID_PATTERN)
ID_RULE = "1 to 255 characters: letters, digits and _ . : @ -, starting with a letter or digit"

# Free-form JSON (session `metadata`, a plug-in's `metadata`): deep enough for any real use, far below the depth
# at which decoding fails, and small enough that a session's notices stay small.
MAX_JSON_DEPTH = 16
MAX_JSON_BYTES = 64 * 1024

# The practical URL limit of the URL specs and browsers (RFC 9110 recommends supporting at least 8000 octets; 2,000
# is what every client and proxy handles). A subscription is stored in a registry and copied into every delivery.
MAX_URL_LENGTH = 2000

# Lists a session body may hold.
MAX_HOSTS = 10_000
MAX_HOST_NAME = 255
MAX_ACTIONS = 100


def check_id(value: str) -> str:
    if not ID_RE.match(value):
        raise ValueError(f"must be {ID_RULE}")
    return value


ApiId = Annotated[str, AfterValidator(check_id), Field(description=ID_RULE, pattern=ID_PATTERN)]


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0), counted without recursion (the input may be hostile)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((c, depth + 1) for c in children)
    return deepest


def check_free_json(value: Any, what: str = "value") -> Any:
    """`value` if it is at most MAX_JSON_DEPTH deep and MAX_JSON_BYTES long as JSON, else ValueError."""
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{what} is nested {depth} levels deep; at most {MAX_JSON_DEPTH}")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{what} is {size} bytes as JSON; at most {MAX_JSON_BYTES}")
    return value


def bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = check_free_json(value, "metadata")
    return checked


FreeMetadata = Annotated[dict[str, Any], AfterValidator(bounded_metadata)]
