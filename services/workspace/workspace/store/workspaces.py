"""MongoDB (FerretDB-compatible) repositories: single-document atomic writes, no transactions."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.contracts import ProviderRouting
from shared.mongo import Slots, is_unique_violation
from workspace.domain import NameTakenError, Org, Workspace, prune_routing

Doc = dict[str, Any]


def _name_key(name: str) -> str:
    return name.casefold()


def _org(doc: Doc) -> Org:
    return Org(
        org_id=doc["_id"],
        plan=doc["plan"],
        created_at=doc["created_at"],
    )


def _workspace(doc: Doc) -> Workspace:
    key_ids = tuple(doc.get("key_ids") or ())
    routing = {
        provider: ProviderRouting.model_validate(rule)
        for provider, rule in (doc.get("routing") or {}).items()
    }
    return Workspace(
        id=doc["_id"],
        org_id=doc["org_id"],
        name=doc["name"],
        key_ids=key_ids,
        created_at=doc["created_at"],
        version=int(doc.get("version", 0)),
        deleted=bool(doc.get("deleted", False)),
        budget_usd_monthly=doc.get("budget_usd_monthly"),
        # A key removed since (deleted, unassigned) keeps no weight.
        routing=prune_routing(routing, key_ids),
        max_tokens_cap=doc.get("max_tokens_cap"),
    )


class MongoWorkspaceStore:
    """Organizations and workspaces in MongoDB."""

    def __init__(
        self, client: AsyncMongoClient[Doc], db_name: str, *, slot_grace_s: float = 60.0
    ) -> None:
        db = client[db_name]
        self.orgs: AsyncCollection[Doc] = db["orgs"]
        self.workspaces: AsyncCollection[Doc] = db["workspaces"]
        # A slot without its workspace is reclaimed after `slot_grace_s`.
        self.slots = Slots(
            db["workspace_slots"],
            holder_field="workspace_id",
            live_holders=self._live,
            grace=timedelta(seconds=slot_grace_s),
        )

    async def open(self) -> None:
        await self.orgs.create_index([("plan_pending", ASCENDING)])
        await self.workspaces.create_index(
            [("org_id", ASCENDING), ("name_key", ASCENDING)], unique=True
        )
        await self.workspaces.create_index([("org_id", ASCENDING), ("created_at", ASCENDING)])
        await self.workspaces.create_index([("org_id", ASCENDING), ("key_ids", ASCENDING)])
        await self.workspaces.create_index([("publish_pending", ASCENDING)])
        await self.slots.open()

    async def get_org(self, *, org_id: str) -> Org | None:
        doc = await self.orgs.find_one({"_id": org_id})
        return _org(doc) if doc else None

    async def create_org_if_missing(self, *, org_id: str, plan: str, now: datetime) -> bool:
        new = {"plan": plan, "created_at": now, "plan_pending": True}
        try:
            result = await self.orgs.update_one({"_id": org_id}, {"$setOnInsert": new}, upsert=True)
        except DuplicateKeyError:
            return False
        return result.upserted_id is not None

    async def set_plan(self, *, org_id: str, plan: str) -> bool:
        result = await self.orgs.update_one(
            {"_id": org_id, "plan": {"$ne": plan}},
            {"$set": {"plan": plan, "plan_pending": True}},
        )
        return result.modified_count == 1

    async def acquire_slot(self, *, org_id: str, limit: int | None, workspace_id: str) -> bool:
        return await self.slots.take(org_id=org_id, holder=workspace_id, limit=limit)

    async def _live(self, org_id: str) -> Collection[str]:
        query = {"org_id": org_id, "deleted": False}
        return {d["_id"] async for d in self.workspaces.find(query, {"_id": 1})}

    async def release_slot(self, *, org_id: str, workspace_id: str) -> None:
        await self.slots.release(org_id=org_id, holder=workspace_id)

    async def count_workspaces(self, *, org_id: str) -> int:
        return await self.workspaces.count_documents({"org_id": org_id, "deleted": False})

    async def mark_org_published(self, *, org_id: str, plan: str) -> None:
        await self.orgs.update_one({"_id": org_id, "plan": plan}, {"$set": {"plan_pending": False}})

    async def mark_all_for_publish(self) -> tuple[int, int]:
        orgs = await self.orgs.update_many({}, {"$set": {"plan_pending": True}})
        workspaces = await self.workspaces.update_many({}, {"$set": {"publish_pending": True}})
        return int(orgs.matched_count), int(workspaces.matched_count)

    async def orgs_pending_publish(self) -> list[Org]:
        return [_org(d) async for d in self.orgs.find({"plan_pending": True}).limit(1000)]

    async def insert_workspace(self, *, workspace: Workspace) -> Workspace:
        doc = {
            "_id": workspace.id,
            "org_id": workspace.org_id,
            "name": workspace.name,
            "name_key": _name_key(workspace.name),
            "key_ids": list(workspace.key_ids),
            "created_at": workspace.created_at,
            "version": 1,
            "deleted": False,
            "publish_pending": True,
        }
        try:
            await self.workspaces.insert_one(doc)
        except DuplicateKeyError as exc:
            raise NameTakenError(f"a workspace named {workspace.name!r} already exists") from exc
        return _workspace(doc)

    async def list_workspaces(self, *, org_id: str) -> list[Workspace]:
        cursor = self.workspaces.find({"org_id": org_id, "deleted": False}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_workspace(d) async for d in cursor]

    async def get_workspace(self, *, org_id: str, workspace_id: str) -> Workspace | None:
        # By `_id` alone, checked here: FerretDB answers only an exact `_id` filter from its
        # primary key (another field in the filter makes it a scan).
        doc = await self.workspaces.find_one({"_id": workspace_id})
        if doc is None or doc.get("org_id") != org_id or doc.get("deleted", False):
            return None
        return _workspace(doc)

    async def load_workspace(self, *, workspace_id: str) -> Workspace | None:
        doc = await self.workspaces.find_one({"_id": workspace_id})
        return _workspace(doc) if doc else None

    async def update_workspace(
        self,
        *,
        org_id: str,
        workspace_id: str,
        name: str | None = None,
        key_ids: Sequence[str] | None = None,
    ) -> Workspace | None:
        changes: Doc = {}
        if name is not None:
            changes.update(name=name, name_key=_name_key(name))
        if key_ids is not None:
            changes.update(key_ids=list(key_ids), publish_pending=True)
        if not changes:
            return await self.get_workspace(org_id=org_id, workspace_id=workspace_id)
        try:
            doc = await self.workspaces.find_one_and_update(
                {"_id": workspace_id, "org_id": org_id, "deleted": False},
                {"$set": changes, "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
            )
        except OperationFailure as exc:
            if not is_unique_violation(exc):
                raise
            raise NameTakenError(f"a workspace named {name!r} already exists") from exc
        return _workspace(doc) if doc else None

    async def set_budget(
        self, *, org_id: str, workspace_id: str, budget_usd_monthly: float | None
    ) -> Workspace | None:
        """Set (or clear) a live workspace's monthly budget; its state is to be published."""
        doc = await self.workspaces.find_one_and_update(
            {"_id": workspace_id, "org_id": org_id, "deleted": False},
            {
                "$set": {"budget_usd_monthly": budget_usd_monthly, "publish_pending": True},
                "$inc": {"version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _workspace(doc) if doc else None

    async def set_balancing(
        self,
        *,
        org_id: str,
        workspace_id: str,
        routing: Mapping[str, ProviderRouting] | None = None,
        max_tokens_cap: int | None = None,
        cap_given: bool = False,
    ) -> Workspace | None:
        changes: Doc = {}
        if routing is not None:
            changes.update(
                routing={p: r.model_dump(mode="json") for p, r in routing.items()},
                publish_pending=True,
            )
        if cap_given:
            changes["max_tokens_cap"] = max_tokens_cap
        if not changes:
            return await self.get_workspace(org_id=org_id, workspace_id=workspace_id)
        doc = await self.workspaces.find_one_and_update(
            {"_id": workspace_id, "org_id": org_id, "deleted": False},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return _workspace(doc) if doc else None

    async def delete_workspace(self, *, org_id: str, workspace_id: str) -> Workspace | None:
        doc = await self.workspaces.find_one_and_update(
            {"_id": workspace_id, "org_id": org_id, "deleted": False},
            {
                # The name is freed for reuse; the record stays until its deletion is published.
                "$set": {
                    "deleted": True,
                    "name_key": f"#deleted#{workspace_id}",
                    "key_ids": [],
                    "publish_pending": True,
                },
                "$inc": {"version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _workspace(doc) if doc else None

    async def workspaces_with_key(self, *, org_id: str, key_id: str) -> list[Workspace]:
        cursor = self.workspaces.find({"org_id": org_id, "key_ids": key_id, "deleted": False})
        return [_workspace(d) async for d in cursor]

    async def remove_key(self, *, workspace_id: str, key_id: str) -> Workspace | None:
        doc = await self.workspaces.find_one_and_update(
            {"_id": workspace_id, "key_ids": key_id},
            {
                "$pull": {"key_ids": key_id},
                "$set": {"publish_pending": True},
                "$inc": {"version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _workspace(doc) if doc else None

    async def mark_workspace_published(self, *, workspace_id: str, version: int) -> None:
        await self.workspaces.update_one(
            {"_id": workspace_id, "version": version}, {"$set": {"publish_pending": False}}
        )

    async def workspaces_pending_publish(self) -> list[Workspace]:
        cursor = self.workspaces.find({"publish_pending": True}).limit(1000)
        return [_workspace(d) async for d in cursor]
