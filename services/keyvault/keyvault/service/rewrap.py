"""Re-wrap every data key under the keyring's active version, never decrypting a secret.

Resumable and idempotent: each record is updated on its own, conditionally on the version
and wrapped bytes it was read with, so it is safe while the service runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from keyvault.domain import DecryptionFailedError, Keyring, KeyStore
from keyvault.service.envelope import rewrap

log = logging.getLogger(__name__)


@dataclass
class RewrapReport:
    rewrapped: int = 0
    raced: int = 0
    failed: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


async def rewrap_all(store: KeyStore, keyring: Keyring, *, batch: int = 200) -> RewrapReport:
    """Move every live record to the active version; report how many each version wraps."""
    report = RewrapReport()
    active = keyring.active_version
    while True:
        todo = await store.wrapped_not_at(version=active, limit=batch, exclude=report.failed)
        if not todo:
            break
        for key_id, _org_id, stored in todo:
            try:
                version, wrapped = rewrap(keyring, stored, key_id=key_id)
            except DecryptionFailedError:
                log.error(
                    "data key not unwrappable with version %s",
                    stored.kek_version,
                    extra={"key_id": key_id},
                )
                report.failed.append(key_id)
                continue
            if await store.swap_wrapped(
                key_id=key_id, old=stored, new_version=version, new_wrapped=wrapped
            ):
                report.rewrapped += 1
            else:
                report.raced += 1  # deleted or re-wrapped meanwhile; the next batch re-reads
    report.counts = await store.version_counts()
    return report


def format_report(report: RewrapReport, keyring: Keyring) -> str:
    lines = [
        f"active version: {keyring.active_version}",
        f"re-wrapped: {report.rewrapped}",
        f"changed meanwhile (re-read): {report.raced}",
        f"failed (version unknown or data key damaged): {len(report.failed)}",
        "records per version:",
    ]
    versions = list(keyring.versions()) + [v for v in report.counts if v not in keyring.versions()]
    for version in versions:
        note = " (active)" if version == keyring.active_version else ""
        if version not in keyring.versions():
            note = " (NOT IN KEYRING)"
        lines.append(f"  {version}: {report.counts.get(version, 0)}{note}")
    retirable = [
        v for v in keyring.versions() if v != keyring.active_version and not report.counts.get(v)
    ]
    if retirable:
        lines.append("can be retired: " + ", ".join(retirable))
    return "\n".join(lines)
