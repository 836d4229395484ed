"""agent-runner benchmark: executions/s and added latency of ONE runner process.

Everything real except the providers: Kafka, FerretDB, keyvault (`python -m keyvault`, every
execution resolves its key over HTTP) and the provider simulator
(`python -m deploy.local.simulator`), each its own process. Added latency = the broker's
append time of the result (the results topic uses LogAppendTime) minus the time the
simulator sent its reply.

    uv run --frozen --no-sync python bench/runner_bench.py --out bench/results/runner_bench.md
"""

from __future__ import annotations

# ruff: noqa: S603, ASYNC109, ASYNC110, ASYNC220, E501
import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from shared.contracts import Topics, WorkspaceAssignmentsChanged
from shared.kafka import client_options, ensure_topics
from shared.settings import DEV_SERVICE_TOKENS, KafkaSettings

ROOT = Path(__file__).resolve().parents[1]
BOOT = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# SASL/TLS from the environment (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*), as the services.
KAFKA = KafkaSettings(kafka_bootstrap_servers=BOOT)
MONGO = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(
    module: str, env: dict[str, str], log: Path, *, profile: Path | None = None
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", module]
    return subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT
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


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def infra_pids() -> dict[str, int]:
    """Kafka's and FerretDB's pids from deploy/local/infra.sh's pid files, when it runs them."""
    found = {}
    for name in ("kafka", "ferretdb"):
        # infra.sh's run directory, read directly: walking .local would race Kafka deleting
        # topic directories under .local/data.
        try:
            pid = int((ROOT / ".local/run" / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if Path(f"/proc/{pid}").exists():
            found[name] = pid
    return found


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.unique = uuid.uuid4().hex[:8]
        self.suffix = f".bench{self.unique}"
        self.topics = Topics(self.suffix)
        self.sim_port, self.kv_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.kv_url = f"http://127.0.0.1:{self.kv_port}"
        self.named: dict[str, subprocess.Popen[bytes]] = {}
        self.retired: list[subprocess.Popen[bytes]] = []
        self.org, self.ws = f"org-{self.unique}", f"ws-{self.unique}"
        self.keys: dict[str, str] = {}
        self.stub = False
        self.current = "fast"

    async def start(self) -> None:
        # The results topic stamps each record with the broker's append time: "the result
        # reached Kafka" without the bench consumer's own fetch delays (one partition's
        # records were at times handed over ~300 ms late at low load).
        admin = AIOKafkaAdminClient(**client_options(KAFKA))
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        self.topics.execution_result,
                        6,
                        1,
                        topic_configs={"message.timestamp.type": "LogAppendTime"},
                    )
                ]
            )
        finally:
            await admin.close()
        await ensure_topics(KAFKA, self.topics, partitions=6)
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": BOOT,
            "MONGODB_URL": MONGO,
            "KAFKA_TOPIC_SUFFIX": self.suffix,
            "LOG_LEVEL": "WARNING",
        }
        self.named["simulator"] = spawn(
            "deploy.local.simulator",
            {**common, "SIM_PORT": str(self.sim_port)},
            self.workdir / "sim.log",
        )
        kv_env = {
            **common,
            "KEYVAULT_PORT": str(self.kv_port),
            "KEYVAULT_DB": f"bench_kv_{self.unique}",
            "KEYVAULT_MASTER_KEYS": f"v1:{base64.b64encode(os.urandom(32)).decode()}",
            "WORKSPACE_URL": f"http://127.0.0.1:{free_port()}",
        }
        self.named["keyvault"] = spawn("keyvault", kv_env, self.workdir / "keyvault.log")
        await wait_http(f"{self.sim_url}/_sim/health")
        await wait_http(f"{self.kv_url}/healthz")
        self.producer = AIOKafkaProducer(
            **client_options(KAFKA), acks="all", linger_ms=5, max_batch_size=1 << 20
        )
        await self.producer.start()
        async with httpx.AsyncClient(
            base_url=self.kv_url,
            headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"},
        ) as gw:
            for name, secret in (
                ("fast", "sk-ant-api03-bench-fast-key-0000"),
                ("slow", "sk-ant-api03-bench-slow500ms-key-1111"),
            ):
                r = await gw.post(
                    f"/internal/v1/orgs/{self.org}/keys",
                    json={
                        "provider": "anthropic",
                        "name": name,
                        "api_key": secret,
                        "actor": "bench",
                    },
                )
                r.raise_for_status()
                self.keys[name] = r.json()["id"]

    async def use_stub_keyvault(self) -> None:
        """Serve the store-less stand-in and point the next runs at it."""
        port = free_port()
        self.retired.append(self.named.pop("keyvault"))
        self.named["keyvault"] = subprocess.Popen(
            [sys.executable, __file__, "--serve-stub", str(port)],
            stdout=(self.workdir / "stub.log").open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self.kv_url = f"http://127.0.0.1:{port}"
        self.stub = True
        await wait_http(f"{self.kv_url}/healthz")

    async def assign(self, key: str) -> None:
        self.current = key
        event = WorkspaceAssignmentsChanged(
            workspace_id=self.ws, org_id=self.org, key_ids=[self.keys[key]]
        )
        await self.producer.send_and_wait(
            self.topics.assignments, event.model_dump_json().encode(), key=self.ws.encode()
        )
        await asyncio.sleep(1.0)

    async def skip_to_end(self, group: str) -> None:
        """Commit the end of the requests topic for a fresh group, so a run sees only its own."""
        c = AIOKafkaConsumer(**client_options(KAFKA), group_id=group, enable_auto_commit=False)
        await c.start()
        try:
            tps = [TopicPartition(self.topics.execution_requested, p) for p in range(6)]
            c.assign(tps)
            end = await c.end_offsets(tps)
            await c.commit(dict(end.items()))
        finally:
            await c.stop()

    def request(self, execution_id: str, prompt: str) -> bytes:
        return json.dumps(
            {
                "execution_id": execution_id,
                "org_id": self.org,
                "workspace_id": self.ws + ("-slow" if self.stub and self.current == "slow" else ""),
                "model": "claude-haiku-4-5",
                "input": {"messages": [{"role": "user", "content": prompt}], "max_tokens": 64},
            }
        ).encode()

    async def run(
        self,
        *,
        in_flight: int,
        count: int,
        rate: float | None,
        key: str,
        profile: Path | None = None,
    ) -> dict[str, Any]:
        await self.assign(key)
        group = f"bench-{uuid.uuid4().hex[:8]}"
        await self.skip_to_end(group)
        async with httpx.AsyncClient() as http:
            await http.delete(f"{self.sim_url}/_sim/requests")
        results: dict[str, float] = {}
        reader = AIOKafkaConsumer(**client_options(KAFKA), group_id=None, fetch_max_wait_ms=100)
        await reader.start()
        rtps = [TopicPartition(self.topics.execution_result, p) for p in range(6)]
        reader.assign(rtps)
        await reader.seek_to_end(*rtps)
        for tp in rtps:
            await reader.position(tp)
        statuses: dict[str, int] = {}

        async def read() -> None:
            while True:
                for records in (await reader.getmany(timeout_ms=50, max_records=10000)).values():
                    now = time.time()
                    for r in records:
                        body = json.loads(r.value)
                        appended = r.timestamp / 1000 if r.timestamp_type == 1 else now
                        results.setdefault(body["execution_id"], appended)
                        statuses[body["status"]] = statuses.get(body["status"], 0) + 1

        reading = asyncio.create_task(read())
        ids = [f"b-{uuid.uuid4().hex[:16]}" for _ in range(count)]
        prompts = {i: f"bench prompt {i}" for i in ids}
        health = free_port()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": BOOT,
            "MONGODB_URL": MONGO,
            "KAFKA_TOPIC_SUFFIX": self.suffix,
            "RUNNER_GROUP_ID": group,
            "RUNNER_DB": f"bench_runner_{self.unique}",
            "RUNNER_CONCURRENCY": str(in_flight),
            "KEYVAULT_URL": self.kv_url,
            "RUNNER_ANTHROPIC_BASE_URL": self.sim_url,
            "RUNNER_HEALTH_PORT": str(health),
            "LOG_LEVEL": "WARNING",
        }
        if rate is None:  # preload, then start the runner: measures pure throughput
            for i in ids:
                await self.producer.send(
                    self.topics.execution_requested, self.request(i, prompts[i]), key=i.encode()
                )
            await self.producer.flush()
        runner = spawn(
            "agent_runner", env, self.workdir / f"runner-{in_flight}-{key}.log", profile=profile
        )
        await wait_http(f"http://127.0.0.1:{health}/readyz")
        pids = {
            "runner": runner.pid,
            **{n: p.pid for n, p in self.named.items()},
            **infra_pids(),
            "load generator": os.getpid(),
        }
        cpu_before = {n: cpu_s(pid) for n, pid in pids.items()}
        if rate is not None:
            for i in ids:
                await self.producer.send(
                    self.topics.execution_requested, self.request(i, prompts[i]), key=i.encode()
                )
                await asyncio.sleep(1 / rate)
        async with asyncio.timeout(600):
            while len(results) < count:
                await asyncio.sleep(0.05)
        cpu_ms = {n: (cpu_s(pid) - cpu_before[n]) * 1000 / count for n, pid in pids.items()}
        rss, peak = rss_mb(runner.pid)
        runner.send_signal(signal.SIGTERM)
        runner.wait(40)
        reading.cancel()
        await reader.stop()
        async with httpx.AsyncClient() as http:
            records = (await http.get(f"{self.sim_url}/_sim/requests")).json()["items"]
        by_prompt = {r["prompt_sha256"]: r["responded_at"] for r in records if "prompt_sha256" in r}
        # How long the simulator itself held each call (its configured latency plus its own
        # queueing): the provider time that Little's law should use.
        served = [
            r["responded_at"] - r["received_at"]
            for r in records
            if "responded_at" in r and "received_at" in r
        ]
        added = []
        for i in ids:
            sent = by_prompt.get(hashlib.sha256(prompts[i].encode()).hexdigest())
            if sent is not None:
                added.append((results[i] - sent) * 1000)
        times = sorted(results.values())
        span = times[-1] - times[0]
        return {
            "in_flight": in_flight,
            "count": count,
            "key": key,
            "rate": rate,
            "per_s": (count - 1) / span if span > 0 else float("nan"),
            "p50": pct(added, 50),
            "p99": pct(added, 99),
            "served_mean_ms": sum(served) / len(served) * 1000 if served else float("nan"),
            "rss": rss,
            "peak": peak,
            "statuses": statuses,
            "cpu_ms": cpu_ms,
        }

    async def stop(self) -> None:
        """Stop the processes, then drop this run's topics and databases (a local broker
        slows down as thousands of partitions pile up)."""
        await self.producer.stop()
        procs = [*self.named.values(), *self.retired]
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        admin = AIOKafkaAdminClient(**client_options(KAFKA))
        await admin.start()
        try:
            await admin.delete_topics(list(self.topics.all()))
        finally:
            await admin.close()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO)
        try:
            for db in (f"bench_kv_{self.unique}", f"bench_runner_{self.unique}"):
                await mongo.drop_database(db)
        finally:
            await mongo.close()


STUB_KEY = {
    "fast": "sk-ant-api03-bench-fast-key-0000",
    "slow": "sk-ant-api03-bench-slow500ms-key-1111",
}


def bound_share(row: dict[str, Any]) -> str:
    """Throughput as a share of in_flight / (time the simulator held each call)."""
    served = row["served_mean_ms"]
    if row["rate"] is not None or row["key"] != "slow" or math.isnan(served) or served <= 0:
        return "–"
    return f"{row['per_s'] / (row['in_flight'] / (served / 1000)):.0%}"


def stub_keyvault_app() -> Any:
    """A keyvault stand-in with no store: seals the key per call (same crypto, no audit).

    Used only for the rows marked "stub": it separates the runner's own cost from
    keyvault's store writes on this machine. Never a substitute for the real rows.
    """
    from shared.crypto import seal, seal_context
    from shared.web import read_body

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["path"] != "/internal/v1/resolve-batch":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        items = []
        for req in json.loads(body)["items"]:
            which = "slow" if req["workspace_id"].endswith("-slow") else "fast"
            key_id = f"key_stub_{which}"
            sealed = seal(
                base64.b64decode(req["public_key"]),
                STUB_KEY[which].encode(),
                seal_context(execution_id=req["execution_id"], key_id=key_id),
            )
            items.append({"key_id": key_id, "sealed": base64.b64encode(sealed).decode()})
        out = json.dumps({"items": items}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": out})

    return app


# (provider latency key, in flight, executions, offered rate or None for a backlog)
FULL: list[tuple[str, int, int, float | None]] = [
    ("fast", 1, 300, None),
    ("fast", 16, 1500, None),
    ("fast", 64, 3000, None),
    ("fast", 256, 5000, None),
    ("fast", 512, 5000, None),
    ("slow", 64, 1000, None),
    ("slow", 256, 4096, None),
    ("slow", 512, 4096, None),
    ("fast", 256, 1000, 50.0),
]
QUICK = [
    ("fast", 1, 200, None),
    ("fast", 256, 1500, None),
    ("slow", 256, 1536, None),
    ("fast", 256, 300, 50.0),
]


def parse_configs(text: str) -> list[tuple[str, int, int, float | None]]:
    out: list[tuple[str, int, int, float | None]] = []
    for part in text.split(","):
        key, n, count, *rate = part.split(":")
        out.append((key, int(n), int(count), float(rate[0]) if rate else None))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/runner_bench.md")
    parser.add_argument("--quick", action="store_true", help="fewer configurations")
    parser.add_argument(
        "--configs", default=None, help="key:in_flight:count[:rate],... (key fast|slow)"
    )
    parser.add_argument(
        "--no-stub-keyvault",
        dest="stub_keyvault",
        action="store_false",
        help="skip the rows against a store-less keyvault stand-in (the runner's own ceiling)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the 0 ms / 256 run here"
    )
    args = parser.parse_args()
    workdir = ROOT / ".local/bench/runner"
    workdir.mkdir(parents=True, exist_ok=True)
    configs = parse_configs(args.configs) if args.configs else (QUICK if args.quick else FULL)
    bench = Bench(workdir)
    await bench.start()
    rows = []
    began = time.monotonic()
    try:
        for key, n, count, rate in configs:
            rows.append(
                await bench.run(
                    in_flight=n,
                    count=count,
                    rate=rate,
                    key=key,
                    profile=args.profile if (key, n, rate) == ("fast", 256, None) else None,
                )
            )
            print(rows[-1], flush=True)
        if args.stub_keyvault:
            await bench.use_stub_keyvault()
            for key, n, count in (("fast", 256, 5000), ("slow", 256, 4096)):
                rows.append(await bench.run(in_flight=n, count=count, rate=None, key=key))
                rows[-1]["stub"] = True
                print(rows[-1], flush=True)
    finally:
        await bench.stop()
    took = time.monotonic() - began
    lines = [
        "# agent-runner benchmark (one runner process)",
        "",
        f"{os.cpu_count()} cores shared by Kafka, FerretDB, keyvault, the simulator, the runner and "
        f"the load generator; {took:.0f} s in all. Real Kafka, FerretDB and keyvault (a key "
        "resolution per execution, audited; concurrent ones travel in one "
        "`/internal/v1/resolve-batch` call) unless the keyvault column says `stub` (a "
        "store-less stand-in that only seals the keys). Providers are the simulator. Added "
        "latency = the broker's append time of the result (LogAppendTime) minus the time the "
        "simulator sent its reply; throughput = executions over the span of append times.",
        "",
        "| provider latency | keyvault | in flight | offered | executions | executions/s | added p50 ms | added p99 ms | RSS MB (peak) | statuses | simulator held a call, mean ms | share of in flight / that time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        offered = "backlog" if r["rate"] is None else f"{r['rate']:.0f}/s"
        latency = "500 ms" if r["key"] == "slow" else "0 ms"
        kv = "stub" if r.get("stub") else "real"
        lines.append(
            f"| {latency} | {kv} | {r['in_flight']} | {offered} | {r['count']} | {r['per_s']:.0f} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['rss']:.0f} ({r['peak']:.0f}) | {r['statuses']} | "
            f"{r['served_mean_ms']:.1f} | {bound_share(r)} |"
        )
    lines += [
        "",
        "The last column relates throughput to Little's law with the provider time the simulator "
        "actually took (its configured latency plus its own queueing): executions/s ÷ (in flight "
        "÷ that time). Only meaningful for backlog rows with a provider latency.",
    ]
    names = ["runner", "keyvault", "simulator", "kafka", "ferretdb", "load generator"]
    lines += [
        "",
        "CPU milliseconds per execution, by process (user + system time over the run divided by "
        "its executions; the load generator is this benchmark's own process: it publishes the "
        "requests and reads the results). The last column is what the "
        "runner's own CPU per execution allows one runner process on one core of this machine "
        "(1000 / runner ms): derived, not measured. At an offered 50/s every process's idle "
        "work (polls, heartbeats) is spread over few executions.",
        "",
        "| provider latency | keyvault | in flight | offered | "
        + " | ".join(names)
        + " | total | one runner on one core, executions/s |",
        "|---|---|---|---|" + "---|" * (len(names) + 2),
    ]
    for r in rows:
        offered = "backlog" if r["rate"] is None else f"{r['rate']:.0f}/s"
        latency = "500 ms" if r["key"] == "slow" else "0 ms"
        kv = "stub" if r.get("stub") else "real"
        cells = [f"{r['cpu_ms'][n]:.2f}" if n in r["cpu_ms"] else "–" for n in names]
        lines.append(
            f"| {latency} | {kv} | {r['in_flight']} | {offered} | "
            + " | ".join(cells)
            + f" | {sum(r['cpu_ms'].values()):.2f} | {1000 / r['cpu_ms']['runner']:.0f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-stub":
        import uvicorn

        uvicorn.run(
            stub_keyvault_app(),
            host="127.0.0.1",
            port=int(sys.argv[2]),
            log_level="warning",
            lifespan="off",
        )
    else:
        asyncio.run(main())
