"""The first things every request meets, in this order (api/app.py): the token, the body's size, its encoding.

Order matters against a hostile client: FastAPI reads and parses the whole body while it resolves a route's
dependencies, so a 256 MB body without a token used to be read into memory (and parsed) before its 401.
`AuthFirst` (outermost) answers a `/v1` request from its headers alone: no token or a bad one is a 401 before a byte
of the body is read. Then the body limit (api/body_limit.py) reads at most FENIX_API_MAX_BODY_BYTES (413 beyond).
Then `Utf8Body` refuses a JSON body that is not UTF-8 with a 422, like every other body that does not parse
(FastAPI would answer it 400). The caller found by `AuthFirst` is handed to the routes in the request's state, so
the token is checked once.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Authenticator, AuthRejected, AuthUnavailable

API_PREFIX = "/v1"
MISSING_TOKEN = "missing token: send X-Auth-Token or Authorization: Bearer <token>"
JSON_TYPES = ("application/json", "+json")


def token_from(headers: Headers) -> str | None:
    """`X-Auth-Token` (what Fenix clients send), else `Authorization: Bearer`. An empty `X-Auth-Token` (a client
    template) must not hide the bearer."""
    token = (headers.get("x-auth-token") or "").strip() or None
    authorization = headers.get("authorization") or ""
    if token is None and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip() or None
    return token


class AuthFirst:
    """Authenticate `/v1` requests from their headers alone, before any of their body is read (outermost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        auth: Authenticator = scope["app"].state.authenticator
        token = token_from(Headers(scope=scope))
        if token is None:
            await _answer(send, 401, MISSING_TOKEN, {"WWW-Authenticate": auth.challenge})
            return
        try:
            principal = await auth.verify(token)
        except AuthRejected as err:
            await _answer(send, 401, err.reason, {"WWW-Authenticate": auth.challenge})
            return
        except AuthUnavailable as err:
            await _answer(send, 503, err.reason, {"Retry-After": "5"})
            return
        scope.setdefault("state", {})["principal"] = principal  # request.state.principal (api/deps.py)
        await self.app(scope, receive, send)


class Utf8Body:
    """A JSON body that is not UTF-8 is a 422, like any other body that does not parse (FastAPI says 400).

    Inside the body limit (api/body_limit.py), which hands the whole, bounded body on as one message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        first = await receive()
        body: bytes = first.get("body", b"") if first["type"] == "http.request" else b""
        if body and not first.get("more_body", False):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as err:
                msg = f"the body is not valid UTF-8 (byte {err.start}): JSON must be UTF-8"
                await _answer(send, 422, msg, detail=[{"type": "json_invalid", "loc": ["body", err.start],
                                                       "msg": msg}])
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return first
            return await receive()

        await self.app(scope, replay, send)


def _is_json(headers: Headers) -> bool:
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    return not kind or kind == JSON_TYPES[0] or kind.endswith(JSON_TYPES[1])


async def _answer(send: Send, status: int, message: str, headers: dict[str, str] | None = None, *,
                  detail: Any = None) -> None:
    """The API's error body (api/errors.py), sent before the body was read: the connection is closed afterwards, so
    the client need not send the rest."""
    payload = json.dumps({"error": message, "detail": message if detail is None else detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
