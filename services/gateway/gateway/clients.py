"""Calls to keyvault and workspace: their problems pass through, their absence is a 503."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from gateway.domain import IdentityProviderUnavailableError, InvalidTokenError
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
        try:
            body = response.json()
        except ValueError:
            body = {}
        return self.problem(
            response.status_code,
            body if isinstance(body, dict) else {},
            not_found,
            retry_after=response.headers.get("Retry-After"),
        )

    def problem(
        self,
        status: int,
        body: dict[str, Any],
        not_found: str = "not found",
        *,
        retry_after: str | int | None = None,
    ) -> ProblemError:
        """What the gateway answers for the upstream's error `status` with problem `body`
        (a whole answer's, or one refused item's of a batch)."""
        code = body.get("code")
        detail = body.get("detail")
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
                headers={"Retry-After": str(retry_after or 1)},
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


# --- the OIDC provider: discovery and signing keys --------------------------------------

ACCEPTED_ALGORITHMS = ("RS256", "ES256")
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


class OidcProvider:
    """The OIDC provider's discovery document and signing keys (JWKS), fetched with httpx
    (never blocking the event loop) and cached.

    A token whose `kid` is not among the cached keys makes one refresh, at most once per
    `min_refresh_s` (a flood of forged `kid`s cannot turn into a flood of requests to the
    provider); keys older than `max_age_s` are refreshed on next use, and while the provider
    is unreachable the keys already held keep working.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        issuer: str,
        *,
        min_refresh_s: float = 30.0,
        max_age_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.issuer = issuer
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self._clock = clock
        self._discovery: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.jwks_fetches = 0

    async def discovery(self) -> dict[str, Any]:
        """`<issuer>/.well-known/openid-configuration`, checked to name this issuer."""
        if self._discovery is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._get_json(url)
            if doc.get("issuer") != self.issuer:
                log.error("the OIDC discovery document names issuer %r", doc.get("issuer"))
                raise IdentityProviderUnavailableError(
                    "the identity provider's discovery document names another issuer"
                )
            for field in ("jwks_uri", "authorization_endpoint", "token_endpoint"):
                if not isinstance(doc.get(field), str):
                    raise IdentityProviderUnavailableError(
                        f"the identity provider's discovery document has no {field}"
                    )
            self._discovery = doc
        return self._discovery

    async def key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The provider's verification key for a token header (`kid`, `alg`)."""
        found = self._find(kid, alg)
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age_s
        if found is not None and not stale:
            return found
        async with self._lock:
            found = self._find(kid, alg)
            stale = self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age_s
            recent = (
                self._fetched_at is not None
                and self._clock() - self._fetched_at < self.min_refresh_s
            )
            if (found is None or stale) and not recent:
                try:
                    await self._refresh()
                except IdentityProviderUnavailableError:
                    if not self._keys:
                        raise
                    log.warning("refreshing the OIDC keys failed; keeping the cached ones")
                found = self._find(kid, alg)
        if found is None:
            raise InvalidTokenError("the token is not signed by a key of the identity provider")
        return found

    def _find(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is not None:
            key = self._keys.get(kid)
        else:  # no kid: only unambiguous when the provider publishes a single key
            key = next(iter(self._keys.values())) if len(self._keys) == 1 else None
        if key is None or key.key_type != _KEY_TYPES[alg]:
            return None
        if key.algorithm_name != alg:
            return None
        return key

    async def _refresh(self) -> None:
        doc = await self.discovery()
        jwks = await self._get_json(doc["jwks_uri"])
        self.jwks_fetches += 1
        keys: dict[str, jwt.PyJWK] = {}
        for index, entry in enumerate(jwks.get("keys") or []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            alg = entry.get("alg") or ("ES256" if entry.get("kty") == "EC" else "RS256")
            if alg not in ACCEPTED_ALGORITHMS:
                continue
            try:
                key = jwt.PyJWK(entry, algorithm=alg)
            except jwt.PyJWTError:
                log.warning("ignoring an unusable key in the provider's JWKS")
                continue
            keys[str(entry.get("kid", f"#{index}"))] = key
        self._keys = keys
        self._fetched_at = self._clock()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.client.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("the identity provider did not answer %s: %s", url, type(exc).__name__)
            raise IdentityProviderUnavailableError("the identity provider is unavailable") from exc
        if not isinstance(data, dict):
            raise IdentityProviderUnavailableError("the identity provider answered no JSON object")
        return data
