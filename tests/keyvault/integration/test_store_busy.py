"""A busy store answers 503 `store_unavailable` (retryable), never 500; audits are batched."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, OperationFailure

from keyvault.app import create_app
from keyvault.domain import EncryptedSecret, ProviderKey
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoKeyStore
from shared.contracts import WorkspaceAssignmentsChanged
from shared.crypto import new_recipient, open_sealed, seal_context
from shared.settings import DEV_SERVICE_TOKENS
from tests.keyvault.integration.test_resolution import a_key, until
from tests.support.servers import serve

pytestmark = pytest.mark.integration


class BusyStore(MongoKeyStore):
    """The real store, made to fail transiently on demand."""

    lookups_fail = 0  # how many key lookups fail with SQLite's "database is locked"
    listing_down = False

    async def key_material(
        self, *, org_id: str, key_ids: list[str]
    ) -> list[tuple[ProviderKey, EncryptedSecret | None]]:
        if self.lookups_fail > 0:

            async def locked() -> list[tuple[ProviderKey, EncryptedSecret | None]]:
                if self.lookups_fail > 0:
                    self.lookups_fail -= 1
                    raise OperationFailure("database is locked (5) (SQLITE_BUSY)", 1)
                return await MongoKeyStore.key_material(self, org_id=org_id, key_ids=key_ids)

            return await self._retrying(locked, "key lookup")
        return await super().key_material(org_id=org_id, key_ids=key_ids)

    async def list_keys(self, *, org_id: str, include_deleted: bool) -> list[ProviderKey]:
        if self.listing_down:
            raise AutoReconnect("connection closed")
        return await super().list_keys(org_id=org_id, include_deleted=include_deleted)


async def test_transient_store_errors_are_retried_or_answered_503(
    settings_factory: Callable[..., KeyvaultSettings],
    producer: AIOKafkaProducer,
    mongo_url: str,
    db_name: str,
    unique: str,
) -> None:
    org, ws = f"org-b-{unique}", f"ws-b-{unique}"
    store = BusyStore(mongo_url, db_name, retries=3, backoff_base_s=0.001)
    settings = settings_factory()
    async with serve(create_app(settings, store=store)) as url:
        gateway = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
        )
        runner = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['agent-runner']}"}
        )
        try:
            created = await gateway.post(
                f"/internal/v1/orgs/{org}/keys",
                json={"provider": "openai", "name": "k", "api_key": a_key("sk-proj-")},
            )
            assert created.status_code == 201, created.text
            key_id = created.json()["id"]
            event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=[key_id])
            await producer.send_and_wait(
                settings.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
            )
            private, public = new_recipient()

            async def resolve(execution_id: str) -> httpx.Response:
                return await runner.post(
                    "/internal/v1/resolve",
                    json={
                        "org_id": org,
                        "workspace_id": ws,
                        "provider": "openai",
                        "execution_id": execution_id,
                        "public_key": base64.b64encode(public).decode(),
                    },
                )

            await until(lambda: _ok(resolve("warm-up")))

            # A short busy spell is retried inside keyvault: the caller sees a 200.
            store.lookups_fail = 2
            answer = await resolve("exec-after-blip")
            assert answer.status_code == 200, answer.text
            sealed = base64.b64decode(answer.json()["sealed"])
            plain = open_sealed(
                private, sealed, seal_context(execution_id="exec-after-blip", key_id=key_id)
            )
            assert plain.decode().startswith("sk-proj-")

            # One that outlasts the retries: 503 with a retryable code, never 500.
            store.lookups_fail = 100
            busy = await resolve("exec-busy")
            assert busy.status_code == 503
            assert busy.json()["code"] == "store_unavailable"
            store.lookups_fail = 0

            # A transient error outside the retried paths still maps to 503.
            store.listing_down = True
            listing = await gateway.get(f"/internal/v1/orgs/{org}/keys")
            assert listing.status_code == 503
            assert listing.json()["code"] == "store_unavailable"
            store.listing_down = False

            # Concurrent resolutions: every one audited (before its answer), in few writes.
            answers = await asyncio.gather(*(resolve(f"exec-many-{n}") for n in range(30)))
            assert [a.status_code for a in answers] == [200] * 30
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
            try:
                audited = await client[db_name]["audit"].count_documents(
                    {"execution_id": {"$regex": "^exec-many-"}, "action": "resolved"}
                )
            finally:
                await client.close()
            assert audited == 30

            # last_used_at is written by the coalescing flusher (about once a second).
            async def used() -> bool:
                key = (await gateway.get(f"/internal/v1/orgs/{org}/keys/{key_id}")).json()
                return key["last_used_at"] is not None

            await until(used, seconds=30.0)
        finally:
            await gateway.aclose()
            await runner.aclose()
    await store.close()


async def _ok(response: Any) -> bool:
    return bool((await response).status_code == 200)
