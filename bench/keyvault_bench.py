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
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient, monitoring

from keyvault.app import create_app
from keyvault.service import vault as vault_module
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


class CommandTimer(monitoring.CommandListener):
    """Every MongoDB command keyvault sends (count and driver-measured round trip) by shape:
    command name, collection and the filter's top-level shape (exact `_id` or not)."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.micros: dict[str, int] = defaultdict(int)
        self.samples: dict[str, list[int]] = defaultdict(list)
        self._shapes: dict[int, str] = {}

    @staticmethod
    def shape(event: monitoring.CommandStartedEvent) -> str:
        name = event.command_name
        cmd = event.command
        target = cmd.get(name)
        flt: Any = cmd.get("filter")
        statements: Any = cmd.get({"update": "updates", "delete": "deletes"}.get(name, ""))
        if statements:
            flt = statements[0].get("q")
        if isinstance(flt, dict) and "_id" in flt:
            by = "_id $in" if isinstance(flt["_id"], dict) else "exact _id"
            by += " + " + ",".join(k for k in flt if k != "_id") if len(flt) > 1 else ""
        elif isinstance(flt, dict):
            by = ",".join(flt) or "all"
        else:
            by = "-"
        return f"{name} {target} [{by}]"

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self._shapes[event.request_id] = self.shape(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event.request_id, event.duration_micros)

    def _done(self, request_id: int, micros: int) -> None:
        shape = self._shapes.pop(request_id, "?")
        self.count[shape] += 1
        self.micros[shape] += micros
        self.samples[shape].append(micros)

    def reset(self) -> None:
        self.count.clear()
        self.micros.clear()
        self.samples.clear()


class Spans:
    """Wall time spent in named steps (time.perf_counter around awaited calls)."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.samples: dict[str, list[float]] = defaultdict(list)

    def _note(self, name: str, seconds: float) -> None:
        self.count[name] += 1
        self.seconds[name] += seconds
        self.samples[name].append(seconds)

    def wrap_async(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self._note(name, time.perf_counter() - began)

        return timed

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._note(name, time.perf_counter() - began)

        return timed

    def reset(self) -> None:
        self.count.clear()
        self.seconds.clear()
        self.samples.clear()


def instrument(app: Any, spans: Spans) -> None:
    """Time each step of a resolution inside the running keyvault (the bench's own process)."""
    vault = app.state.vault
    fence = vault.freshness._fence
    fence._consumer.end_offsets = spans.wrap_async(
        "fence: Kafka ListOffsets", fence._consumer.end_offsets
    )
    vault.freshness.check = spans.wrap_async("fence: check (total)", vault.freshness.check)
    vault.store.key_material = spans.wrap_async("key lookup (store)", vault.store.key_material)
    vault.audit_log.record_many = spans.wrap_async(
        "audit: record_many (group commit)", vault.audit_log.record_many
    )
    vault.store.add_audits = spans.wrap_async("audit: store insert", vault.store.add_audits)
    vault.resolve = spans.wrap_async("resolve (server side, total)", vault.resolve)
    for attr, name in (("decrypt_secret", "crypto: unwrap + decrypt"), ("seal", "crypto: seal")):
        setattr(vault_module, attr, spans.wrap(name, getattr(vault_module, attr)))


async def floor_latency(n: int) -> dict[str, float]:
    """The FerretDB floor: one sequential insert_one, and one find by exact `_id`, alone (ms)."""
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    coll = client[f"bench_floor_{secrets.token_hex(4)}"]["audit"]
    try:
        await coll.insert_one({"_id": "warm"})
        inserts = []
        for i in range(n):
            began = time.perf_counter()
            await coll.insert_one({"_id": f"a{i}", "org_id": "org", "at": i, "key_id": "k"})
            inserts.append((time.perf_counter() - began) * 1000)
        finds = []
        for i in range(n):
            began = time.perf_counter()
            await coll.find_one({"_id": f"a{i}"})
            finds.append((time.perf_counter() - began) * 1000)
        return {"insert_p50": statistics.median(inserts), "find_id_p50": statistics.median(finds)}
    finally:
        await client.drop_database(coll.database.name)
        await client.close()


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


async def seed_keys(url: str, db: str, n: int) -> None:
    """`n` keys of 500 other orgs in keyvault's collection (what a shared store holds)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        docs = [
            {
                "_id": f"key_seed{i:06d}",
                "org_id": f"org-seed{i % 500}",
                "provider": "anthropic",
                "name": f"seed {i}",
                "name_slot": f"seed {i}",
                "preview": "sk-ant-…seed",
                "status": "active",
                "rev": 1,
                "pending_event": False,
                "kek_version": "seed",
                "wrapped_dek": os.urandom(60),
                "ciphertext": os.urandom(80),
            }
            for i in range(n)
        ]
        for start in range(0, n, 1000):
            await client[db]["keys"].insert_many(docs[start : start + 1000])
    finally:
        await client.close()


async def resolution_latency(
    sequential: int,
    concurrent: int,
    width: int,
    timer: CommandTimer,
    spans: Spans,
    seed: int = 0,
) -> dict[str, Any]:
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
    if seed:
        await seed_keys(settings.mongodb_url.get_secret_value(), settings.keyvault_db, seed)
    port = _free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
        instrument(app, spans)
        await asyncio.sleep(1.5)  # let the first last_used write pass
        timer.reset()
        spans.reset()
        samples = [await one() for _ in range(sequential)]
        commands = {
            k: (timer.count[k], timer.micros[k], statistics.median(timer.samples[k]))
            for k in timer.count
        }
        steps = {
            k: (spans.count[k], spans.seconds[k], statistics.median(spans.samples[k]))
            for k in spans.count
        }
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
            "commands": commands,
            "steps": steps,
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
    parser.add_argument(
        "--seed-keys",
        type=int,
        default=0,
        help="keys of other orgs stored first (a shared store's size; FerretDB scans filters "
        "other than an exact `_id`)",
    )
    args = parser.parse_args()
    costs = crypto_costs(args.crypto)
    timer = CommandTimer()
    monitoring.register(timer)  # every MongoClient created from here on reports to it
    spans = Spans()
    lat = asyncio.run(
        resolution_latency(
            args.sequential, args.concurrent, args.width, timer, spans, args.seed_keys
        )
    )
    floor = asyncio.run(floor_latency(200))
    n = args.sequential
    breakdown = [
        "",
        f"Per resolution, sequential phase ({n} calls; wall time in keyvault's process, "
        "perf_counter spans):",
        "",
        "| step | calls per resolution | ms per resolution (mean) | p50 ms per call |",
        "|---|---|---|---|",
        *(
            f"| {name} | {count / n:.2f} | {secs / n * 1000:.3f} | {p50 * 1000:.3f} |"
            for name, (count, secs, p50) in sorted(lat["steps"].items())
        ),
        "",
        "Store commands per resolution, sequential phase (pymongo CommandListener; round trip "
        "as the driver measures it):",
        "",
        "| command [filter] | per resolution | ms per resolution (mean) | p50 ms per command |",
        "|---|---|---|---|",
        *(
            f"| {name} | {count / n:.3f} | {micros / n / 1000:.3f} | {p50 / 1000:.3f} |"
            for name, (count, micros, p50) in sorted(lat["commands"].items())
        ),
        "",
        "FerretDB alone (200 sequential commands, a fresh collection, no keyvault):",
        "",
        f"- insert_one p50: {floor['insert_p50']:.3f} ms",
        f"- find_one by exact `_id` p50: {floor['find_id_p50']:.3f} ms",
    ]
    lines = [
        "## keyvault",
        "",
        "Resolution = `POST /internal/v1/resolve` over loopback HTTP: read-model fence (Kafka "
        "ListOffsets) while the key is read from FerretDB (exact `_id`), unwrap + decrypt, "
        "audit insert (group-committed), last_used coalesced, X25519 seal. The spans overlap "
        "(fence and key lookup run together), so they do not add up to the total.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| keys of other orgs in the store | {args.seed_keys} |",
        f"| resolution p50, sequential ({args.sequential} calls) | {lat['p50']:.2f} ms |",
        f"| resolution p99, sequential | {lat['p99']:.2f} ms |",
        f"| resolution p50, {args.width} in flight ({args.concurrent} calls) | "
        f"{lat['loaded_p50']:.2f} ms |",
        f"| resolution p99, {args.width} in flight | {lat['loaded_p99']:.2f} ms |",
        f"| resolutions per second, {args.width} in flight | {lat['throughput']:.0f} |",
        f"| encrypt per key (fresh data key, AES-256-GCM, wrap) | {costs['encrypt_us']:.1f} µs |",
        f"| decrypt per key (unwrap, AES-256-GCM open) | {costs['decrypt_us']:.1f} µs |",
        *breakdown,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
