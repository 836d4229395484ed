"""Benchmark of the workspace service: ledger ingest rate and usage/plan query latency.

Runs against the real Kafka and FerretDB (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URL) with an
isolated topic suffix and database, and writes a small Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from shared.settings import DEV_SERVICE_TOKENS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.kafka import kafka_options
from tests.support.servers import serve
from workspace.app import create_app
from workspace.settings import WorkspaceSettings


async def run(n: int) -> str:
    unique = secrets.token_hex(4)
    settings = WorkspaceSettings(
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        mongodb_url=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"),
        kafka_topic_suffix=f".bench{unique}",
        workspace_db=f"bench_ws_{unique}",
    )
    org = f"org-bench-{unique}"
    headers = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
    rows: list[tuple[str, str]] = []
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http,
    ):
        while (await http.get("/readyz")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap_servers))
        await producer.start()
        started = time.perf_counter()
        for i in range(n):
            body = {
                "execution_id": f"e{i}",
                "org_id": org,
                "workspace_id": f"ws-{i % 5}",
                "status": "succeeded",
                "model": "claude-sonnet-4-6",
                "provider": "anthropic",
                "key_id": f"k{i % 3}",
                "output": {"text": "ok", "finish_reason": "end_turn"},
                "usage": {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0001},
                "attempts": 1,
                "duration_ms": 10,
            }
            await producer.send(
                settings.topics.execution_result, json.dumps(body).encode(), key=f"e{i}".encode()
            )
        await producer.flush()
        await producer.stop()
        while True:
            r = await http.get(f"/internal/v1/orgs/{org}/plan")
            if r.json()["usage"]["executions_this_month"] >= n:
                break
            await asyncio.sleep(0.05)
        ingest_s = time.perf_counter() - started
        rows.append(("results ingested", str(n)))
        rows.append(("ingest rate (results/s, publish to queryable)", f"{n / ingest_s:.0f}"))
        for group in ("key", "workspace", "model"):
            lat = []
            for _ in range(10):
                t = time.perf_counter()
                await http.get(f"/internal/v1/orgs/{org}/usage", params={"group_by": group})
                lat.append((time.perf_counter() - t) * 1000)
            rows.append(
                (
                    f"usage group_by={group} over {n} records, p50 ms",
                    f"{statistics.median(lat):.1f}",
                )
            )
        lat = []
        for i in range(50):
            t = time.perf_counter()
            await http.get(f"/internal/v1/orgs/{org}/executions/e{(i * 7919) % n}")
            lat.append((time.perf_counter() - t) * 1000)
        rows.append(("GET execution p50 ms", f"{statistics.median(lat):.1f}"))
        t = time.perf_counter()
        results = await asyncio.gather(
            *(
                http.post(f"/internal/v1/orgs/{org}-race/workspaces", json={"name": f"w{i}"})
                for i in range(12)
            )
        )
        rows.append(
            (
                "12-way workspace create race: created (limit 3)",
                str(sum(r.status_code == 201 for r in results)),
            )
        )
        rows.append(("12-way race wall time ms", f"{(time.perf_counter() - t) * 1000:.0f}"))
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongodb_url.get_secret_value()
    )
    await client.drop_database(settings.workspace_db)
    await client.close()
    table = ["# workspace benchmark", "", "| measure | value |", "|---|---|"]
    table += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(table) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/workspace_ledger.md"))
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    report = asyncio.run(run(args.n))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
