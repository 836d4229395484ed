"""Disaster recovery: `python -m workspace republish` rebuilds workspace.assignments.v1 and
workspace.plans.v1 from the store (real FerretDB and Kafka), into fresh topics."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from shared.contracts import Topics
from shared.kafka import ensure_topics
from shared.settings import DEV_SERVICE_TOKENS
from tests.support.kafka import kafka_settings
from tests.support.servers import free_port, serve
from tests.support.topics import read_all
from workspace.app import create_app
from workspace.settings import WorkspaceSettings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


async def test_republish_rebuilds_assignments_and_plans_from_the_store(
    kafka_bootstrap: str, mongo_url: str, topic_suffix: str, db_name: str, unique: str
) -> None:
    settings = WorkspaceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongo_url,
        kafka_topic_suffix=topic_suffix,
        workspace_db=db_name,
        keyvault_url=f"http://127.0.0.1:{free_port()}",
        log_format="text",
    )
    org = f"org-dr-{unique}"
    headers = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=f"{url}/internal/v1", headers=headers) as c,
    ):
        plan = await c.put(f"/orgs/{org}/plan", json={"plan": "team"})
        assert plan.status_code == 200, plan.text
        ids = []
        for name in ("Sales", "Support", "Old"):
            created = await c.post(f"/orgs/{org}/workspaces", json={"name": name})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        gone = await c.delete(f"/orgs/{org}/workspaces/{ids[2]}")
        assert gone.status_code == 204, gone.text

    lost = f".dr{unique}"
    await ensure_topics(kafka_settings(kafka_bootstrap), Topics(lost))
    env = {
        **os.environ,
        "WORKSPACE_DB": db_name,
        "MONGODB_URL": mongo_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_SUFFIX": lost,
        "LOG_FORMAT": "text",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        "republish",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:  # never leave it running (e.g. a CLI that serves instead)
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "republished 1 plans and 3 workspaces" in out.decode(), out.decode()
    assignments = await read_all(kafka_bootstrap, Topics(lost).assignments, expect=3)
    assert set(assignments) == set(ids)
    assert assignments[ids[2]]["deleted"] is True
    assert assignments[ids[0]]["deleted"] is False
    plans = await read_all(kafka_bootstrap, Topics(lost).plans, expect=1)
    assert plans[org]["plan"] == "team"
