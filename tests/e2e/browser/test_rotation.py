"""Replacing a key's value in the UI while executions stream through the API."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser.support import UI, keys_table, row, run
from tests.support.e2e import E2E, add_key, add_workspace, sha256, wait_for

pytestmark = pytest.mark.e2e
GRACE_S = 1.0  # runs requested this long after the replacement was answered use the new value


async def test_replace_key_during_a_stream_of_executions_fails_none(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    old_secret, new_secret = e2e.canary("anthropic"), e2e.canary("anthropic")
    key = await add_key(api, "anthropic", "Rotating", old_secret)
    workspace = await add_workspace(api, "Rotation", [key["id"]])
    page = await ui.open(org, path="/settings/ai-providers")
    listed = row(keys_table(page), "Rotating")
    await expect(listed).to_contain_text(f"sk-ant-…{old_secret[-4:]}")

    done: list[tuple[float, str, dict[str, Any]]] = []  # (requested at, prompt, execution)
    stop = asyncio.Event()

    async def stream() -> None:
        while not stop.is_set():
            prompt = f"rotation {uuid.uuid4().hex}"
            requested = time.time()
            done.append(
                (requested, prompt, await run(api, workspace["id"], "claude-haiku-4-5", prompt))
            )
            await asyncio.sleep(0.2)

    streams = [asyncio.create_task(stream()) for _ in range(4)]
    try:
        await wait_for(lambda: _true(len(done) >= 10), timeout=60)
        await listed.get_by_role("button", name="Replace key", exact=True).click()
        dialog = page.get_by_role("dialog", name="Replace key")
        await expect(dialog).to_be_visible()
        field = dialog.get_by_label("New API key", exact=True)
        await expect(field).to_have_attribute("type", "password")
        await expect(field).to_have_attribute("autocomplete", "off")
        await field.fill(new_secret)
        clicked_at = time.time()
        async with page.expect_response(
            lambda r: r.request.method == "PATCH" and "/api/v1/ai-providers/" in r.url
        ) as answer:
            await dialog.get_by_role("button", name="Save", exact=True).click()
        response = await answer.value
        replaced_at = time.time()
        assert response.status == 200
        sent = json.loads(response.request.post_data or "{}")
        assert sent.get("api_key") == new_secret
        assert response.url.endswith(f"/ai-providers/{key['id']}")
        await expect(dialog).to_be_hidden()
        await expect(listed).to_contain_text(f"sk-ant-…{new_secret[-4:]}")
        await expect(listed).not_to_contain_text(old_secret[-4:])

        def after() -> int:
            return sum(1 for at, _, _ in done if at > replaced_at + GRACE_S)

        await wait_for(lambda: _true(after() >= 15 and len(done) >= 40), timeout=90)
    finally:
        stop.set()
        await asyncio.gather(*streams)

    assert len(done) >= 40
    failed = [e for _, _, e in done if e["status"] != "succeeded"]
    assert failed == []
    assert {e["key_id"] for _, _, e in done} == {key["id"]}
    after_key = (await api.get("/ai-providers")).json()["items"]
    assert [(k["id"], k["preview"]) for k in after_key] == [
        (key["id"], f"sk-ant-…{new_secret[-4:]}")
    ]
    assert (await api.get(f"/workspaces/{workspace['id']}")).json()["ai_provider_ids"] == [
        key["id"]
    ]

    by_prompt = {r.get("prompt_sha256"): r for r in await e2e.sim_requests()}
    used: dict[str, str] = {}
    for at, prompt, _ in done:
        record = by_prompt.get(sha256(prompt))
        assert record is not None, f"the simulator saw no call for {prompt}"
        used[prompt] = record["key_sha256"]
        if at > replaced_at + GRACE_S:
            assert record["key_sha256"] == sha256(new_secret), (
                f"old key used at +{at - replaced_at:.2f}s"
            )
            assert record["key_last4"] == new_secret[-4:]
        if record["received_at"] < clicked_at:  # the new value did not exist yet
            assert record["key_sha256"] == sha256(old_secret)
    assert set(used.values()) == {sha256(old_secret), sha256(new_secret)}
    assert ui.recorder(page).page_errors == []
    await ui.assert_nowhere(old_secret)
    await ui.assert_nowhere(new_secret)


async def _true(value: bool) -> bool:
    return value
