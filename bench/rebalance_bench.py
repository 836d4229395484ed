"""Duplicate provider calls while scaling agent-runner 1 → 3 under 2 s provider latency (issue 12,
fix 3). Target: ≤ 1 % duplicate provider calls.

Everything real, each its own process: Kafka, FerretDB, keyvault (`python -m keyvault`), the
provider simulator (`python -m deploy.local.simulator`, key marker `slow2000ms`: every call
takes 2 s) and the runners (`python -m agent_runner`). Requests are produced at a steady rate;
a second runner joins after `--join-after` seconds and a third as much later, so the group
rebalances twice while calls are in flight. Provider calls per execution come from the
simulator's `GET /_sim/calls` (per sha256 of the prompt; every prompt is unique).

    uv run --frozen --no-sync python bench/rebalance_bench.py --out bench/results/rebalance_bench.md

Ports: `--port-base` (default 19500): simulator +0, keyvault +1, runners' health +10…
"""

from __future__ import annotations

# ruff: noqa: S603, ASYNC109, ASYNC110, E501
import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts import Topics, WorkspaceAssignmentsChanged
from shared.kafka import ensure_topics
from shared.settings import DEV_SERVICE_TOKENS, KafkaSettings

ROOT = Path(__file__).resolve().parents[1]
BOOT = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGO = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
PARTITIONS = 6


def spawn(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


async def wait_http(url: str, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout), httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


def prompt_of(execution_id: str) -> str:
    return f"rebalance bench {execution_id}"


async def run(args: argparse.Namespace, workdir: Path, revoke_wait_s: float) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    topics = Topics(f".rebal{unique}")
    await ensure_topics(KafkaSettings(kafka_bootstrap_servers=BOOT), topics, partitions=PARTITIONS)
    base = args.port_base
    sim_url, kv_url = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": BOOT,
        "MONGODB_URL": MONGO,
        "KAFKA_TOPIC_SUFFIX": topics.suffix,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    procs: list[subprocess.Popen[bytes]] = []
    procs.append(
        spawn("deploy.local.simulator", {**common, "SIM_PORT": str(base)}, workdir / "sim.log")
    )
    kv_env = {
        **common,
        "KEYVAULT_PORT": str(base + 1),
        "KEYVAULT_DB": f"bench_kv_{unique}",
        "KEYVAULT_MASTER_KEYS": f"v1:{base64.b64encode(os.urandom(32)).decode()}",
        "WORKSPACE_URL": f"http://127.0.0.1:{base + 2}",
    }
    procs.append(spawn("keyvault", kv_env, workdir / "keyvault.log"))
    runner_env = {
        **common,
        "RUNNER_DB": f"bench_runner_{unique}",
        "RUNNER_GROUP_ID": f"bench-rebal-{unique}",
        "KEYVAULT_URL": kv_url,
        "RUNNER_ANTHROPIC_BASE_URL": sim_url,
        "RUNNER_REVOKE_WAIT_S": str(revoke_wait_s),
    }
    org, ws = f"org-{unique}", f"ws-{unique}"
    producer = AIOKafkaProducer(bootstrap_servers=BOOT, acks="all", linger_ms=5)
    reader = AIOKafkaConsumer(bootstrap_servers=BOOT, group_id=None, fetch_max_wait_ms=100)
    results: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    retried: Counter[str] = Counter()  # the runner's own retries of a call (5xx, timeout)
    try:
        await wait_http(f"{sim_url}/_sim/health")
        await wait_http(f"{kv_url}/healthz")
        await producer.start()
        async with httpx.AsyncClient(
            base_url=kv_url,
            headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"},
        ) as gw:
            r = await gw.post(
                f"/internal/v1/orgs/{org}/keys",
                json={
                    "provider": "anthropic",
                    "name": "slow",
                    "api_key": "sk-ant-api03-bench-slow2000ms-key-2222",
                    "actor": "bench",
                },
            )
            r.raise_for_status()
            key_id = r.json()["id"]
        event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=[key_id])
        await producer.send_and_wait(
            topics.assignments, event.model_dump_json().encode(), key=ws.encode()
        )
        await asyncio.sleep(1.0)

        await reader.start()
        rtps = [TopicPartition(topics.execution_result, p) for p in range(PARTITIONS)]
        reader.assign(rtps)
        await reader.seek_to_beginning(*rtps)

        async def read() -> None:
            while True:
                for records in (await reader.getmany(timeout_ms=200)).values():
                    for record in records:
                        body = json.loads(record.value or b"{}")
                        results[body["execution_id"]] += 1
                        if results[body["execution_id"]] == 1:
                            statuses[body["status"]] += 1
                        retried[body["execution_id"]] = max(
                            retried[body["execution_id"]], int(body.get("attempts") or 0) - 1
                        )

        reading = asyncio.create_task(read())

        def start_runner(n: int) -> None:
            env = {**runner_env, "RUNNER_HEALTH_PORT": str(base + 10 + n)}
            procs.append(spawn("agent_runner", env, workdir / f"runner{n}.log"))

        start_runner(0)
        await wait_http(f"http://127.0.0.1:{base + 10}/healthz")
        await asyncio.sleep(3.0)  # joined the group and owns every partition
        ids = [f"exec-{i:05d}-{unique}" for i in range(args.count)]
        t0 = time.monotonic()
        joins = {
            round(args.join_after * (k + 1) * args.rate): k + 1 for k in range(args.runners - 1)
        }
        joined_at: list[float] = []
        for i, execution_id in enumerate(ids):
            if i in joins:
                start_runner(joins[i])
                joined_at.append(time.monotonic() - t0)
            request = {
                "execution_id": execution_id,
                "org_id": org,
                "workspace_id": ws,
                "model": "claude-haiku-4-5",
                "input": {
                    "messages": [{"role": "user", "content": prompt_of(execution_id)}],
                    "max_tokens": 16,
                },
            }
            await producer.send(
                topics.execution_requested, json.dumps(request).encode(), key=execution_id.encode()
            )
            await asyncio.sleep(max(0.0, t0 + (i + 1) / args.rate - time.monotonic()))
        produced_s = time.monotonic() - t0
        deadline = time.monotonic() + args.timeout
        while len(results) < len(ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(5.0)  # late duplicates, if any
        reading.cancel()
        async with httpx.AsyncClient() as http:
            counted = (await http.get(f"{sim_url}/_sim/calls")).json()
        by_prompt: dict[str, int] = counted["by_prompt"]
        calls = [by_prompt.get(hashlib.sha256(prompt_of(i).encode()).hexdigest(), 0) for i in ids]
        return {
            "revoke_wait_s": revoke_wait_s,
            "requested": len(ids),
            "rate": args.rate,
            "runners": args.runners,
            "joined_at": joined_at,
            "produced_s": produced_s,
            "unique_results": sum(1 for i in ids if results[i]),
            "lost": sum(1 for i in ids if not results[i]),
            "succeeded": statuses["succeeded"],
            "failed": statuses["failed"],
            "provider_calls": sum(calls),
            "duplicate_calls": sum(max(0, c - 1) for c in calls),
            "executions_called_twice": sum(1 for c in calls if c > 1),
            "never_called": sum(1 for c in calls if c == 0),
            "duplicate_results": sum(max(0, results[i] - 1) for i in ids),
            "provider_retries": sum(retried[i] for i in ids),
        }
    finally:
        await reader.stop()
        await producer.stop()
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = rows[0]
    joined = ", ".join(f"{t:.1f} s" for t in first["joined_at"])
    lines = [
        "## rebalance_bench: duplicate provider calls while scaling 1 → 3 runners",
        "",
        f"{first['requested']} executions per run at {first['rate']:g}/s, every provider call 2 s "
        f"(simulator `slow2000ms`), {PARTITIONS} partitions, real processes; runners joined at "
        f"{joined}. `RUNNER_REVOKE_WAIT_S` 10 is the default (a revoked partition's 2 s calls "
        "finish inside it); 0 stands for provider calls longer than that wait (the issue's LLM "
        "calls over 10 s): the new owner re-fetches work still in flight on the old one. "
        "Claims carry owner + lease (`RUNNER_CLAIM_LEASE_S` 30). Target ≤ 1 % duplicate calls.",
        "",
        "| RUNNER_REVOKE_WAIT_S | requested | unique results | lost | failed | provider calls | duplicate calls | executions called twice+ | of which the runner's own retries | duplicate results | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        share = 100 * row["duplicate_calls"] / max(1, row["requested"])
        lines.append(
            f"| {row['revoke_wait_s']:g} | {row['requested']} | {row['unique_results']} | "
            f"{row['lost']} | {row['failed']} | {row['provider_calls']} | "
            f"{row['duplicate_calls']} ({share:.2f} %) | {row['executions_called_twice']} | "
            f"{row['provider_retries']} | "
            f"{row['duplicate_results']} | {'meets' if share <= 1.0 else 'MISSES'} |"
        )
    return "\n".join([*lines, ""])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/rebalance_bench.md")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--runners", type=int, default=3)
    parser.add_argument("--join-after", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--port-base", type=int, default=19500)
    parser.add_argument(
        "--revoke-waits", default="10,0", help="RUNNER_REVOKE_WAIT_S of each run, comma-separated"
    )
    args = parser.parse_args()
    workdir = ROOT / f".local/bench/rebalance-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True, exist_ok=True)
    for wait in args.revoke_waits.split(","):
        (workdir / f"revoke{float(wait):g}").mkdir()
    rows = []
    for wait in (float(w) for w in args.revoke_waits.split(",")):
        rows.append(await run(args, workdir / f"revoke{wait:g}", wait))
        print(json.dumps(rows[-1]), file=sys.stderr)
    text = report(rows, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"logs: {workdir}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
