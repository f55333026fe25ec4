"""Webhook signatures, the Standard Webhooks way (https://www.standardwebhooks.com).

Every delivery carries `webhook-id` (the notice's message id, the same on every retry), `webhook-timestamp` (Unix
seconds when it was sent) and `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where
the key is the subscription's secret `whsec_<base64 key>` without its prefix. After a rotation, and for
FENIX_WEBHOOK_SECRET_GRACE_S, the previous secret signs too (space-separated signatures), so a VNFM can switch
without refusing a notice.

Where the secrets live: nowhere. A subscription's secret is derived, HMAC-SHA256(signing key, subscription id and
its rotation count), from one server-side key (FENIX_WEBHOOK_SIGNING_KEY, or a key file made on first use in the
data dir). So no secret enters a workflow's history, a registry query or a log, the delivery activity needs no
lookup, and the subscription registry needed no change. Only rotations are stored: a count per rotated subscription
in a small SQLite file in the data dir (no secret in it), which the API writes and the workers read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from fenix.settings import Settings

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300  # the replay window a receiver should allow (Standard Webhooks' recommendation)
_DERIVE_LABEL = b"fenix webhook secret v1"


class InvalidSignature(Exception):
    """A delivery that does not verify (receivers answer it 401)."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret_keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(f"{SIGNATURE_VERSION},{base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode()}"
                    for k in secret_keys)


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> None:
    """Check a delivery as a receiver does: the signature over id, timestamp and the raw body, and a timestamp
    within `tolerance_s` of now (a replayed old delivery fails). Raises InvalidSignature."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, given = (lowered.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and given):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp)
    except ValueError:
        raise InvalidSignature("bad webhook-timestamp") from None
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        raise InvalidSignature("webhook-timestamp outside the tolerance (replayed or clock skew)")
    expected = sign([secret_key(secret)], msg_id, sent, body).split(",", 1)[1]
    for candidate in given.split():
        version, _, value = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value, expected):
            return
    raise InvalidSignature("no matching signature")


def _load_or_make_key(path: Path) -> bytes:
    try:
        return base64.b64decode(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    try:
        os.link(tmp, path)  # atomic, and fails if the API and a worker raced: then theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return base64.b64decode(path.read_text().strip())


@dataclass(frozen=True)
class Rotation:
    generation: int
    rotated_at: float | None  # Unix time of the last rotation


class WebhookSecrets:
    """Derives subscriptions' secrets from the signing key; counts rotations in SQLite."""

    def __init__(self, key: bytes, db: Path, grace_s: float) -> None:
        self._key = key
        self._db = db
        self._grace_s = grace_s

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSecrets:
        configured = settings.webhook_signing_key
        key = configured.get_secret_value().encode() if configured else _load_or_make_key(settings.webhook_key_path)
        if len(key) < 16:
            raise ValueError("FENIX_WEBHOOK_SIGNING_KEY must be at least 16 characters")
        return cls(key, settings.webhook_secrets_db, settings.webhook_secret_grace_s)

    def _connect(self) -> sqlite3.Connection:
        self._db.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._db, timeout=10, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS rotations (subscription_id TEXT PRIMARY KEY, "
                     "generation INTEGER NOT NULL, rotated_at REAL NOT NULL)")
        return conn

    def rotation(self, subscription_id: str) -> Rotation:
        if not self._db.exists():
            return Rotation(0, None)
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT generation, rotated_at FROM rotations WHERE subscription_id = ?",
                               (subscription_id,)).fetchone()
        return Rotation(int(row[0]), float(row[1])) if row else Rotation(0, None)

    def _derive(self, subscription_id: str, generation: int) -> bytes:
        return hmac.new(self._key, b"\0".join([_DERIVE_LABEL, subscription_id.encode(), str(generation).encode()]),
                        hashlib.sha256).digest()

    def secret(self, subscription_id: str) -> str:
        """The current `whsec_...` secret of a subscription."""
        key = self._derive(subscription_id, self.rotation(subscription_id).generation)
        return SECRET_PREFIX + base64.b64encode(key).decode()

    def signing_keys(self, subscription_id: str, now: float | None = None) -> list[bytes]:
        """The keys a delivery is signed with now: the current one, and the previous one during the grace time."""
        rot = self.rotation(subscription_id)
        keys = [self._derive(subscription_id, rot.generation)]
        now = time.time() if now is None else now
        if rot.generation > 0 and rot.rotated_at is not None and now - rot.rotated_at < self._grace_s:
            keys.append(self._derive(subscription_id, rot.generation - 1))
        return keys

    def rotate(self, subscription_id: str, now: float | None = None) -> tuple[str, float | None]:
        """A new secret for the subscription; returns it and until when the previous one still signs."""
        at = time.time() if now is None else now
        with closing(self._connect()) as conn:
            conn.execute("INSERT INTO rotations (subscription_id, generation, rotated_at) VALUES (?, 1, ?) "
                         "ON CONFLICT(subscription_id) DO UPDATE SET generation = generation + 1, rotated_at = ?",
                         (subscription_id, at, at))
        return self.secret(subscription_id), (at + self._grace_s if self._grace_s > 0 else None)

    def forget(self, subscription_id: str) -> None:
        if not self._db.exists():
            return
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM rotations WHERE subscription_id = ?", (subscription_id,))
