"""The yardstick: FlowTrux next to LiteLLM's proxy, one load generator, one run.

Four paths to the same fake provider (the project's simulator, Anthropic Messages API):
  direct   POST the simulator's /v1/messages (the baseline every "added" figure subtracts)
  litellm  LiteLLM proxy (pinned, one worker, no database) → simulator
  gateway  FlowTrux's test-run route, `POST /api/v1/workspaces/{id}/executions` with
           `wait_seconds` → Kafka → runner → keyvault → simulator → Kafka → gateway
  kafka    publish an `ExecutionRequested` as a workflow engine does, wait for its result
Each path runs closed-loop (a fixed number of requests in flight), at provider latency 0 and
500 ms (the simulator's `slow500ms` key marker). CPU per request is read from /proc for every
process (user + system over the run). The LiteLLM proxy is a benchmark tool installed by
deploy/local/peer.sh into .local/peer, not a project dependency.

    deploy/local/peer.sh   (make bench-peer)  writes bench/peer-report.md
"""

from __future__ import annotations

# ruff: noqa: S603, E501, ASYNC240
import argparse
import asyncio
import collections
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.cleanup import forget  # noqa: E402
from bench.peer import cpu_profile  # noqa: E402
from bench.runner_bench import cpu_s, infra_pids, pct, rss_mb  # noqa: E402
from shared.http import AiohttpTransport  # noqa: E402
from tests.support.e2e import load_stack_module, wait_for  # noqa: E402

JWT_SECRET = "bench-peer-jwt-secret-0123456789abcdef0123"
# PEER_PORT_BASE moves every port (two runs side by side on one machine).
BASE = int(os.environ.get("PEER_PORT_BASE", "28180"))
PORTS = {
    "gateway": BASE,
    "keyvault": BASE + 1,
    "workspace": BASE + 2,
    "agent-runner": BASE + 3,
    "provider-sim": BASE + 10,
}
LITELLM_PORT = BASE + 20
# LiteLLM refuses to start without a master key; with no database it is a plain comparison
# (as FlowTrux's gateway checks a signed token on every request).
LITELLM_MASTER_KEY = "sk-peer-bench-master-" + "0" * 32
MODEL = "claude-haiku-4-5"
KEYS = {0: "sk-ant-api03-peerbench-fast-0000000000", 500: "sk-ant-api03-peerbench-slow500ms-00000"}
PROMPT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}


@dataclass
class Run:
    path: str
    latency_ms: int
    in_flight: int
    requests: int
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # Kafka path only: (before the runner, in the runner, after the provider's reply) in
    # seconds per execution — see KafkaPath.stages.
    stages: list[tuple[float, float, float]] = field(default_factory=list)
    # Kafka path only: the services' own histograms over the row (name -> (sum s, count)).
    timers: dict[str, tuple[float, float]] = field(default_factory=dict)
    # What the row asked of the broker (requests by type) and of the store (commands by
    # name), per request of the row; empty when not counted.
    kafka_requests: dict[str, float] = field(default_factory=dict)
    store_commands: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return pct(self.latencies, q) * 1000


async def closed_loop(
    call: Callable[[int], Awaitable[bool]], total: int, in_flight: int
) -> tuple[float, list[float], int]:
    """`in_flight` workers call until `total` calls are done; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal errors
        for n in counter:
            t0 = time.perf_counter()
            ok = await call(n)
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - t0, latencies, errors


async def timed_loop(
    call: Callable[[int], Awaitable[bool]],
    seconds: float,
    in_flight: int,
    sample: Callable[[float, int], None],
    every_s: float,
) -> tuple[int, int]:
    """`in_flight` workers call until `seconds` have passed, `sample(elapsed, calls)` every
    `every_s`; (calls, errors)."""
    calls = errors = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds

    async def worker() -> None:
        nonlocal calls, errors
        while time.perf_counter() < deadline:
            ok = await call(calls)
            calls += 1
            errors += not ok

    async def sampler() -> None:
        while (now := time.perf_counter()) < deadline:
            sample(now - t0, calls)
            await asyncio.sleep(min(every_s, max(0.0, deadline - now)))

    await asyncio.gather(sampler(), *(worker() for _ in range(in_flight)))
    sample(time.perf_counter() - t0, calls)
    return calls, errors


@dataclass
class Soak:
    """RSS of each process sampled over a long closed loop (the memory-growth check)."""

    path: str
    seconds: float
    in_flight: int
    calls: int = 0
    errors: int = 0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    # (seconds, calls so far, CPU seconds per process so far): is the cost per request flat?
    cpu: list[tuple[float, int, dict[str, float]]] = field(default_factory=list)

    def sample(
        self, rss: Callable[[], dict[str, float]], cpu: Callable[[], dict[str, float]]
    ) -> Callable[[float, int], None]:
        """A sampler for `timed_loop`: RSS and CPU so far of every process."""

        def take(elapsed: float, calls: int) -> None:
            self.samples.append((elapsed, rss()))
            self.cpu.append((elapsed, calls, cpu()))

        return take

    def lines(self, at_rest: dict[str, float]) -> list[str]:
        names = sorted({n for _, row in self.samples for n in row})
        lines = [
            "",
            f"## Memory over a {self.seconds / 60:g}-minute run ({self.path} path, provider "
            f"0 ms, {self.in_flight} in flight)",
            "",
            f"{self.calls} requests ({self.calls / self.seconds:.1f}/s), {self.errors} errors; "
            f"RSS sampled {len(self.samples)} times. Growth = RSS at the end minus RSS at the "
            "end of the first quarter (after warm-up, caches and pools have filled); the slope "
            "is a least-squares fit over the last three quarters.",
            "",
            "| process | at rest MB | first quarter MB | max MB | end MB | growth MB | slope MB/min |",
            "|---|---|---|---|---|---|---|",
        ]
        quarter = self.seconds / 4
        if len(self.cpu) >= 3:
            first = min(self.cpu, key=lambda c: abs(c[0] - quarter))
            mid = min(self.cpu, key=lambda c: abs(c[0] - 2 * quarter))
            last = self.cpu[-1]

            def per_request(
                a: tuple[float, int, dict[str, float]],
                b: tuple[float, int, dict[str, float]],
                n: str,
            ) -> float:
                calls = b[1] - a[1]
                return (b[2].get(n, 0.0) - a[2].get(n, 0.0)) * 1000 / calls if calls else 0.0

            cpu_rows = [
                "",
                "CPU ms per request in the second quarter and in the second half of the run "
                "(a cost that grows with the data, such as a scan, shows here):",
                "",
                "| process | second quarter | second half |",
                "|---|---|---|",
            ]
            cpu_rows += [
                f"| {n} | {per_request(first, mid, n):.2f} | {per_request(mid, last, n):.2f} |"
                for n in sorted(last[2])
            ]
        else:
            cpu_rows = []
        for n in names:
            series = [(t, row[n]) for t, row in self.samples if n in row]
            late = [(t, v) for t, v in series if t >= quarter] or series
            q1 = late[0][1]
            lines.append(
                f"| {n} | {at_rest.get(n, float('nan')):.0f} | {q1:.0f} | "
                f"{max(v for _, v in series):.0f} | {series[-1][1]:.0f} | "
                f"{series[-1][1] - q1:+.1f} | {slope_per_min(late):+.2f} |"
            )
        return lines + cpu_rows


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 2:
        return 0.0
    mt = sum(t for t, _ in points) / len(points)
    mv = sum(v for _, v in points) / len(points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


class KafkaPath:
    """Publishes requests as an engine would and matches results by execution id."""

    def __init__(self, bootstrap: str, suffix: str, org: str) -> None:
        self.bootstrap = bootstrap
        self.requests = f"agent.execution.requested.v1{suffix}"
        self.results = f"agent.execution.result.v1{suffix}"
        self.org = org
        self.waiting: dict[str, asyncio.Future[str]] = {}
        self.sent: dict[str, float] = {}
        # Per execution, from the wall clock of this machine (one clock for every process):
        # request sent → the runner took it up (the result's occurred_at − duration_ms),
        # runner (key, claim, provider call: duration_ms), provider reply → result received.
        self.stages: list[tuple[float, float, float]] = []
        self.timing = True  # off for the soak: its list would be the generator's own growth
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        partitions = await self.producer.partitions_for(self.results)
        tps = [TopicPartition(self.results, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)
        await self.producer.partitions_for(self.requests)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    received = time.time()
                    body = json.loads(record.value or b"{}")
                    sent = self.sent.pop(body.get("execution_id", ""), None)
                    if self.timing and sent is not None and body.get("duration_ms") is not None:
                        replied = datetime.fromisoformat(body["occurred_at"]).timestamp()
                        runner = body["duration_ms"] / 1000
                        self.stages.append((replied - runner - sent, runner, received - replied))
                    future = self.waiting.pop(body.get("execution_id", ""), None)
                    if future is not None and not future.done():
                        status = body.get("status", "")
                        if status != "succeeded":
                            code = (body.get("error") or {}).get("code")
                            FAILURES[f"result {status} {code}"] += 1
                        future.set_result(status)

    def call(self, workspace_id: str) -> Callable[[int], Awaitable[bool]]:
        async def one(_: int) -> bool:
            execution_id = f"exec-peer-{uuid.uuid4().hex[:20]}"
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self.waiting[execution_id] = future
            self.sent[execution_id] = time.time()
            event = {
                "event_id": str(uuid.uuid4()),
                "occurred_at": "2026-11-30T12:00:00Z",
                "schema_version": 1,
                "execution_id": execution_id,
                "org_id": self.org,
                "workspace_id": workspace_id,
                "workflow_id": "wf-peer",
                "node_id": "node-1",
                "model": MODEL,
                "input": PROMPT,
            }
            await self.producer.send_and_wait(
                self.requests, json.dumps(event).encode(), key=execution_id.encode()
            )
            try:
                return await asyncio.wait_for(future, 120) == "succeeded"
            except TimeoutError:
                self.waiting.pop(execution_id, None)
                self.sent.pop(execution_id, None)
                FAILURES["no result within 120 s"] += 1
                return False

        return one

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.producer.stop()
        await self.consumer.stop()


def token(org: str) -> str:
    import jwt

    claims = {"sub": "bench", "org_id": org, "role": "OWNER", "exp": int(time.time()) + 7200}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def litellm_config(sim: str) -> str:
    models = [
        {
            "model_name": f"peer-{ms}ms",
            "litellm_params": {"model": f"anthropic/{MODEL}", "api_base": sim, "api_key": key},
        }
        for ms, key in KEYS.items()
    ]
    return json.dumps({"model_list": models, "litellm_settings": {"telemetry": False}})


def start_litellm(binary: Path, sim: str, logs: Path) -> subprocess.Popen[bytes]:
    config = logs / "peer-litellm-config.yaml"
    config.write_text(litellm_config(sim))  # JSON is YAML
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network: the bundled price map
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    env.pop("DATABASE_URL", None)
    env["LITELLM_MASTER_KEY"] = LITELLM_MASTER_KEY
    return subprocess.Popen(
        [
            str(binary),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(LITELLM_PORT),
            "--num_workers",
            "1",
        ],
        env=env,
        stdout=(logs / "peer-litellm.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


FAILURES: collections.Counter[str] = collections.Counter()


# The services' histograms read around a Kafka-path row: (label, port name, metric, labels).
TIMERS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    (
        "provider call (runner's view)",
        "agent-runner",
        "flowtrux_runner_provider_latency_seconds",
        {"outcome": "ok"},
    ),
    (
        "keyvault /resolve-batch (server)",
        "keyvault",
        "flowtrux_http_request_duration_seconds",
        {"route": "/internal/v1/resolve-batch"},
    ),
    ("keyvault audit group commit", "keyvault", "flowtrux_keyvault_audit_write_seconds", {}),
)


async def read_timers(http: httpx.AsyncClient) -> dict[str, tuple[float, float]]:
    """(sum seconds, count) of each of TIMERS, read from the services' /metrics now."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, tuple[float, float]] = {}
    pages: dict[str, str] = {}
    for label, service, metric, labels in TIMERS:
        if service not in pages:
            pages[service] = (await http.get(f"http://127.0.0.1:{PORTS[service]}/metrics")).text
        total = count = 0.0
        for family in text_string_to_metric_families(pages[service]):
            for sample in family.samples:
                if not sample.name.startswith(metric) or any(
                    sample.labels.get(k) != v for k, v in labels.items()
                ):
                    continue
                if sample.name == metric + "_sum":
                    total += sample.value
                elif sample.name == metric + "_count":
                    count += sample.value
        found[label] = (total, count)
    return found


async def ok_status(response: Awaitable[httpx.Response], expected: int = 200) -> bool:
    """Whether the answer had the expected status; what failed is counted in FAILURES."""
    try:
        status = (await response).status_code
    except httpx.HTTPError as exc:
        FAILURES[type(exc).__name__] += 1
        return False
    if status != expected:
        FAILURES[f"HTTP {status}"] += 1
    return status == expected


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/peer-report.md")
    parser.add_argument("--litellm", default=str(ROOT / ".local/peer/litellm/bin/litellm"))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--latencies", default="0,500")
    parser.add_argument("--paths", default="direct,litellm,gateway,kafka")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the FlowTrux processes (cProfile, CPU clock) and add where each row's "
        "CPU goes; profiling slows them, so read its shares, not its rates",
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=0.0,
        help="after the rows, run the --soak-path at provider 0 ms for this long and report "
        "every process's RSS over it (the memory-growth check; 600 = 10 minutes)",
    )
    parser.add_argument("--soak-path", default="kafka", choices=["kafka", "gateway"])
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=120.0,
        help="before the rows, drive the gateway, kafka and litellm paths of --paths in turn "
        "(0 ms, 10 s each) for this long, so the rows measure warmed processes: Kafka's JVM "
        "compiles its hot code over the first minute after a start, at several times the "
        "CPU per request",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=5.0,
        help="before the rows, measure every process's CPU at rest for this long",
    )
    parser.add_argument(
        "--kafka-jmx-port",
        type=int,
        default=int(os.environ.get("LOCAL_KAFKA_JMX_PORT") or 0),
        help="count the broker's requests by type per row through its JMX port "
        "(bench/peer/KafkaRequests.java; deploy/local/infra.sh opens it with "
        "LOCAL_KAFKA_JMX_PORT); 0: not counted",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=1.0,
        help="after each row, wait this long before reading the CPU counters, so the work "
        "the row left behind (settlement, ledger batches) is counted (and that much idle)",
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    logs = ROOT / ".local" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    suffix = f".peer{tag}"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONGODB_URL": mongo,
        "KAFKA_TOPIC_SUFFIX": suffix,
        # Groups of its own: a runner of another stack on this broker in the group
        # "agent-runner" would make this one rebalance (a pause) whenever it starts or stops.
        "RUNNER_GROUP_ID": f"agent-runner{suffix}",
        "KEYVAULT_SPEND_GROUP": f"keyvault-spend{suffix}",
        "KEYVAULT_DB": f"peer_{tag}_keyvault",
        "WORKSPACE_DB": f"peer_{tag}_workspace",
        "RUNNER_DB": f"peer_{tag}_runner",
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "KEYVAULT_KEYRING_FILE": str(ROOT / ".local" / "keyvault" / f"peer-{tag}-keyring"),
        "LOG_LEVEL": "WARNING",
        # A throughput benchmark: the per-org test-run rate limit (120 a minute by default)
        # would answer 429 to nearly all of it. LiteLLM runs without a limit too.
        "TEST_RUN_RATE_LIMIT": "0",
    }
    profile_dir = Path(tempfile.mkdtemp(prefix="peer-profile-")) if args.profile else None
    if profile_dir is not None:
        env["FLOWTRUX_CPU_PROFILE_DIR"] = str(profile_dir)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(cpu_profile.SITE), env.get("PYTHONPATH", "")) if p
        )
    profiled: list[tuple[str, int]] = []  # (row label, profile index)
    stack = load_stack_module().Stack(
        env=env, prefix="peer-", with_simulator=True, ports=dict(PORTS)
    )
    stack.start(timeout=180)
    sim = f"http://127.0.0.1:{PORTS['provider-sim']}"
    gateway = f"http://127.0.0.1:{PORTS['gateway']}"
    litellm: subprocess.Popen[bytes] | None = None
    paths = args.paths.split(",")
    latencies = [int(x) for x in args.latencies.split(",")]
    runs: list[Run] = []
    rss: dict[str, tuple[float, float]] = {}
    at_rest: dict[str, float] = {}
    idle_cpu: dict[str, float] = {}
    warmup: list[tuple[str, float, int, dict[str, float]]] = []
    soak: Soak | None = None
    try:
        if "litellm" in paths:
            litellm = start_litellm(Path(args.litellm), sim, logs)
        limits = httpx.Limits(max_connections=args.in_flight * 2)
        http = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=120)
        org = f"org-peer-{tag}"
        api = {"Authorization": f"Bearer {token(org)}"}
        workspaces: dict[int, str] = {}
        for ms, key in KEYS.items():
            created = await http.post(
                f"{gateway}/api/v1/ai-providers",
                headers=api,
                json={"provider": "anthropic", "name": f"peer {ms}", "api_key": key},
            )
            created.raise_for_status()
            ws = await http.post(
                f"{gateway}/api/v1/workspaces", headers=api, json={"name": f"peer {ms}"}
            )
            ws.raise_for_status()
            wid = ws.json()["id"]
            (
                await http.patch(
                    f"{gateway}/api/v1/workspaces/{wid}",
                    headers=api,
                    json={"ai_provider_ids": [created.json()["id"]]},
                )
            ).raise_for_status()
            workspaces[ms] = wid
        kafka = KafkaPath(bootstrap, suffix, org)
        await kafka.start()
        if litellm is not None:

            async def litellm_up() -> bool:
                try:
                    return (
                        await http.get(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness")
                    ).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(litellm_up, timeout=180, interval=0.5)

        def call_for(path: str, ms: int) -> Callable[[int], Awaitable[bool]]:
            if path == "direct":
                headers = {"x-api-key": KEYS[ms], "anthropic-version": "2023-06-01"}
                body = {"model": MODEL, **PROMPT}
                return lambda _: ok_status(
                    http.post(f"{sim}/v1/messages", headers=headers, json=body)
                )
            if path == "litellm":
                body = {"model": f"peer-{ms}ms", **PROMPT}
                master = {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}
                url = f"http://127.0.0.1:{LITELLM_PORT}/chat/completions"
                return lambda _: ok_status(http.post(url, headers=master, json=body))
            if path == "gateway":
                body = {"model": MODEL, "input": PROMPT, "wait_seconds": 60}
                url = f"{gateway}/api/v1/workspaces/{workspaces[ms]}/executions"
                return lambda _: ok_status(http.post(url, headers=api, json=body))
            return kafka.call(workspaces[ms])

        def pids() -> dict[str, int]:
            found = {name.removeprefix("peer-"): proc.pid for name, proc in stack.procs.items()}
            found.update(infra_pids())
            if litellm is not None:
                found["litellm"] = litellm.pid
            found["load generator"] = os.getpid()
            return found

        def rss_now() -> dict[str, float]:
            found: dict[str, float] = {}
            for name, pid in pids().items():
                try:
                    found[name] = rss_mb(pid)[0]
                except OSError:
                    continue
            return found

        at_rest = rss_now()
        warm = [p for p in ("gateway", "kafka", "litellm") if p in paths]
        if warm and args.warmup_seconds > 0:
            warmup = await warm_up(
                [(p, call_for(p, 0)) for p in warm], args.warmup_seconds, args.in_flight, pids
            )
        # What each process costs with nothing to do (pollers, heartbeats, timers), per second,
        # once warm: a row pays it for as long as it runs, so a slower row pays more of it.
        await asyncio.sleep(args.settle_seconds)  # what the warm-up left behind is not rest
        idle_before = cpu_now(pids())
        await asyncio.sleep(args.idle_seconds)
        idle_cpu = per(idle_before, cpu_now(pids()), args.idle_seconds / 1000)
        plan = [(p, ms, args.in_flight) for ms in latencies for p in paths]
        if "kafka" in paths and 500 in latencies:
            plan.append(("kafka", 500, 256))
        for path, ms, in_flight in plan:
            call = call_for(path, ms)
            await closed_loop(call, min(200, args.requests), in_flight)  # warm-up
            if profile_dir is not None:  # what came before this row goes to a file of its own
                cpu_profile.rotate(services_of(pids()))
            counted = (kafka_counts(args.kafka_jmx_port), store_counts(mongo))
            before = cpu_now(pids())
            kafka.stages.clear()
            timers = await read_timers(http) if path == "kafka" else {}
            seconds, lat, errors = await closed_loop(call, args.requests, in_flight)
            # Work the row left behind is its cost too: keyvault settles results up to 0.5 s
            # later, workspace records them in batches up to 0.2 s later.
            await asyncio.sleep(args.settle_seconds)
            if timers:
                later = await read_timers(http)
                timers = {k: (later[k][0] - v[0], later[k][1] - v[1]) for k, v in timers.items()}
            after = cpu_now(pids())
            # Read after the CPU counters: the reading itself is not the row's work.
            counts = (kafka_counts(args.kafka_jmx_port), store_counts(mongo))
            if profile_dir is not None:
                cpu_profile.rotate(services_of(pids()))
                profiled.append(
                    (f"{path}, provider {ms} ms, {in_flight} in flight", 2 * len(profiled) + 1)
                )
            run = Run(path, ms, in_flight, args.requests, errors, seconds, lat)
            run.cpu_ms = per(before, after, args.requests / 1000)
            run.kafka_requests = per(counted[0], counts[0], args.requests)
            run.store_commands = per(counted[1], counts[1], args.requests)
            if path == "kafka":
                run.stages = list(kafka.stages)
                run.timers = timers
            runs.append(run)
            print(
                f"{path:8} {ms:4} ms {in_flight:4} in flight: {run.rate:7.1f}/s p50 {run.p(50):7.1f} ms p99 {run.p(99):7.1f} ms errors {errors}",
                flush=True,
            )
            if FAILURES:
                print(f"  failures: {dict(FAILURES)}", flush=True)
                FAILURES.clear()
        for name, pid in pids().items():
            try:
                rss[name] = rss_mb(pid)
            except OSError:
                continue
        if args.soak_seconds > 0:
            kafka.timing = False
            soak = Soak(args.soak_path, args.soak_seconds, args.in_flight)
            print(f"soak: {args.soak_path} for {args.soak_seconds:.0f} s", flush=True)
            soak.calls, soak.errors = await timed_loop(
                call_for(args.soak_path, 0),
                args.soak_seconds,
                args.in_flight,
                soak.sample(rss_now, lambda: cpu_now(pids())),
                every_s=max(5.0, args.soak_seconds / 40),
            )
            if FAILURES:
                print(f"  failures: {dict(FAILURES)}", flush=True)
                FAILURES.clear()
        await kafka.stop()
        await http.aclose()
    finally:
        if litellm is not None:
            litellm.terminate()
            litellm.wait(20)
        stack.stop()
        await forget(
            bootstrap=bootstrap,
            mongo_url=mongo,
            topic_suffix=suffix,
            databases=[env["KEYVAULT_DB"], env["WORKSPACE_DB"], env["RUNNER_DB"]],
        )
    text = report(runs, rss, at_rest, idle_cpu, warmup, args)
    if soak is not None:
        text += "\n".join(soak.lines(at_rest)) + "\n"
    if profile_dir is not None:
        services = sorted(n for n in runs[0].cpu_ms if n in SERVICES) if runs else []
        text += "\n## Where the CPU goes (profiled run)\n\n" + PROFILE_NOTE + "\n\n"
        for label, index in profiled:
            text += "\n".join(
                cpu_profile.section(profile_dir, label, services, index, args.requests)
            )
    Path(args.out).write_text(text)
    print(f"report: {args.out}")


SERVICES = ("agent-runner", "gateway", "keyvault", "provider-sim", "workspace")
# Processes in the CPU table that are not FlowTrux's stack (the whole-stack CPU target).
NOT_THE_STACK = ("load generator", "provider-sim", "litellm")
PROFILE_NOTE = (
    "Each FlowTrux process ran cProfile on a CPU clock (bench/peer/profile_site); a function's own "
    "CPU time is summed by the library it belongs to (FlowTrux code by package). Profiling makes "
    "Python code several times slower, so the rates above are not comparable with an unprofiled run: "
    "read the shares, and multiply them by the process's CPU ms/request of an unprofiled run. "
    "Kafka (Java) and FerretDB (Go) are not profiled; the MongoDB commands each service sends are "
    "what FerretDB spends its CPU on."
)


async def warm_up(
    calls: list[tuple[str, Callable[[int], Awaitable[bool]]]],
    seconds: float,
    in_flight: int,
    pids: Callable[[], dict[str, int]],
    slice_s: float = 10.0,
) -> list[tuple[str, float, int, dict[str, float]]]:
    """Drive the paths in turn, a slice each, for `seconds`; per slice (path, seconds,
    requests, CPU ms per request by process): how the cost per request falls as the stack
    warms."""
    slices: list[tuple[str, float, int, dict[str, float]]] = []
    t0 = time.perf_counter()
    turn = 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        before = cpu_now(pids())
        path, call = calls[turn % len(calls)]
        done, _ = await timed_loop(
            call,
            min(slice_s, seconds - elapsed),
            in_flight,
            lambda _t, _n: None,
            every_s=slice_s,
        )
        cpu_ms = per(before, cpu_now(pids()), max(done, 1) / 1000)
        slices.append((path, time.perf_counter() - t0, done, cpu_ms))
        print(
            f"warm-up {slices[-1][1]:5.0f} s, {path}: {done} requests, CPU ms/request "
            f"kafka {cpu_ms.get('kafka', 0.0):.2f}, all {sum(cpu_ms.values()):.2f}",
            flush=True,
        )
        turn += 1
    if FAILURES:  # shown, not counted: the rows report their own
        print(f"  warm-up failures: {dict(FAILURES)}", flush=True)
        FAILURES.clear()
    return slices


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds each process has used so far."""
    return {name: cpu_s(pid) for name, pid in pids.items()}


def per(
    before: Mapping[str, float], after: Mapping[str, float], divisor: float
) -> dict[str, float]:
    """Each counter's growth from `before` to `after`, divided by `divisor` (CPU seconds per
    request in ms: divisor = requests / 1000)."""
    return {name: (now - before.get(name, 0.0)) / divisor for name, now in after.items()}


def kafka_counts(jmx_port: int) -> dict[str, int]:
    """The broker's requests served so far by type, and its messages and bytes in and out
    (bench/peer/KafkaRequests.java over JMX); empty without a JMX port, or when the broker
    does not open it (one started before, without LOCAL_KAFKA_JMX_PORT)."""
    if not jmx_port:
        return {}
    done = subprocess.run(
        [
            shutil.which("java") or "java",
            str(ROOT / "bench/peer/KafkaRequests.java"),
            str(jmx_port),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        print(f"kafka requests not counted: no JMX on port {jmx_port}", flush=True)
        return {}
    counts: dict[str, int] = json.loads(done.stdout)
    return counts


def store_counts(mongo_url: str) -> dict[str, int]:
    """The store's commands served so far, by name (FerretDB's serverStatus metrics)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_url, serverSelectionTimeoutMS=5000) as client:
        status = client.admin.command("serverStatus")
    commands = status.get("metrics", {}).get("commands", {})
    return {name: int(c.get("total", 0)) for name, c in commands.items() if name != "serverStatus"}


def count_lines(runs: list[Run], title: str, of: Callable[[Run], dict[str, float]]) -> list[str]:
    """A table of what each row asked per request (types that any row asked at least once
    per 100 requests)."""
    names = sorted({n for r in runs for n, v in of(r).items() if v >= 0.01})
    if not names:
        return []
    lines = ["", title, "", "| path | provider ms | in flight | " + " | ".join(names) + " |"]
    lines.append("|---|---|---|" + "---|" * len(names))
    for r in runs:
        cells = [f"{of(r).get(n, 0.0):.2f}" for n in names]
        lines.append(f"| {r.path} | {r.latency_ms} | {r.in_flight} | " + " | ".join(cells) + " |")
    return lines


def services_of(pids: dict[str, int]) -> dict[str, int]:
    """The profiled processes among `pids` (FlowTrux's Python services)."""
    return {name: pid for name, pid in pids.items() if name in SERVICES}


def report(
    runs: list[Run],
    rss: dict[str, tuple[float, float]],
    at_rest: dict[str, float],
    idle_cpu: dict[str, float],
    warmup: list[tuple[str, float, int, dict[str, float]]],
    args: argparse.Namespace,
) -> str:
    direct = {(r.latency_ms): r for r in runs if r.path == "direct"}
    peer = {(r.latency_ms): r for r in runs if r.path == "litellm"}
    lines = [
        "# FlowTrux next to LiteLLM's proxy",
        "",
        f"Run {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} on {os.cpu_count()} cores; one load generator (this process), closed loop, "
        f"{args.requests} requests per row after 200 of warm-up; LiteLLM proxy 1.108.7, one worker, no database. "
        "Added = this path's latency minus the direct path's at the same provider latency. Ratios are to LiteLLM's row at the same provider latency "
        "(throughput: higher is better; added p50: lower is better). Little's law = in flight ÷ provider latency (the most a closed loop can do).",
        "",
        "| path | provider ms | in flight | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors | × LiteLLM req/s | × LiteLLM added p50 | % of Little's law |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        base = direct.get(r.latency_ms)
        add50 = r.p(50) - base.p(50) if base else float("nan")
        add99 = r.p(99) - base.p(99) if base else float("nan")
        ref = peer.get(r.latency_ms)
        ref50 = ref.p(50) - base.p(50) if ref and base else float("nan")
        x_rate = f"{r.rate / ref.rate:.1f}" if ref and ref.rate else "–"
        x_add = f"{add50 / ref50:.2f}" if ref and base and ref50 > 0 and r.path != "direct" else "–"
        little = (
            f"{100 * r.rate / (r.in_flight * 1000 / r.latency_ms):.0f}" if r.latency_ms else "–"
        )
        lines.append(
            f"| {r.path} | {r.latency_ms} | {r.in_flight} | {r.rate:.1f} | {r.p(50):.1f} | {r.p(99):.1f} | "
            f"{add50:.1f} | {add99:.1f} | {r.errors} | {x_rate} | {x_add} | {little} |"
        )
    staged = [r for r in runs if r.stages]
    if staged:
        lines += [
            "",
            "Where a Kafka-path execution's time goes (ms, p50 / p99 of each part; one wall clock for every process): "
            "*to the runner* = the request published → the runner takes it up (broker, the runner's fetch, its queue); "
            "*runner* = taken up → the provider's reply (key resolution and the claim side by side, then the provider call; "
            "minus the provider's latency: what the runner adds); *after* = the reply → the result received by the engine "
            "(the result recorded, published, fetched).",
            "",
            "| provider ms | in flight | to the runner | runner, minus the provider | after | total added (p50 of the sum) |",
            "|---|---|---|---|---|---|",
        ]
        for r in staged:
            pre, run_, post = (sorted(1000 * s[i] for s in r.stages) for i in range(3))
            run_ = [x - r.latency_ms for x in run_]
            added = sorted(1000 * sum(s) - r.latency_ms for s in r.stages)

            def both(xs: list[float]) -> str:
                return f"{pct(xs, 50):.1f} / {pct(xs, 99):.1f}"

            lines.append(
                f"| {r.latency_ms} | {r.in_flight} | {both(pre)} | {both(run_)} | {both(post)} | {pct(added, 50):.1f} |"
            )
        lines += [
            "",
            "The services' own timers over the same rows (mean ms per observation, and observations per execution):",
            "",
            "| provider ms | in flight | " + " | ".join(label for label, *_ in TIMERS) + " |",
            "|---|---|" + "---|" * len(TIMERS),
        ]
        for r in staged:
            cells = []
            for label, *_ in TIMERS:
                total, count = r.timers.get(label, (0.0, 0.0))
                cells.append(
                    f"{1000 * total / count:.1f} ({count / r.requests:.2f})" if count else "–"
                )
            lines.append(f"| {r.latency_ms} | {r.in_flight} | " + " | ".join(cells) + " |")
    names = sorted({n for r in runs for n in r.cpu_ms})
    lines += [
        "",
        f"CPU milliseconds per request, by process (user + system over the row's requests and the {args.settle_seconds:g} s after them, so the work a row leaves behind — keyvault's settlement, workspace's ledger batches — is counted; every process is measured in every row, so a process that the path does not use shows its idle cost).",
        "",
        "| path | provider ms | in flight | " + " | ".join(names) + " | total | the stack |",
        "|---|---|---|" + "---|" * (len(names) + 2),
    ]
    for r in runs:
        cells = [f"{r.cpu_ms.get(n, 0.0):.2f}" for n in names]
        stack = sum(v for n, v in r.cpu_ms.items() if n not in NOT_THE_STACK)
        lines.append(
            f"| {r.path} | {r.latency_ms} | {r.in_flight} | "
            + " | ".join(cells)
            + f" | {sum(r.cpu_ms.values()):.2f} | {stack:.2f} |"
        )
    lines += [
        "",
        "*The stack* = what `make dev` runs: the four FlowTrux services, Kafka and FerretDB "
        "(without the load generator, the provider simulator and LiteLLM).",
    ]
    if warmup:
        lines += [
            "",
            f"Before the rows, {args.warmup_seconds:g} s of warm-up (the gateway, Kafka and LiteLLM "
            "paths at 0 ms in turn, 10 s each): the CPU per request of the slices, first to "
            "last. Kafka's JVM compiles its hot code in the first minute after a start; a row "
            "measured on a cold broker pays that.",
            "",
            "| slice ends at s | path | requests | kafka CPU ms/request | all processes CPU ms/request |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {t:.0f} | {path} | {n} | {per.get('kafka', 0.0):.2f} | {sum(per.values()):.2f} |"
            for path, t, n, per in warmup
        ]
    if idle_cpu:
        cells = [f"{idle_cpu.get(n, 0.0):.1f}" for n in names]
        lines += [
            "",
            f"The same processes at rest, after the warm-up and before the rows (CPU ms per second over {args.idle_seconds:g} s, "
            "no load: pollers, heartbeats, timers). A row pays this for as long as it runs, so "
            "its share of a row's CPU per request is this × the row's seconds ÷ its requests: "
            "larger for a slower row.",
            "",
            "| at rest | " + " | ".join(names) + " | total |",
            "|---|" + "---|" * (len(names) + 1),
            "| ms/s | " + " | ".join(cells) + f" | {sum(idle_cpu.values()):.1f} |",
        ]
    lines += count_lines(
        runs,
        "What each request asked of Kafka, per request of the row: the broker's requests by "
        "type (every client's: producers, consumers, fences), and the messages and bytes it took "
        "in and sent out (BytesOut counts every consumer's fetches).",
        lambda r: r.kafka_requests,
    )
    lines += count_lines(
        runs,
        "What each request asked of the store (FerretDB), per request of the row: commands by name.",
        lambda r: r.store_commands,
    )
    lines += [
        "",
        "RSS per process (MB): at rest (the stack started, before any load), after the rows "
        "(under load), and the peak:",
        "",
        "| process | at rest | after the rows | peak |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {at_rest.get(n, float('nan')):.0f} | {now:.0f} | {peak:.0f} |"
        for n, (now, peak) in sorted(rss.items())
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    asyncio.run(main())
