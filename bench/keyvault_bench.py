"""keyvault benchmark: resolution latency over loopback HTTP (real FerretDB and Kafka) and the
cost of envelope encryption and decryption per key.

    uv run --frozen --no-sync python bench/keyvault_bench.py --out bench/results/keyvault_bench.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import socket
import statistics
import time
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer

from keyvault.app import create_app
from keyvault.service.envelope import (
    LocalKeyring,
    decrypt_secret,
    encrypt_secret,
    new_version_entry,
)
from keyvault.settings import KeyvaultSettings
from shared.contracts import WorkspaceAssignmentsChanged
from shared.crypto import SecretValue, new_recipient
from shared.kafka import client_options
from shared.settings import DEV_SERVICE_TOKENS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def crypto_costs(n: int) -> dict[str, float]:
    """Microseconds per encrypt (fresh data key + wrap) and per decrypt (unwrap + open)."""
    keyring = LocalKeyring([new_version_entry("bench-")])
    secret = SecretValue("sk-ant-api03-" + secrets.token_urlsafe(60))
    binding = {"org_id": "org-bench", "key_id": "key_bench", "provider": "anthropic"}
    began = time.perf_counter()
    stored = [encrypt_secret(keyring, secret=secret, **binding) for _ in range(n)]
    enc = (time.perf_counter() - began) / n * 1e6
    began = time.perf_counter()
    for item in stored:
        decrypt_secret(keyring, item, **binding)
    dec = (time.perf_counter() - began) / n * 1e6
    return {"encrypt_us": enc, "decrypt_us": dec}


async def resolution_latency(sequential: int, concurrent: int, width: int) -> dict[str, float]:
    suffix = f".bench{secrets.token_hex(4)}"
    settings = KeyvaultSettings(
        kafka_topic_suffix=suffix,
        keyvault_db=f"bench_kv_{secrets.token_hex(4)}",
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
        limits=httpx.Limits(max_connections=width, max_keepalive_connections=width),
        timeout=30.0,
    )
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        org, ws = "org-bench", "ws-bench"
        created = await gateway.post(
            f"/internal/v1/orgs/{org}/keys",
            json={"provider": "anthropic", "name": "bench", "api_key": "sk-ant-" + "b" * 40},
        )
        key_id = created.json()["id"]
        event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=[key_id])
        await producer.send_and_wait(
            settings.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
        )
        _, public = new_recipient()
        body = {
            "org_id": org,
            "workspace_id": ws,
            "provider": "anthropic",
            "execution_id": "exec-bench",
            "public_key": base64.b64encode(public).decode(),
        }

        async def one() -> float:
            began = time.perf_counter()
            response = await runner.post("/internal/v1/resolve", json=body)
            took = time.perf_counter() - began
            if response.status_code != 200:
                raise RuntimeError(f"resolve answered {response.status_code}: {response.text}")
            return took * 1000

        for _ in range(100):
            try:
                await one()
                break
            except RuntimeError:
                await asyncio.sleep(0.05)
        for _ in range(20):
            await one()
        samples = [await one() for _ in range(sequential)]
        began = time.perf_counter()
        sem = asyncio.Semaphore(width)

        async def bounded() -> float:
            async with sem:
                return await one()

        loaded = await asyncio.gather(*(bounded() for _ in range(concurrent)))
        wall = time.perf_counter() - began
        return {
            "p50": statistics.median(samples),
            "p99": _pct(samples, 0.99),
            "mean": statistics.fmean(samples),
            "loaded_p50": statistics.median(loaded),
            "loaded_p99": _pct(list(loaded), 0.99),
            "throughput": concurrent / wall,
        }
    finally:
        await producer.stop()
        await gateway.aclose()
        await runner.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/keyvault_bench.md"))
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--crypto", type=int, default=5000)
    args = parser.parse_args()
    costs = crypto_costs(args.crypto)
    lat = asyncio.run(resolution_latency(args.sequential, args.concurrent, args.width))
    lines = [
        "## keyvault",
        "",
        "Resolution = `POST /internal/v1/resolve` over loopback HTTP: read-model check, key "
        "lookup in FerretDB, unwrap + decrypt, audit insert, last_used update, X25519 seal.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| resolution p50, sequential ({args.sequential} calls) | {lat['p50']:.2f} ms |",
        f"| resolution p99, sequential | {lat['p99']:.2f} ms |",
        f"| resolution p50, {args.width} in flight ({args.concurrent} calls) | "
        f"{lat['loaded_p50']:.2f} ms |",
        f"| resolution p99, {args.width} in flight | {lat['loaded_p99']:.2f} ms |",
        f"| resolutions per second, {args.width} in flight | {lat['throughput']:.0f} |",
        f"| encrypt per key (fresh data key, AES-256-GCM, wrap) | {costs['encrypt_us']:.1f} µs |",
        f"| decrypt per key (unwrap, AES-256-GCM open) | {costs['decrypt_us']:.1f} µs |",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
