"""The REST API client behind `fenix session` and `fenix host`: its options, its errors, and `api_client`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import httpx
import typer
from pydantic import BaseModel

from cli.config import load_settings
from cli.output import fail

M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT_S = 30.0


class ApiError(Exception):
    """A failed call. `status` is None when no HTTP answer came back at all."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def transient(self) -> bool:
        # Worth retrying while watching: the API restarting, or Temporal briefly unavailable behind it.
        return self.status is None or self.status >= 500


class Api:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout,
                                  headers={"X-Auth-Token": token, "User-Agent": "fenix-cli"})

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, model: type[M], body: dict[str, Any] | None = None) -> M:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.ConnectError as exc:
            raise ApiError(f"cannot connect to the Fenix API at {self.url} ({_reason(exc)}); is it running? "
                           "Pass --url or set FENIX_PUBLIC_URL") from None
        except httpx.TimeoutException:
            raise ApiError(f"the Fenix API at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"request to the Fenix API at {self.url} failed: {_reason(exc)}") from None
        if r.is_error:
            message = f"{_api_message(r)} (HTTP {r.status_code})"
            if r.status_code == 404 and _api_message(r) == "Not Found":
                # Starlette's answer for an unknown route: the URL, not the session or host, is wrong.
                message += f"; is {self.url} the Fenix API base URL (ending in /v1)?"
            raise ApiError(message, r.status_code)
        try:
            return model.model_validate(r.json())
        except ValueError:  # both a body that is not JSON and one that does not fit (ValidationError)
            raise ApiError(f"unexpected answer from {r.url}; is {self.url} the Fenix API (…/v1)?",
                           r.status_code) from None


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else text or type(exc).__name__


def _api_message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return r.reason_phrase or "request failed"


UrlOption = Annotated[str | None, typer.Option(
    "--url", help="API base URL, e.g. http://fenix:12347/v1. Default: FENIX_PUBLIC_URL, else "
                  "http://FENIX_API_HOST:FENIX_API_PORT/v1.", show_default=False)]
TokenOption = Annotated[str | None, typer.Option(
    "--token", envvar="FENIX_TOKEN", show_envvar=True, show_default=False,
    help="API token. Prefer the environment variable: other users see command lines in `ps`.")]
TimeoutOption = Annotated[float, typer.Option("--http-timeout", help="Seconds to wait for each API answer.")]


@contextmanager
def api_client(url: str | None, token: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[Api]:
    """An API client whose errors end the command with the API's message (exit 1), never a traceback."""
    base = url or load_settings().api_url
    if not token:
        fail("no API token: set FENIX_TOKEN or pass --token (`fenix token create` makes one)")
    api = Api(base, token, timeout)
    try:
        yield api
    except ApiError as exc:
        fail(exc.message)
    finally:
        api.close()


def segment(value: str) -> str:
    # Ids and host names go into the path; quoting keeps a stray "/" or "?" from reaching another route.
    return quote(value, safe="")
