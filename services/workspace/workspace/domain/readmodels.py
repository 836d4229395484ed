"""The read model of keyvault.keys.v1: key metadata by id, never secret material."""

from __future__ import annotations

from shared.contracts import ProviderKeyChanged
from workspace.domain.model import KeyInfo


class KeyDirectory:
    """Latest known metadata of every provider key, rebuilt from the compacted topic."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyInfo] = {}

    def apply(self, event: ProviderKeyChanged) -> KeyInfo:
        """Record the key's current state; a deleted key stays known as deleted."""
        info = KeyInfo(
            key_id=event.key_id,
            org_id=event.org_id,
            provider=event.provider,
            status=event.status,
            name=event.name,
        )
        previous = self._keys.get(event.key_id)
        if previous is not None and not previous.live:
            # Deletion is final: a stale "active" replayed later must not revive a key.
            info = previous
        self._keys[event.key_id] = info
        return info

    def learn(self, info: KeyInfo) -> None:
        """Add what keyvault confirmed over HTTP, unless the topic already said more."""
        self._keys.setdefault(info.key_id, info)

    def get(self, key_id: str) -> KeyInfo | None:
        return self._keys.get(key_id)

    def name_of(self, org_id: str, key_id: str | None) -> str | None:
        """The display name of `org_id`'s key `key_id` (deleted keys keep theirs)."""
        info = self._keys.get(key_id) if key_id is not None else None
        return info.name if info is not None and info.org_id == org_id else None

    def live_providers(self, org_id: str, key_ids: tuple[str, ...]) -> set[str]:
        """Providers having at least one live key of `org_id` among `key_ids`."""
        found = set()
        for key_id in key_ids:
            info = self._keys.get(key_id)
            if info is not None and info.live and info.org_id == org_id:
                found.add(info.provider)
        return found

    def snapshot(self) -> dict[str, KeyInfo]:
        return dict(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
