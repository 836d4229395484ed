"""Budget benchmark (issue 16): the worst overshoot with 200 executions in flight at the edge
of a monthly budget, against keyvault on loopback (real FerretDB and Kafka).

Each trial: a key with a budget, 200 resolutions at once through `/resolve-batch` (in 8
concurrent batches, as several runners' batches arrive), each with a random cost estimate;
every granted execution is then settled through the results topic at its full estimate (the
worst case: actual cost = estimate). Overshoot = settled spend − budget. Also the latency a
hold adds to a resolution batch.

    uv run --frozen --no-sync python bench/budget_edge.py --out bench/results/budget_edge.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer

from keyvault.app import create_app
from keyvault.settings import KeyvaultSettings
from shared.contracts import ExecutionResult, ExecutionUsage, WorkspaceAssignmentsChanged
from shared.crypto import new_recipient
from shared.settings import DEV_SERVICE_TOKENS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def trials(count: int, in_flight: int) -> list[dict[str, Any]]:
    suffix = f".bench{secrets.token_hex(4)}"
    settings = KeyvaultSettings(
        kafka_topic_suffix=suffix,
        keyvault_db=f"bench_budget_{secrets.token_hex(4)}",
        keyvault_master_keys=f"bench:{base64.b64encode(os.urandom(32)).decode()}",
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        mongodb_url=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"),
        workspace_url=f"http://127.0.0.1:{_free_port()}",
        log_level="WARNING",
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    gateway = httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
    )
    runner = httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['agent-runner']}"},
        timeout=60.0,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    rng = random.Random(16)
    out: list[dict[str, Any]] = []
    try:
        for trial in range(count):
            org, ws = f"org-b{trial}", f"ws-b{trial}"
            budget = round(rng.uniform(0.5, 5.0), 2)
            created = await gateway.post(
                f"/internal/v1/orgs/{org}/keys",
                json={
                    "provider": "anthropic",
                    "name": "bench",
                    "api_key": "sk-ant-" + "b" * 40,
                    "budget_usd_monthly": budget,
                },
            )
            key_id = created.json()["id"]
            event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=[key_id])
            await producer.send_and_wait(
                settings.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
            )
            _, public = new_recipient()
            pk = base64.b64encode(public).decode()

            def item(
                exec_id: str, estimate: float, org: str = org, ws: str = ws, pk: str = pk
            ) -> dict[str, Any]:
                return {
                    "org_id": org,
                    "workspace_id": ws,
                    "provider": "anthropic",
                    "execution_id": exec_id,
                    "public_key": pk,
                    "estimate_usd": estimate,
                }

            for _ in range(200):  # the read model follows the assignment
                probe = await runner.post(
                    "/internal/v1/resolve-batch", json={"items": [item("probe", 0)]}
                )
                if probe.json()["items"][0].get("key_id"):
                    break
                await asyncio.sleep(0.05)
            estimates = {
                f"e{trial}-{i}": round(rng.uniform(0.01, 0.1), 6) for i in range(in_flight)
            }
            ids = list(estimates)
            width = max(1, in_flight // 8)
            began = time.perf_counter()
            batches = await asyncio.gather(
                *(
                    runner.post(
                        "/internal/v1/resolve-batch",
                        json={"items": [item(e, estimates[e]) for e in ids[i : i + width]]},
                    )
                    for i in range(0, in_flight, width)
                )
            )
            took_ms = (time.perf_counter() - began) * 1000
            answers = [a for b in batches for a in b.json()["items"]]
            granted = [e for e, a in zip(ids, answers, strict=True) if a.get("key_id")]
            for e in granted:  # worst case: each costs its whole estimate
                result = ExecutionResult(
                    execution_id=e,
                    org_id=org,
                    workspace_id=ws,
                    status="succeeded",
                    model="claude-sonnet-4-6",
                    provider="anthropic",
                    key_id=key_id,
                    usage=ExecutionUsage(input_tokens=1, output_tokens=1, cost_usd=estimates[e]),
                    attempts=1,
                    duration_ms=1,
                )
                await producer.send(
                    settings.topics.execution_result,
                    result.model_dump_json().encode(),
                    key=e.encode(),
                )
            await producer.flush()
            spent = round(sum(estimates[e] for e in granted), 6)
            for _ in range(600):
                body = (await gateway.get(f"/internal/v1/orgs/{org}/keys/{key_id}")).json()
                if abs(body["spent_usd_month"] - spent) < 1e-6:
                    break
                await asyncio.sleep(0.05)
            out.append(
                {
                    "budget": budget,
                    "granted": len(granted),
                    "spent": spent,
                    "counter": body["spent_usd_month"],
                    "overshoot": max(0.0, spent - budget),
                    "largest": max(estimates.values()),
                    "ms": took_ms,
                }
            )
    finally:
        await producer.stop()
        await gateway.aclose()
        await runner.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 15)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/budget_edge.md"))
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=200)
    args = parser.parse_args()
    rows = asyncio.run(trials(args.trials, args.in_flight))
    worst = max(r["overshoot"] for r in rows)
    lines = [
        "## budget edge",
        "",
        f"{args.in_flight} executions in flight at the edge of a key's monthly budget, "
        f"{args.trials} trials (estimates $0.01–$0.10, each settled at its full estimate). "
        f"Worst overshoot: **${worst:.6f}** (target: at most one execution's cost per runner "
        "process).",
        "",
        "| budget | granted | settled spend | keyvault counter | overshoot | 200 holds took |",
        "|---|---|---|---|---|---|",
        *(
            f"| ${r['budget']:.2f} | {r['granted']} | ${r['spent']:.6f} | ${r['counter']:.6f} "
            f"| ${r['overshoot']:.6f} | {r['ms']:.0f} ms |"
            for r in rows
        ),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
