"""Ephemeral keys: mint ``ek_…`` keys with an API key (``POST /v1/realtime/client_secrets``).

For server-side apps, :func:`api_key_token_provider` is a ready ``token_provider`` for the
client. Apps whose clients must not hold the API key (browsers, phones, other machines) run the
token server (:mod:`realtime_sdk.token_server`) and fetch ``ek_`` keys from it instead.

The API key never appears in an exception message, a ``repr()`` or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from .config import DEFAULTS, normalize_session, thaw, warn_model_shutdowns
from .errors import TokenError, redact_text

__all__ = [
    "ApiKeyTokenProvider",
    "api_key_token_provider",
    "create_client_secret",
]

logger = logging.getLogger(__name__)

CLIENT_SECRETS_PATH: Final = "/v1/realtime/client_secrets"
_PREVIEW: Final = 200


def _resolve_api_key(api_key: str | None) -> str:
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
    if not key or not key.strip():
        raise ValueError("no API key: pass api_key=... or set OPENAI_API_KEY")
    return key.strip()


def _body(session: Mapping[str, Any] | None, expires_after_seconds: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session": normalize_session(session) if session is not None else thaw(DEFAULTS["session"])
    }
    warn_model_shutdowns(body["session"], stacklevel=3)
    if expires_after_seconds is not None:
        body["expires_after"] = {"anchor": "created_at", "seconds": expires_after_seconds}
    return body


def _check_expiry(seconds: int | None) -> None:
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int) or not 10 <= seconds <= 7200
    ):
        raise ValueError(f"expires_after_seconds must be an integer in 10..7200, not {seconds!r}")


def _openai_error(data: Any) -> tuple[str | None, str | None]:
    """OpenAI's ``{"error": {"message", "code"}}``, if that is what ``data`` is."""
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        error = data["error"]
        message = error.get("message")
        code = error.get("code")
        return (
            str(message) if message is not None else None,
            str(code) if code is not None else None,
        )
    return None, None


#: ``fail(message, status, code)``: the caller's exception for a failed API request.
_ApiFailure = Callable[[str, int | None, str | None], Exception]


@dataclass(frozen=True, slots=True)
class _ApiAnswer:
    """A successful (HTTP < 400) answer of :func:`_post_api`."""

    status: int
    content_type: str
    text: str

    def json(self) -> Any:
        """The body as JSON, ``None`` when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


async def _post_api(
    http: aiohttp.ClientSession,
    url: str,
    api_key: str,
    body: Mapping[str, Any] | None,
    limit_s: float,
    fail: _ApiFailure,
    *,
    name_url: bool = True,
) -> _ApiAnswer:
    """``POST url`` with the API key (and ``body`` as JSON, if any) within ``limit_s`` seconds.

    No answer, an unreachable server or an HTTP error raises ``fail(message, status, code)``
    (secrets masked; an HTTP error's message is OpenAI's, else the body's start). With
    ``name_url`` the messages name the URL (and say a 401/403 refused the key); without, the
    caller's exception gives the context (``HTTP 404: no such call``)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    data: str | None = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    try:
        async with (
            asyncio.timeout(limit_s),
            http.post(url, data=data, headers=headers) as response,
        ):
            answer = _ApiAnswer(response.status, response.content_type, await response.text())
    except TimeoutError:
        where = f" from {url}" if name_url else ""
        raise fail(f"no answer{where} within {limit_s:g} s", None, None) from None
    except aiohttp.ClientError as exc:
        reason = redact_text(str(exc)) or type(exc).__name__
        raise fail(f"cannot reach {url}: {reason}", None, None) from None
    status = answer.status
    if status >= 400:
        message, code = _openai_error(answer.json())
        if message is None:
            message = redact_text(answer.text[:_PREVIEW]) or "(empty body)"
        message = redact_text(message)
        if name_url:
            reason = "the API key was refused" if status in (401, 403) else "the request failed"
            message = f"{url}: {reason} (HTTP {status}): {message}"
        else:
            message = f"HTTP {status}: {message}"
        raise fail(message, status, code)
    return answer


def _token_error(message: str, status: int | None, code: str | None) -> TokenError:
    return TokenError(message, status=status, code=code)


async def _post(
    http: aiohttp.ClientSession, url: str, api_key: str, body: dict[str, Any], limit_s: float
) -> dict[str, Any]:
    answer = await _post_api(http, url, api_key, body, limit_s, _token_error)
    data = answer.json()
    if not isinstance(data, dict):
        preview = redact_text(answer.text[:_PREVIEW]) or "(empty body)"
        kind = answer.content_type or "no content type"
        raise TokenError(
            f"{url}: expected a JSON object, got {kind}: {preview!r}", status=answer.status
        )
    logger.debug("client secret minted by %s (HTTP %s)", url, answer.status)
    return data


def _value(data: Mapping[str, Any], url: str, status: int | None = None) -> str:
    value = data.get("value")
    if value is None and isinstance(data.get("client_secret"), Mapping):
        value = data["client_secret"].get("value")  # a beta-shaped (/sessions) answer
    if not isinstance(value, str) or not value:
        raise TokenError(f"{url}: the answer has no ephemeral key ('value')", status=status)
    return value


async def create_client_secret(
    api_key: str | None = None,
    *,
    base_url: str = DEFAULTS["base_url"],
    session: Mapping[str, Any] | None = None,
    expires_after_seconds: int | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - the HTTP request's limit, documented
    http: aiohttp.ClientSession | None = None,
) -> dict[str, Any]:
    """``POST {base_url}/v1/realtime/client_secrets``; OpenAI's answer
    (``{"value": "ek_…", "expires_at": …, "session": {…}}``).

    ``session`` (GA or beta shape, normalised) defaults to ``DEFAULTS["session"]``;
    ``expires_after_seconds`` (10..7200) defaults to OpenAI's 600. ``api_key`` defaults to
    ``$OPENAI_API_KEY``. Raises :class:`~realtime_sdk.errors.TokenError` on any failure.
    """
    key = _resolve_api_key(api_key)
    _check_expiry(expires_after_seconds)
    url = base_url.rstrip("/") + CLIENT_SECRETS_PATH
    body = _body(session, expires_after_seconds)
    if http is not None:
        data = await _post(http, url, key, body, timeout)
    else:
        async with aiohttp.ClientSession() as own:
            data = await _post(own, url, key, body, timeout)
    _value(data, url)
    return data


class ApiKeyTokenProvider:
    """``await provider()`` → a fresh ``ek_…`` key. See :func:`api_key_token_provider`."""

    __slots__ = ("_api_key", "_body", "base_url", "base_url_given", "timeout")

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        session: Mapping[str, Any] | None = None,
        expires_after_seconds: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._api_key = _resolve_api_key(api_key)
        _check_expiry(expires_after_seconds)
        self._body = _body(session, expires_after_seconds)
        #: False when no ``base_url`` was given: a client then lends it its own.
        self.base_url_given = base_url is not None
        self.base_url = (base_url or DEFAULTS["base_url"]).rstrip("/")
        self.timeout = timeout

    def with_base_url(self, base_url: str) -> ApiKeyTokenProvider:
        """This provider if it was given a ``base_url``; else a copy that uses ``base_url``
        (what :class:`~realtime_sdk.RealtimeClient` does, so one ``base_url`` is enough)."""
        if self.base_url_given:
            return self
        bound = ApiKeyTokenProvider.__new__(ApiKeyTokenProvider)  # no copy: __reduce__ refuses
        bound._api_key, bound._body, bound.timeout = self._api_key, self._body, self.timeout
        bound.base_url = base_url.rstrip("/")
        bound.base_url_given = True
        return bound

    def __repr__(self) -> str:
        return f"ApiKeyTokenProvider(base_url={self.base_url!r}, api_key='***')"

    def __reduce__(self) -> Any:
        raise TypeError("an ApiKeyTokenProvider holds an API key and cannot be pickled")

    async def __call__(self) -> str:
        url = self.base_url + CLIENT_SECRETS_PATH
        async with aiohttp.ClientSession() as http:
            data = await _post(http, url, self._api_key, self._body, self.timeout)
        return _value(data, url)


def api_key_token_provider(
    api_key: str | None = None,
    *,
    base_url: str | None = None,
    session: Mapping[str, Any] | None = None,
    expires_after_seconds: int | None = None,
    timeout: float = 10.0,
) -> ApiKeyTokenProvider:
    """A ``token_provider`` for server-side apps that hold the API key.

    Each call mints a new ephemeral key: ``POST {base_url}/v1/realtime/client_secrets`` with
    ``Authorization: Bearer <api_key>`` and ``{"session": <session in GA shape>,
    "expires_after": {"anchor": "created_at", "seconds": n}}`` (the latter only when
    ``expires_after_seconds`` is given), and returns its ``value`` (``ek_…``).
    ``api_key=None`` reads ``$OPENAI_API_KEY``. Without ``base_url`` it uses the client's
    ``base_url`` (given to a :class:`~realtime_sdk.RealtimeClient`) or else OpenAI's. Failures raise
    :class:`~realtime_sdk.errors.TokenError` (HTTP errors carry OpenAI's message, never the
    key); each call waits at most ``timeout`` seconds.
    """
    return ApiKeyTokenProvider(
        api_key,
        base_url=base_url,
        session=session,
        expires_after_seconds=expires_after_seconds,
        timeout=timeout,
    )
