"""VerifiedTokenCache: an accepted token is verified once until its `exp`; a refused one
every time; an expired one never answered from the cache."""

from __future__ import annotations

import time

import pytest

from gateway.domain import InvalidTokenError, Principal, Role
from gateway.service import DevTokenVerifier, VerifiedTokenCache
from tests.gateway.support import SECRET, raw_token


class Counting:
    def __init__(self) -> None:
        self.inner = DevTokenVerifier(SECRET)
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        return await self.inner.verify(token)


def _token(org: str, exp: float) -> str:
    return raw_token({"sub": "u", "org_id": org, "role": "OWNER", "exp": int(exp)})


async def test_an_accepted_token_is_verified_once_until_its_exp() -> None:
    now = [time.time()]
    inner = Counting()
    cache = VerifiedTokenCache(inner, clock=lambda: now[0])
    token = _token("org-a", now[0] + 60)
    first = await cache.verify(token)
    assert await cache.verify(token) == first == Principal("u", "org-a", Role.OWNER)
    assert inner.calls == 1
    now[0] += 61  # past exp: verified again (and the verifier decides)
    await cache.verify(token)  # inner's 5 s leeway still accepts it
    assert inner.calls == 2


async def test_each_token_is_its_own_entry() -> None:
    inner = Counting()
    cache = VerifiedTokenCache(inner)
    a = await cache.verify(_token("org-a", time.time() + 60))
    b = await cache.verify(_token("org-b", time.time() + 60))
    assert (a.org_id, b.org_id) == ("org-a", "org-b")
    assert inner.calls == 2


async def test_a_refused_token_is_checked_every_time() -> None:
    inner = Counting()
    cache = VerifiedTokenCache(inner)
    forged = raw_token(
        {"sub": "u", "org_id": "org-a", "role": "OWNER", "exp": int(time.time()) + 60},
        secret="another-secret-0123456789abcdef-0123",
    )
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            await cache.verify(forged)
    assert inner.calls == 2


async def test_the_cache_holds_at_most_max_entries() -> None:
    cache = VerifiedTokenCache(Counting(), max_entries=2)
    for org in ("org-a", "org-b", "org-c"):
        await cache.verify(_token(org, time.time() + 60))
    assert len(cache._held) == 2
