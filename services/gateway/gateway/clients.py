"""Calls to keyvault and workspace: their problems pass through, their absence is a 503."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from shared.web import ProblemError

log = logging.getLogger(__name__)

# Codes an upstream may answer that the gateway hands to the UI unchanged.
_PASS_4XX = {409, 422}
_PASS_5XX = {"provider_unreachable"}


def seg(value: str) -> str:
    """One URL path segment, percent-encoded so an id can never change the path."""
    return quote(value, safe="")


def unavailable(name: str, why: str = "is unavailable") -> ProblemError:
    return ProblemError(
        503,
        "dependency_unavailable",
        f"{name} {why}; try again shortly",
        title="Service unavailable",
    )


class Upstream:
    """An internal service reached over a pooled client carrying the gateway's credential."""

    def __init__(self, name: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        not_found: str = "not found",
    ) -> Any:
        """The JSON answer of the upstream; its error as a ProblemError; a 503 if it is down."""
        try:
            try:
                response = await self.client.request(method, path, json=json, params=params)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                if method != "GET":
                    raise
                # A pooled connection closed under us; a read is safe to send once more.
                response = await self.client.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            log.warning("%s timed out: %s", self.name, type(exc).__name__)
            raise unavailable(self.name, "did not answer in time") from None
        except httpx.HTTPError as exc:
            log.warning("%s unreachable: %s", self.name, type(exc).__name__)
            raise unavailable(self.name) from None
        if response.status_code == 204:
            return None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise unavailable(self.name, "gave an unreadable answer") from None
        raise self._problem(response, not_found)

    def _problem(self, response: httpx.Response, not_found: str) -> ProblemError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("code") if isinstance(body, dict) else None
        detail = body.get("detail") if isinstance(body, dict) else None
        if status == 404:
            # One fixed body: another org's object and a missing one look exactly alike.
            return ProblemError(404, "not_found", not_found, title="Not found")
        if status in (401, 403):
            log.error("%s refused the gateway's service credential (%s)", self.name, status)
            return unavailable(self.name, "refused the gateway's credential")
        if status == 413:
            return ProblemError(413, "payload_too_large", "request body too large")
        if status == 429:
            # rate_limited: the caller learns when to come back.
            return ProblemError(
                429,
                str(code or "rate_limited"),
                str(detail or "too many requests"),
                headers={"Retry-After": response.headers.get("Retry-After", "1")},
            )
        if 400 <= status < 500:
            # Keep the upstream's code (plan_limit_reached, name_taken, key_rejected, ...);
            # statuses outside the public contract's set become 422.
            kept = status if status in _PASS_4XX else 422
            return ProblemError(kept, str(code or "invalid_request"), str(detail or code or ""))
        if status == 503 and code in _PASS_5XX:
            return ProblemError(503, str(code), str(detail or code))
        log.warning("%s answered %s", self.name, status)
        return unavailable(self.name, f"failed ({status})")
