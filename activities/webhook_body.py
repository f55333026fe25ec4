"""Webhook bodies: Fenix's native JSON envelope, and the AODH event-alarm shape Fenix-era VNFMs parse.

Fenix never called VNFMs itself: its oslo notification went through Ceilometer (payload fields become
*traits*) and AODH (an event alarm POSTs the event to the VNFM). :func:`aodh_body` builds what AODH
would have posted, so an unmodified Doctor VNFM works against a direct webhook:

- every trait value is a **string**; lists and dicts are JSON text (Doctor's VNFM loads any value
  containing ``[`` or ``{`` as YAML, and JSON is YAML), other non-strings are JSON scalars
  (``true``, ``3``), datetimes are Fenix's ``YYYY-MM-DD HH:MM:SS`` (UTC);
- ``None`` values are **omitted**, as Ceilometer drops traits without a value (so
  ``INSTANCE_ACTION_DONE`` carries no ``actions_at``/``reply_at`` traits);
- trait type is 1 (string) except ``actions_at`` and ``reply_at``: 4 (datetime), still string values.

Unlike a real Ceilometer trait, values are not cut at 255 characters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fenix.models.notification import NoticeEnvelope, Subscription, fenix_time

PUBLISHER_ID = "fenix"

# AODH/Ceilometer trait types.
TRAIT_NONE = 0
TRAIT_STRING = 1
TRAIT_INTEGER = 2
TRAIT_FLOAT = 3
TRAIT_DATETIME = 4

# The fields Ceilometer's event definitions declare as datetime traits (Doctor's set_config.py).
DATETIME_TRAITS = frozenset({"actions_at", "reply_at"})


def _utc(at: datetime) -> datetime:
    # A naive datetime is taken as UTC, which is what the engine uses everywhere.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def iso_utc(at: datetime) -> str:
    """ISO 8601 in UTC, e.g. ``2024-05-01T10:00:00+00:00``.

    Args:
        at: A datetime; naive ones are taken as UTC.

    Returns:
        The ISO 8601 text with an explicit ``+00:00`` offset.
    """
    return _utc(at).isoformat()


def trait_value(value: Any) -> str:
    """Render one payload value as an AODH trait value (always a string).

    Args:
        value: A payload field (not None: None traits are omitted by :func:`traits`).

    Returns:
        Strings as they are, datetimes in Fenix format (UTC), anything else as JSON text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return fenix_time(_utc(value)) or ""
    return json.dumps(value, default=str)


def traits(payload: dict[str, Any]) -> list[list[Any]]:
    """Turn a payload into AODH event traits ``[[name, type, value], ...]`` in the payload's order.

    Args:
        payload: The notice payload (Fenix field names).

    Returns:
        One ``[name, type_int, str_value]`` triple per non-None field.
    """
    return [
        [name, TRAIT_DATETIME if name in DATETIME_TRAITS else TRAIT_STRING, trait_value(value)]
        for name, value in payload.items()
        if value is not None
    ]


def native_body(env: NoticeEnvelope) -> dict[str, Any]:
    """The native webhook body: the oslo-notification-like envelope with the payload as-is.

    Args:
        env: The event to deliver.

    Returns:
        ``{"event_type", "message_id", "generated", "publisher_id", "priority", "payload"}``.
    """
    return {
        "event_type": env.event_type,
        "message_id": env.message_id,
        "generated": iso_utc(env.generated),
        "publisher_id": PUBLISHER_ID,
        "priority": "INFO",
        "payload": env.payload,
    }


def aodh_body(env: NoticeEnvelope, subscription: Subscription) -> dict[str, Any]:
    """The body an AODH event alarm would POST for this event.

    Args:
        env: The event to deliver.
        subscription: The subscription standing in for the AODH alarm (its id is the alarm id).

    Returns:
        ``{"alarm_name", "alarm_id", "severity", "previous", "current", "reason", "reason_data"}`` with
        ``reason_data = {"type": "event", "event": {..., "traits": [[name, type, value], ...]}}``.
    """
    project = subscription.project_id
    return {
        "alarm_name": f"fenix-{project}-{env.event_type}",
        "alarm_id": subscription.id,
        "severity": "low",
        # An event alarm with repeat_actions stays in "alarm"; "ok" reads better for a first firing
        # and no known VNFM looks at it.
        "previous": "ok",
        "current": "alarm",
        "reason": (f"Event <id={env.message_id},event_type={env.event_type}> hits the query "
                   f"<query=[event_type == {env.event_type}, project_id == {project}]>."),
        "reason_data": {
            "type": "event",
            "event": {
                "message_id": env.message_id,
                "event_type": env.event_type,
                "generated": iso_utc(env.generated),
                "traits": traits(env.payload),
                "raw": {},
                "message_signature": "",
            },
        },
    }


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            # Not JSON (e.g. Python repr text from a real Ceilometer): leave it as text.
            return value
    return value


def parse_aodh_body(body: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`aodh_body` for receivers: the traits back as a payload dict.

    Values starting with ``[`` or ``{`` are JSON-decoded (kept as text if that fails); all others,
    including ``actions_at``/``reply_at``, stay strings.

    Args:
        body: A decoded AODH-shaped webhook body.

    Returns:
        ``{trait_name: value}``. The event type and message id are in
        ``body["reason_data"]["event"]``.

    Raises:
        KeyError: If the body has no ``reason_data.event.traits``.
    """
    return {str(t[0]): _decode(t[2]) for t in body["reason_data"]["event"]["traits"]}
