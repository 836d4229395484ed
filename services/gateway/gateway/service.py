"""The gateway's use cases: user tokens, and the answers it composes from keyvault,
workspace and Kafka (plan with key count, key names on executions, recorded test runs).

User tokens: in `prod`, only the OIDC provider's (RS256/ES256, checked against its JWKS,
`iss`, `aud`, `exp`, `nbf`; organization and role mapped by settings). In `dev`, HS256 JWTs
with `sub`, `org_id`, `role`, `exp` (and `platform_admin`), plus OIDC tokens when configured.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import jwt

from gateway.clients import ACCEPTED_ALGORITHMS, OidcProvider, Upstream, seg, unavailable
from gateway.domain import (
    WS_NOT_FOUND,
    ClaimMapping,
    ExecutionBus,
    Freshness,
    InvalidTokenError,
    MembershipError,
    Principal,
    ReadModelsBehindError,
    Role,
    WorkspaceModelsView,
    principal_from_claims,
)
from gateway.settings import GatewaySettings
from shared.batching import GroupCommit, SingleFlight
from shared.catalog import CatalogModel, models_for_providers
from shared.contracts import ExecutionResult, utcnow
from shared.web import ProblemError

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "sub", "org_id", "role"]


def issue_token(
    secret: str,
    *,
    org_id: str,
    role: Role | str,
    sub: str = "dev-user",
    platform_admin: bool = False,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A signed user token (for `make token`, tests and the dev stack)."""
    now = utcnow()
    claims: dict[str, object] = {
        "sub": sub,
        "org_id": org_id,
        "role": str(Role(role)),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if platform_admin:
        claims["platform_admin"] = True
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The caller of a signed, unexpired HS256 token; raises InvalidTokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS, "verify_aud": False},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidTokenError("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidTokenError("the token is not valid") from exc
    try:
        return principal_from_claims(claims)
    except MembershipError as exc:  # a dev token names its org and role itself
        raise InvalidTokenError(str(exc)) from None


class TokenVerifier(Protocol):
    """Turns a bearer token into the caller, or raises InvalidTokenError / MembershipError
    (or IdentityProviderUnavailableError when the provider's keys cannot be had)."""

    async def verify(self, token: str) -> Principal: ...


@dataclass
class DevTokenVerifier:
    """The dev path: HS256 tokens signed with GATEWAY_JWT_SECRET."""

    secret: str

    async def verify(self, token: str) -> Principal:
        return verify_token(self.secret, token)


@dataclass
class OidcTokenVerifier:
    """Tokens of the OIDC provider: signature by a key of its JWKS (RS256/ES256 only), and
    `iss`, `aud`, `exp`, `nbf` checked with `leeway_s` of clock skew."""

    provider: OidcProvider
    audience: str
    mapping: ClaimMapping
    leeway_s: float = 30.0

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("the token is not valid") from exc
        alg = header.get("alg")
        if alg not in ACCEPTED_ALGORITHMS:
            raise InvalidTokenError("the token must be signed with RS256 or ES256")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidTokenError("the token is not valid")
        key = await self.provider.key(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.provider.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidTokenError("the token is not valid yet") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidTokenError("the token was issued by another issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidTokenError("the token is meant for another audience") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidTokenError(f"the token has no '{exc.claim}' claim") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("the token is not valid") from exc
        return principal_from_claims(claims, self.mapping)


@dataclass
class EitherTokenVerifier:
    """`dev` with an OIDC provider configured: HS256 dev tokens and the provider's tokens,
    each verified only by its own verifier (chosen by the header's `alg`)."""

    dev: DevTokenVerifier
    oidc: OidcTokenVerifier

    async def verify(self, token: str) -> Principal:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("the token is not valid") from exc
        if alg == ALGORITHM:
            return await self.dev.verify(token)
        return await self.oidc.verify(token)


class VerifiedTokenCache:
    """A verifier that remembers the tokens `inner` accepted, each until its own `exp`.

    Verifying an HS256 token costs ≈ 0.3 ms of the gateway's CPU per request
    (bench/gateway_bench.py); a browser sends the same token on every call. Only accepted
    tokens are kept (a refused one is checked again every time), the exact token string is
    the key, and an entry is dropped at the token's `exp` (no leeway: stricter than the
    verification itself), so a cached answer is never one the verifier would not give.
    At most `max_entries` tokens are held; when full, the oldest entries go first.
    """

    def __init__(
        self,
        inner: TokenVerifier,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self._clock = clock
        self._held: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        held = self._held.get(token)
        if held is not None:
            principal, expires = held
            if self._clock() < expires:
                return principal
            del self._held[token]
        principal = await self.inner.verify(token)
        exp = _expiry(token)
        if exp is not None and self._clock() < exp:
            if len(self._held) >= self.max_entries:
                self._held.popitem(last=False)
            self._held[token] = (principal, exp)
        return principal


def _expiry(token: str) -> float | None:
    """The `exp` of a token already verified (its payload is trusted); None if unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
    except (IndexError, ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


Outcome = dict[str, Any] | ProblemError
# A result's JSON is at most this many bytes per character of its output text (escapes).
_BYTES_PER_CHAR = 6
_RESULT_OVERHEAD = 4096


class WorkspaceBatches:
    """A gateway's concurrent test runs reach workspace together, per org: one call admits
    the runs that arrived while the previous call was in flight, one records the results.

    Each caller gets its own item's answer, or its refusal exactly as a call of its own
    would have been answered (404, 409, 422, 429 with Retry-After); a failed call fails only
    the items it carried. Results go in calls of at most `max_bytes` (a larger one alone).
    """

    def __init__(
        self,
        workspace: Upstream,
        *,
        max_batch: int = 64,
        concurrency: int = 2,
        max_bytes: int = 512 * 1024,
    ) -> None:
        self.workspace = workspace
        self.max_bytes = max_bytes
        self._admissions: GroupCommit[tuple[str, dict[str, Any]], Outcome] = GroupCommit(
            self._admit_batch, max_batch=max_batch, concurrency=concurrency
        )
        self._results: GroupCommit[ExecutionResult, Outcome] = GroupCommit(
            self._record_batch, max_batch=max_batch, concurrency=concurrency
        )

    async def admit(self, org_id: str, run: dict[str, Any]) -> dict[str, Any]:
        """workspace's admission of one test run (`{execution_id, replay}`), or its refusal."""
        return _answer(await self._admissions.submit((org_id, run)))

    async def record(self, result: ExecutionResult) -> dict[str, Any]:
        """The execution as the ledger holds it once `result` is recorded."""
        return _answer(await self._results.submit(result))

    async def _admit_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
        calls: dict[str, _Call] = {}
        for i, (org_id, run) in enumerate(batch):
            calls.setdefault(org_id, _Call(org_id)).add(i, run)
        return await self._send("test-runs", list(calls.values()), len(batch))

    async def _record_batch(self, batch: list[ExecutionResult]) -> list[Outcome]:
        calls: list[_Call] = []
        latest: dict[str, _Call] = {}
        for i, result in enumerate(batch):
            size = _RESULT_OVERHEAD + _BYTES_PER_CHAR * len(
                result.output.text if result.output else ""
            )
            call = latest.get(result.org_id)
            if call is None or (call.indices and call.size + size > self.max_bytes):
                call = latest[result.org_id] = _Call(result.org_id)
                calls.append(call)
            call.add(i, result.model_dump(mode="json"), size)
        return await self._send("executions/results", calls, len(batch))

    async def _send(self, route: str, calls: list[_Call], count: int) -> list[Outcome]:
        outcomes: list[Outcome] = [{} for _ in range(count)]

        async def send(call: _Call) -> None:
            try:
                data = await self.workspace.call(
                    "POST",
                    f"/internal/v1/orgs/{seg(call.org_id)}/{route}",
                    json={"items": call.items},
                    not_found=WS_NOT_FOUND,
                )
                answers = data.get("items") if isinstance(data, dict) else None
                if not isinstance(answers, list) or len(answers) != len(call.indices):
                    raise unavailable("workspace", "gave an unreadable answer")
            except ProblemError as exc:
                for i in call.indices:
                    outcomes[i] = exc
                return
            for i, answer in zip(call.indices, answers, strict=True):
                refused = answer.get("refused") if isinstance(answer, dict) else None
                outcomes[i] = (
                    self.workspace.problem(
                        int(refused.get("status", 503)),
                        refused,
                        WS_NOT_FOUND,
                        retry_after=refused.get("retry_after_s"),
                    )
                    if isinstance(refused, dict)
                    else answer
                )

        await asyncio.gather(*(send(call) for call in calls))
        return outcomes


@dataclass
class _Call:
    """One call to workspace: the org's items and where their answers go in the batch."""

    org_id: str
    indices: list[int] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0

    def add(self, index: int, item: dict[str, Any], size: int = 0) -> None:
        self.indices.append(index)
        self.items.append(item)
        self.size += size


def _answer(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, ProblemError):
        raise outcome
    return outcome


@dataclass
class Gateway:
    """What the handlers need: settings, the two internal services and the Kafka bus."""

    settings: GatewaySettings
    keyvault: Upstream
    workspace: Upstream
    bus: ExecutionBus
    verifier: TokenVerifier
    oidc: OidcProvider | None = None
    models: WorkspaceModels | None = None
    """The read model answering a workspace's models; None: ask workspace every time."""
    key_lists: KeyLists | None = None
    """Key lists reused while current; None: ask keyvault every time."""
    batches: WorkspaceBatches = field(init=False)
    """Test-run admissions and result recordings, sent to workspace together."""

    def __post_init__(self) -> None:
        self.batches = WorkspaceBatches(self.workspace)


@dataclass(frozen=True)
class WorkspaceModels:
    """A workspace's models from the gateway's read model, never from a stale one.

    Each answer first passes `freshness` (the readers have applied the state topics' end
    offsets fetched after the request arrived: read-your-writes on every replica, revocations
    at once), else ReadModelsBehindError. What the view does not know yet is None: the caller
    asks workspace, the owner.
    """

    view: WorkspaceModelsView
    freshness: Freshness

    async def models(self, org_id: str, workspace_id: str) -> list[CatalogModel] | None:
        """Catalog models of the providers with a live key assigned, in catalog order."""
        await self.freshness.check()
        providers = self.view.providers(org_id, workspace_id)
        return None if providers is None else models_for_providers(providers)


Generation = tuple[int, int, int]
"""Key changes seen: on the topic for any org, for the org, and made through this gateway."""


@dataclass
class _KeyList:
    generation: Generation
    at: float
    data: Any


class KeyLists:
    """The organization's key list (`GET /ai-providers`) as keyvault answered it, reused for
    up to `ttl_s` while no change to the org's keys has been seen.

    Key metadata is never stale: each answer first passes `freshness` (the readers have
    applied `keyvault.keys.v1` up to its end offsets fetched after the request arrived, and
    keyvault publishes a change there before it answers the write), and any change to the
    org's keys seen on the topic (or written through this gateway) makes the next answer a
    fresh read. Only `last_used_at` and `spent_usd_month` may be up to `ttl_s` old; keyvault
    itself writes the first at most once a second and settles the second within half a
    second. Concurrent misses of one org share one read. While the read model cannot prove
    itself current, every answer is read from keyvault (never a cached one).
    """

    def __init__(
        self,
        view: WorkspaceModelsView,
        freshness: Freshness,
        *,
        ttl_s: float = 1.0,
        max_orgs: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self.freshness = freshness
        self.ttl_s = ttl_s
        self.max_orgs = max_orgs
        self.clock = clock
        self._lists: OrderedDict[str, _KeyList] = OrderedDict()
        self._reads: SingleFlight[tuple[str, Generation], Any] = SingleFlight()
        self._own_writes: dict[str, int] = {}  # org -> key writes made through this gateway

    def forget(self, org_id: str) -> None:
        """This gateway changed the org's keys: the next answer is a fresh read, and a read
        in flight meanwhile is not kept."""
        self._own_writes[org_id] = self._own_writes.get(org_id, 0) + 1

    def _generation(self, org_id: str) -> Generation:
        return (*self.view.key_generation(org_id), self._own_writes.get(org_id, 0))

    async def list(self, org_id: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """The org's key list: reused while current (see the class), else `read()`."""
        try:
            await self.freshness.check()
        except ReadModelsBehindError:
            return await read()
        generation, now = self._generation(org_id), self.clock()
        cached = self._lists.get(org_id)
        if cached is not None and cached.generation == generation and now - cached.at < self.ttl_s:
            return cached.data
        return await self._reads.run(
            (org_id, generation), lambda: self._read(org_id, generation, now, read)
        )

    async def _read(
        self, org_id: str, generation: Generation, at: float, read: Callable[[], Awaitable[Any]]
    ) -> Any:
        # Stamped with the generation and time from before the read: a change seen (or made
        # here) while it was in flight makes it out of date at once.
        data = await read()
        self._lists[org_id] = _KeyList(generation, at, data)
        self._lists.move_to_end(org_id)
        while len(self._lists) > self.max_orgs:
            self._lists.popitem(last=False)
        return data


async def plan_with_key_count(gw: Gateway, org_id: str, plan: Any = None) -> dict[str, Any]:
    """Workspace's plan and usage (or `plan` as just set), with keyvault's count of keys."""
    org = seg(org_id)
    count_call = gw.keyvault.call("GET", f"/internal/v1/orgs/{org}/keys-count")
    if plan is None:
        plan_call = gw.workspace.call("GET", f"/internal/v1/orgs/{org}/plan")
        plan, count = await asyncio.gather(plan_call, count_call)
    else:
        count = await count_call
    usage = {**plan.get("usage", {}), "provider_keys": int(count.get("active", 0))}
    return {**plan, "usage": usage}


async def recorded(gw: Gateway, result: ExecutionResult) -> dict[str, Any]:
    """The result as the ledger holds it once recorded: what any gateway answers from now on.

    The ledger also ingests it from Kafka; recording it here first means no later read can
    show `queued` after this answer showed the outcome. If workspace is down, the answer is
    still the outcome (reads then answer 503 until it is back, never `queued`).
    """
    try:
        return await gw.batches.record(result)
    except ProblemError as exc:
        log.warning("recording a test run's result failed (%s); answering from Kafka", exc.code)
        body = result.model_dump(mode="json")
        return {**body, "finished_at": body.get("occurred_at")}


async def key_names(gw: Gateway, org_id: str, key_ids: set[str]) -> dict[str, str]:
    """The names of the org's keys among `key_ids` (deleted keys keep their name); with
    keyvault unavailable, none (an answer without names rather than a failed one)."""
    if not key_ids:
        return {}
    try:
        if len(key_ids) == 1:  # a test run's answer: that key alone, read by its id
            (key_id,) = key_ids
            key = await gw.keyvault.call(
                "GET", f"/internal/v1/orgs/{seg(org_id)}/keys/{seg(key_id)}"
            )
            return {key_id: key["name"]}
        data = await gw.keyvault.call(
            "GET", f"/internal/v1/orgs/{seg(org_id)}/keys", params={"include_deleted": "true"}
        )
    except ProblemError:
        return {}
    return {k["id"]: k["name"] for k in data.get("items", []) if k["id"] in key_ids}
