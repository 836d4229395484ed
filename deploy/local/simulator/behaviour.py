"""What the simulator answers for a key: behaviour markers and the reply text (pure)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SLOW = re.compile(r"slow(\d{1,6})ms")
_HUGE = re.compile(r"huge(\d{1,5})kb")
_BAD_BODY = re.compile(r"badbody-(nulltext|list|usage)")
_CALL_TAG = re.compile(rb"\[sim-count:([A-Za-z0-9._:-]{1,128})\]")


@dataclass(frozen=True)
class Behaviour:
    status: int  # 200, 401, 429 or 500
    extra_latency_ms: int
    retry_after: str | None = None
    bad_body: str | None = None  # a 200 of the wrong shape: "nulltext", "list" or "usage"
    reply_kb: int = 0  # a 200 whose text is this many KiB (0: the usual short reply)


def fingerprint(key: str) -> tuple[str, str]:
    """The key as the simulator records it: sha256 hex and the last 4 characters."""
    return hashlib.sha256(key.encode()).hexdigest(), key[-4:]


def behaviour_for(key: str, *, first_call: bool) -> Behaviour:
    """The markers: fail401, always429, rate429 (first call only), fail500, slow<ms>ms,
    badbody-nulltext|list|usage (a 200 of the wrong shape: the reply text null, the content
    a list where the API has an object or string, usage not an object) and huge<n>kb (a 200
    whose text is n KiB)."""
    slow = _SLOW.search(key)
    extra = int(slow.group(1)) if slow else 0
    bad = _BAD_BODY.search(key)
    if bad:
        return Behaviour(200, extra, bad_body=bad.group(1))
    huge = _HUGE.search(key)
    if huge:
        return Behaviour(200, extra, reply_kb=int(huge.group(1)))
    if "fail401" in key:
        return Behaviour(401, extra)
    if "always429" in key:
        return Behaviour(429, extra, retry_after="1")
    if "rate429" in key and first_call:
        return Behaviour(429, extra, retry_after="1")
    if "fail500" in key:
        return Behaviour(500, extra)
    return Behaviour(200, extra)


def reply_text(model: str, prompt: str) -> str:
    """A deterministic answer that names the model and echoes the start of the prompt."""
    return f"[{model}] {prompt[:80]}".strip()


def count_tokens(text: str) -> int:
    """A rough token count (words), at least 1 for non-empty text."""
    return max(1, len(text.split())) if text else 0


def huge_text(kib: int) -> str:
    """A reply of exactly `kib` KiB of ASCII text (words of 8 characters and a space)."""
    size = kib * 1024
    return ("lorem-ip " * (size // 9 + 1))[:size]


def call_tag(body: bytes) -> str | None:
    """The `[sim-count:<tag>]` marker of a request body (a client puts it in the prompt, e.g.
    the execution id), so calls can be counted per tag; None when there is none."""
    found = _CALL_TAG.search(body)
    return found.group(1).decode() if found else None
