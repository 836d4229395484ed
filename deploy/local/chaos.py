"""The chaos suite: executions through the real stack while our own infrastructure fails.

    python deploy/local/chaos.py [--executions N] [--rate R] [--scenario A|B|both] [--short]
                                 [--out bench/chaos-report.md]

Starts its own FerretDB and Kafka (scenario A: one broker; scenario B: a 3-node KRaft cluster,
replication factor 3, min.insync.replicas 2) and its own stack (provider simulator with a random
0-500 ms latency, keyvault, workspace, 3 agent-runners) on 127.0.0.1:19100-19199, data under
.local/ (instance "chaos", wiped before and after). It publishes N ExecutionRequested events as a
workflow engine would (idempotent producer, acks=all), injects faults and reads every result:

- A: a runner SIGKILLed every 5 s and restarted; keyvault SIGKILLed once and restarted; FerretDB
  restarted once; the broker restarted once (`--short`: one fault of each kind);
- B: the broker leading most request partitions SIGKILLed mid-stream, brought back 10 s later.

Per scenario: requested, unique results, lost (no result at all), wrongly failed (a failed
result whose cause is ours: any code but the provider's own answers), failed by the provider
(2 % of the executions use a key the simulator refuses, so the harness proves it tells the two
apart), duplicate provider calls (counted at the simulator per execution id), duplicate results,
recovery after each fault and runner RSS. `make chaos` runs both scenarios with 10,000
executions each; tests/chaos runs the short version in `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import Topics, WorkspaceAssignmentsChanged
from shared.kafka import ensure_topics
from shared.settings import DEV_SERVICE_TOKENS, KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
INFRA = ROOT / "deploy" / "local" / "infra.sh"
INSTANCE = "chaos"

# The suite's own ports (19100-19199): never the shared 9092/27017.
CLUSTER_BASE = 19101  # brokers 19101-19103, controllers 19104-19106
MONGO_PORT = 19117
KEYVAULT_PORT = 19121
WORKSPACE_PORT = 19122
RUNNER_PORTS = (19131, 19132, 19133)
SIM_PORT = 19140
KAFKA_PORT = 19192
KAFKA_CONTROLLER_PORT = 19193

# Failure codes that are the provider's own answer; every other failure code is ours.
PROVIDER_CODES = frozenset(
    {
        "provider_auth_failed",
        "provider_rate_limited",
        "provider_unavailable",
        "provider_bad_response",
        "invalid_request",
    }
)
ORG = "org-chaos"
MODEL = "claude-haiku-4-5"
CONTROL_SHARE = 50  # every 50th execution (2 %) uses the key the provider refuses


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- infrastructure


def infra_env() -> dict[str, str]:
    return {
        **os.environ,
        "LOCAL_INSTANCE": INSTANCE,
        "LOCAL_KAFKA_PORT": str(KAFKA_PORT),
        "LOCAL_KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT),
        "LOCAL_MONGO_PORT": str(MONGO_PORT),
        "LOCAL_KAFKA_CLUSTER_PORT_BASE": str(CLUSTER_BASE),
    }


def infra(*args: str) -> None:
    subprocess.run([str(INFRA), *args], check=True, env=infra_env())


async def ainfra(*args: str) -> None:
    await asyncio.to_thread(infra, *args)


def pid_of(name: str) -> int | None:
    try:
        return int((LOCAL / "run" / f"{name}.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


async def wait_gone(pid: int, limit_s: float = 30.0) -> None:
    """Until `pid` is gone (infra.sh started it: not our child, nothing to reap)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"pid {pid} still alive after {limit_s}s")


# ---------------------------------------------------------------- service processes


@dataclass
class Proc:
    """One service process of the suite (log .local/logs/chaos-<name>.log, pid file)."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    ready_path: str | None = "/readyz"
    popen: subprocess.Popen[bytes] | None = None
    peak_rss_kb: int = 0
    last_rss_kb: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} for {self.name} is already in use")
        (LOCAL / "logs").mkdir(parents=True, exist_ok=True)
        (LOCAL / "run").mkdir(parents=True, exist_ok=True)
        with (LOCAL / "logs" / f"chaos-{self.name}.log").open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (LOCAL / "run" / f"chaos-{self.name}.pid").write_text(str(self.popen.pid))

    async def ready(self, limit_s: float = 180.0) -> None:
        """Wait until ready. A process that exits while starting (a runner whose broker is
        down at that moment stops with a clear error) is started again after a pause, as a
        supervisor (Kubernetes, systemd) would."""
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        deadline = time.monotonic() + limit_s
        crashes = 0
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.popen is not None and self.popen.poll() is not None:
                    crashes += 1
                    log(
                        f"{self.name} exited with {self.popen.returncode} while starting; "
                        f"restart {crashes} in {min(2.0 * crashes, 10.0):.0f} s"
                    )
                    await asyncio.sleep(min(2.0 * crashes, 10.0))
                    self.start()
                    continue
                if self.ready_path is None:
                    if port_open(self.port):
                        return
                else:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(url)).status_code == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready at {url} after {limit_s:.0f}s")

    async def kill(self) -> None:
        """SIGKILL and reap."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.popen.wait)

    async def restart_killed(self) -> float:
        """SIGKILL, start again, wait until ready (one restart of a process at a time);
        returns the seconds from the kill until ready again."""
        async with self.lock:
            killed = time.monotonic()
            await self.kill()
            self.start()
            await self.ready()
            return time.monotonic() - killed

    async def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(self.popen.wait), 30)
        except TimeoutError:
            await self.kill()
        (LOCAL / "run" / f"chaos-{self.name}.pid").unlink(missing_ok=True)

    def sample_rss(self) -> None:
        if self.pid is None:
            return
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                self.last_rss_kb = int(line.split()[1])
                self.peak_rss_kb = max(self.peak_rss_kb, self.last_rss_kb)


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class Config:
    scenario: str  # "A" or "B"
    executions: int = 10_000
    rate: float = 100.0  # requests per second published
    short: bool = False  # one fault of each kind instead of a runner kill every 5 s
    runner_concurrency: int = 256
    drain_timeout_s: float = 240.0  # after the last request: how long results may take
    leader_down_s: float = 10.0


@dataclass
class Fault:
    kind: str
    at_s: float  # since the first request
    back_s: float | None = None  # until the component was ready again
    drained_s: float | None = None  # until every execution requested before it had a result
    note: str = ""


@dataclass
class Report:
    config: Config
    requested: int = 0
    unique_results: int = 0
    lost: int = 0
    lost_in_dlq: int = 0
    wrongly_failed: int = 0
    wrongly_failed_codes: dict[str, int] = field(default_factory=dict)
    provider_failed: int = 0
    control_expected: int = 0
    duplicate_results: int = 0
    provider_calls: int = 0
    duplicate_calls: int = 0
    executions_called_twice: int = 0
    publish_retries: int = 0
    producer_renewals: int = 0
    stream_s: float = 0.0
    total_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    runner_peak_rss_mb: list[float] = field(default_factory=list)
    runner_final_rss_mb: list[float] = field(default_factory=list)

    @property
    def duplicate_call_pct(self) -> float:
        return 100.0 * self.duplicate_calls / self.requested if self.requested else 0.0


class Run:
    """One scenario: infrastructure, stack, traffic, faults, results."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cluster = config.scenario == "B"
        self.bootstrap = (
            ",".join(f"127.0.0.1:{CLUSTER_BASE + i}" for i in range(3))
            if self.cluster
            else f"127.0.0.1:{KAFKA_PORT}"
        )
        self.topics = Topics()
        self.kafka = "kafka-cluster" if self.cluster else "kafka"
        self.procs: dict[str, Proc] = {}
        self.requested_at: dict[str, float] = {}
        self.results: dict[str, list[tuple[float, str, str | None]]] = {}
        self.dlq_ids: set[str] = set()
        self.control: set[str] = set()
        self.report = Report(config)
        self.t0 = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.producer: AIOKafkaProducer | None = None  # started in run()
        self._renewing = asyncio.Lock()
        self._consumers: list[AIOKafkaConsumer] = []

    # -------------------------------------------------------------- setup

    def env(self) -> dict[str, str]:
        sim = f"http://127.0.0.1:{SIM_PORT}"
        return {
            **os.environ,
            # Provider keys must never come from the environment: canaries that must go unused.
            "ANTHROPIC_API_KEY": "sk-ant-env-canary-must-never-be-used-0000",
            "OPENAI_API_KEY": "sk-env-canary-must-never-be-used-00000000",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "MONGODB_URL": f"mongodb://127.0.0.1:{MONGO_PORT}",
            "KAFKA_TOPIC_SUFFIX": "",
            "KEYVAULT_URL": f"http://127.0.0.1:{KEYVAULT_PORT}",
            "WORKSPACE_URL": f"http://127.0.0.1:{WORKSPACE_PORT}",
            "KEYVAULT_PORT": str(KEYVAULT_PORT),
            "WORKSPACE_PORT": str(WORKSPACE_PORT),
            "SIM_PORT": str(SIM_PORT),
            "SIM_LATENCY_MS": "0",
            "SIM_LATENCY_JITTER_MS": "500",
            "KEYVAULT_KEYRING_FILE": str(LOCAL / "keyvault" / "chaos-keyring"),
            "RUNNER_ANTHROPIC_BASE_URL": sim,
            "RUNNER_OPENAI_BASE_URL": sim,
            "RUNNER_GOOGLE_BASE_URL": sim,
            "RUNNER_CONCURRENCY": str(self.config.runner_concurrency),
            "LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
        }

    async def start(self) -> None:
        for port in (MONGO_PORT, KAFKA_PORT, SIM_PORT, KEYVAULT_PORT, WORKSPACE_PORT):
            if port_open(port):
                raise RuntimeError(f"127.0.0.1:{port} is in use: a chaos run still going?")
        await ainfra("purge", "all")
        await ainfra("purge", "kafka-cluster")
        await ainfra("up", "ferretdb")
        await ainfra("up", self.kafka)
        replicas = 3 if self.cluster else 1
        kafka = KafkaSettings(
            kafka_bootstrap_servers=self.bootstrap,
            kafka_replication_factor=replicas,
            kafka_min_insync_replicas=min(2, replicas),
        )
        await ensure_topics(kafka, self.topics)
        env = self.env()
        self.procs["sim"] = Proc("sim", "deploy.local.simulator", SIM_PORT, env, None)
        self.procs["keyvault"] = Proc("keyvault", "keyvault", KEYVAULT_PORT, env)
        self.procs["workspace"] = Proc("workspace", "workspace", WORKSPACE_PORT, env)
        for i, port in enumerate(RUNNER_PORTS):
            runner_env = {**env, "RUNNER_HEALTH_PORT": str(port)}
            self.procs[f"runner-{i}"] = Proc(f"runner-{i}", "agent_runner", port, runner_env)
        for proc in self.procs.values():
            proc.start()
        await asyncio.gather(*(proc.ready() for proc in self.procs.values()))
        log(f"scenario {self.config.scenario}: stack ready on {self.bootstrap}")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for consumer in self._consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        await asyncio.gather(*(proc.stop() for proc in self.procs.values()))
        with contextlib.suppress(subprocess.CalledProcessError):
            await ainfra("down", self.kafka)
        with contextlib.suppress(subprocess.CalledProcessError):
            await ainfra("down", "ferretdb")
        with contextlib.suppress(subprocess.CalledProcessError):
            await ainfra("purge", "all")
            await ainfra("purge", "kafka-cluster")

    async def create_keys(self, producer: AIOKafkaProducer) -> None:
        token = DEV_SERVICE_TOKENS["gateway"]
        suffix = uuid.uuid4().hex[:8]
        keys = {}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{KEYVAULT_PORT}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as http:
            for ws, secret in (
                ("ws-chaos", f"sk-ant-api03-chaos-answers-{suffix}"),
                ("ws-chaos-refused", f"sk-ant-api03-chaos-fail401-{suffix}"),
            ):
                body = {"provider": "anthropic", "name": ws, "api_key": secret, "actor": "chaos"}
                response = await http.post(f"/internal/v1/orgs/{ORG}/keys", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"keyvault refused the key: {response.text}")
                keys[ws] = str(response.json()["id"])
        for ws, key_id in keys.items():
            event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=ORG, key_ids=[key_id])
            await producer.send_and_wait(
                self.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
            )

    # -------------------------------------------------------------- traffic

    @staticmethod
    def request(execution_id: str, workspace: str) -> bytes:
        event = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-30T12:00:00Z",
            "schema_version": 1,
            "execution_id": execution_id,
            "org_id": ORG,
            "workspace_id": workspace,
            "workflow_id": "wf-chaos",
            "node_id": "node-1",
            "model": MODEL,
            "input": {
                # The tag lets the simulator count provider calls per execution.
                "messages": [{"role": "user", "content": f"Hello [sim-count:{execution_id}]"}],
                "max_tokens": 32,
            },
        }
        return json.dumps(event).encode()

    def new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=15000,
        )

    async def renew_producer(self, broken: AIOKafkaProducer | None) -> None:
        """Replace a producer the broker no longer accepts (after an unclean broker stop its
        idempotence state is gone: OutOfOrderSequenceNumber on every send), as an engine would."""
        async with self._renewing:
            if self.producer is not broken:
                return  # another send renewed it already
            log("the engine's producer is refused by the broker; starting a new one")
            self.report.producer_renewals += 1
            fresh = self.new_producer()
            await fresh.start()
            self.producer = fresh
            if broken is not None:
                with contextlib.suppress(Exception):
                    await broken.stop()

    async def send(self, _producer: AIOKafkaProducer, execution_id: str, workspace: str) -> None:
        """Publish until acknowledged, as an engine's outbox would."""
        value = self.request(execution_id, workspace)
        failures = 0
        while True:
            producer = self.producer
            if producer is None:
                raise RuntimeError("run() starts the producer")
            try:
                await producer.send_and_wait(
                    self.topics.execution_requested, value, key=execution_id.encode()
                )
                return
            except Exception as exc:  # the broker is down: the engine retries
                self.report.publish_retries += 1
                failures += 1
                if self.report.publish_retries % 500 == 1:
                    log(f"publishing fails ({type(exc).__name__}); retrying until acknowledged")
                if "OutOfOrderSequence" in type(exc).__name__ or failures % 20 == 0:
                    await self.renew_producer(producer)
                await asyncio.sleep(0.5)

    async def publish(self, producer: AIOKafkaProducer, ids: list[str]) -> None:
        step = 0.1
        per_step = max(1, round(self.config.rate * step))
        sends: list[asyncio.Task[None]] = []
        for n in range(0, len(ids), per_step):
            due = self.t0 + (n / per_step) * step
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            for execution_id in ids[n : n + per_step]:
                workspace = "ws-chaos-refused" if execution_id in self.control else "ws-chaos"
                self.requested_at[execution_id] = time.monotonic()
                sends.append(asyncio.create_task(self.send(producer, execution_id, workspace)))
        await asyncio.gather(*sends)

    async def read(self, producer: AIOKafkaProducer, topic: str, on_record: Any) -> None:
        try:
            parts = await producer.partitions_for(topic)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await consumer.start()
            self._consumers.append(consumer)
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        on_record(now, record.value)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log(f"reading {topic} failed: {exc!r}")
            raise

    def on_result(self, now: float, value: bytes) -> None:
        data = json.loads(value)
        error = data.get("error") or {}
        entry = (now, str(data.get("status")), error.get("code"))
        self.results.setdefault(str(data["execution_id"]), []).append(entry)

    def on_dead_letter(self, _now: float, value: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            data = json.loads(value)
            found = data.get("execution_id") or json.loads(data["value"]).get("execution_id")
            self.dlq_ids.add(str(found))

    async def sample_rss(self) -> None:
        while True:
            for name, proc in self.procs.items():
                if name.startswith("runner-"):
                    proc.sample_rss()
            await asyncio.sleep(1.0)

    async def warm_up(self, producer: AIOKafkaProducer) -> None:
        """A few executions must succeed before the clock starts (read models caught up)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            probe = f"warmup-{uuid.uuid4().hex[:8]}"
            await self.send(producer, probe, "ws-chaos")
            for _ in range(50):
                outcome = self.results.get(probe)
                if outcome:
                    if outcome[0][1] == "succeeded":
                        return
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)
        raise RuntimeError("no warm-up execution succeeded within 120 s")

    # -------------------------------------------------------------- faults

    def schedule(self) -> list[tuple[float, str]]:
        stream = self.config.executions / self.config.rate
        if self.cluster:
            return [(0.4 * stream, "kafka leader SIGKILL")]
        plan = [
            (0.25 * stream, "keyvault SIGKILL"),
            (0.45 * stream, "FerretDB restart"),
            (0.65 * stream, "broker restart"),
        ]
        if self.config.short:
            plan.append((0.1 * stream, "runner SIGKILL"))
        else:
            plan += [(t, "runner SIGKILL") for t in range(5, int(stream), 5)]
        return sorted(plan)

    async def inject(self, kind: str, index: int) -> Fault:
        fault = Fault(kind, time.monotonic() - self.t0)
        started = time.monotonic()
        if kind == "runner SIGKILL":
            name = f"runner-{index % len(RUNNER_PORTS)}"
            fault.note = name
            fault.back_s = await self.procs[name].restart_killed()
        elif kind == "keyvault SIGKILL":
            fault.back_s = await self.procs["keyvault"].restart_killed()
        elif kind == "FerretDB restart":
            await ainfra("down", "ferretdb")
            await ainfra("up", "ferretdb")
        elif kind == "broker restart":
            await ainfra("down", "kafka")
            await ainfra("up", "kafka")
        elif kind == "kafka leader SIGKILL":
            node = await self.request_leader()
            down = self.config.leader_down_s
            fault.note = f"node {node} (leads most request partitions), down {down:.0f} s"
            name = f"kafka-{INSTANCE}-n{node}"
            pid = pid_of(name)
            if pid is None:
                raise RuntimeError(f"no pid file for {name}")
            os.kill(pid, signal.SIGKILL)
            await wait_gone(pid)
            await asyncio.sleep(self.config.leader_down_s)
            await ainfra("up", "kafka-cluster")
        if fault.back_s is None:
            fault.back_s = time.monotonic() - started
        log(f"{kind} {fault.note}: back after {fault.back_s:.1f} s")
        return fault

    async def request_leader(self) -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([self.topics.execution_requested])
        finally:
            await admin.close()
        leaders = collections.Counter(
            int(p["leader"]) for t in described for p in t["partitions"] if p["leader"] >= 0
        )
        return leaders.most_common(1)[0][0]

    async def faults(self) -> None:
        """Each fault at its time, concurrently (a runner restart may outlast the next kill)."""

        async def at(seconds: float, kind: str, index: int) -> Fault:
            await asyncio.sleep(max(0.0, self.t0 + seconds - time.monotonic()))
            return await self.inject(kind, index)

        plan = self.schedule()
        kinds = [kind for _, kind in plan]
        self.report.faults = list(
            await asyncio.gather(
                *(at(t, kind, kinds[:n].count(kind)) for n, (t, kind) in enumerate(plan))
            )
        )

    # -------------------------------------------------------------- the scenario

    async def run(self) -> Report:
        config = self.config
        ids = [
            f"chaos{config.scenario}-{n:06d}-{uuid.uuid4().hex[:6]}"
            for n in range(config.executions)
        ]
        self.control = set(ids[::CONTROL_SHARE])
        producer = self.new_producer()
        await producer.start()
        self.producer = producer
        try:
            await self.create_keys(producer)
            self._tasks.append(
                asyncio.create_task(
                    self.read(producer, self.topics.execution_result, self.on_result)
                )
            )
            self._tasks.append(
                asyncio.create_task(
                    self.read(producer, self.topics.execution_requested_dlq, self.on_dead_letter)
                )
            )
            self._tasks.append(asyncio.create_task(self.sample_rss()))
            await self.warm_up(producer)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{SIM_PORT}") as sim:
                await sim.delete("/_sim/counts")
            log(f"scenario {config.scenario}: {config.executions} executions at {config.rate}/s")
            self.t0 = time.monotonic()
            faults = asyncio.create_task(self.faults())
            await self.publish(producer, ids)
            self.report.stream_s = time.monotonic() - self.t0
            await faults
            wanted = set(ids)
            deadline = time.monotonic() + config.drain_timeout_s
            # The reader task fills `results`: poll it until every execution has one.
            while time.monotonic() < deadline and not wanted <= self.results.keys():  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # late duplicates
            self.report.total_s = time.monotonic() - self.t0
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{SIM_PORT}", timeout=60
            ) as sim:
                counts = (await sim.get("/_sim/counts")).json()
        finally:
            if self.producer is not None:
                await self.producer.stop()
        self.tally(ids, counts)
        return self.report

    def tally(self, ids: list[str], counts: dict[str, Any]) -> None:
        report = self.report
        report.requested = len(ids)
        got = {i: self.results[i] for i in ids if i in self.results}
        report.unique_results = len(got)
        lost = [i for i in ids if i not in got]
        report.lost = len(lost)
        report.lost_in_dlq = sum(i in self.dlq_ids for i in lost)
        wrong: collections.Counter[str] = collections.Counter()
        for outcomes in got.values():
            bad = [
                code or "?"
                for _, status, code in outcomes
                if status == "failed" and code not in PROVIDER_CODES
            ]
            if bad:
                wrong[bad[0]] += 1
            elif any(status == "failed" for _, status, _ in outcomes):
                report.provider_failed += 1
            report.duplicate_results += len(outcomes) - 1
        report.wrongly_failed = sum(wrong.values())
        report.wrongly_failed_codes = dict(wrong)
        report.control_expected = len(self.control)
        by_tag: dict[str, int] = counts.get("by_tag", {})
        calls = [by_tag.get(i, 0) for i in ids]
        report.provider_calls = sum(calls)
        report.duplicate_calls = sum(max(0, c - 1) for c in calls)
        report.executions_called_twice = sum(c > 1 for c in calls)
        latencies = [(got[i][0][0] - self.requested_at[i]) * 1000 for i in ids if i in got]
        if latencies:
            report.latency_p50_ms = statistics.median(latencies)
            report.latency_p99_ms = (
                statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
            )
        for fault in report.faults:
            at = self.t0 + fault.at_s
            before = [i for i in ids if i in self.requested_at and self.requested_at[i] <= at]
            if all(i in got for i in before):
                answered = [got[i][0][0] for i in before]
                fault.drained_s = max(0.0, max(answered, default=at) - at)
        runners = [p for n, p in sorted(self.procs.items()) if n.startswith("runner-")]
        report.runner_peak_rss_mb = [p.peak_rss_kb / 1024 for p in runners]
        report.runner_final_rss_mb = [p.last_rss_kb / 1024 for p in runners]


async def run_scenario(config: Config) -> Report:
    """Start everything, run the scenario, stop everything (also on failure)."""
    run = Run(config)
    try:
        await run.start()
        return await run.run()
    finally:
        await run.stop()


# ---------------------------------------------------------------- the report

TITLES = {
    "A": "A: single broker; runner SIGKILLs, keyvault SIGKILL, FerretDB and broker restarts",
    "B": "B: 3-broker KRaft cluster (RF 3, min.insync.replicas 2); request leader SIGKILLed",
}


def render(reports: list[Report]) -> list[str]:
    lines = [
        "# FlowTrux chaos report",
        "",
        f"Run {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} on {os.cpu_count()} cores; "
        "real Kafka and FerretDB on loopback, 3 agent-runners, keyvault, workspace, the provider "
        "simulator with a random 0-500 ms latency per call (`deploy/local/chaos.py`).",
        "",
        "**Lost** = no result at all. **Wrongly failed** = a failed result whose code is not the "
        "provider's own answer (`key_unavailable`, `internal_error`, ...): our infrastructure "
        f"reached the user. Every {CONTROL_SHARE}th execution uses a key the simulator refuses "
        "(401), so *failed by the provider* should equal that control group. Duplicate provider "
        "calls are counted at the simulator per execution id (target <= 1 %).",
        "",
        "| | " + " | ".join(f"scenario {r.config.scenario}" for r in reports) + " |",
        "|---|" + "---:|" * len(reports),
    ]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("requested", [f"{r.requested:,}" for r in reports])
    row("unique results", [f"{r.unique_results:,}" for r in reports])
    row(
        "**lost** (must be 0)",
        [
            f"**{r.lost}**" + (f" ({r.lost_in_dlq} in the DLQ)" if r.lost_in_dlq else "")
            for r in reports
        ],
    )
    row(
        "**wrongly failed** (must be 0)",
        [
            f"**{r.wrongly_failed}**"
            + (
                " ("
                + ", ".join(f"{k}: {v}" for k, v in sorted(r.wrongly_failed_codes.items()))
                + ")"
                if r.wrongly_failed_codes
                else ""
            )
            for r in reports
        ],
    )
    row(
        "failed by the provider (expected)",
        [f"{r.provider_failed} ({r.control_expected})" for r in reports],
    )
    row(
        "duplicate provider calls",
        [
            f"{r.duplicate_calls} ({r.duplicate_call_pct:.2f} %; "
            f"{r.executions_called_twice} executions)"
            for r in reports
        ],
    )
    row("provider calls", [f"{r.provider_calls:,}" for r in reports])
    row("duplicate results", [str(r.duplicate_results) for r in reports])
    row(
        "request sends retried (broker down) / producers renewed",
        [f"{r.publish_retries} / {r.producer_renewals}" for r in reports],
    )
    row(
        "result latency p50 / p99",
        [f"{r.latency_p50_ms:,.0f} / {r.latency_p99_ms:,.0f} ms" for r in reports],
    )
    row("stream / total", [f"{r.stream_s:.0f} s / {r.total_s:.0f} s" for r in reports])
    row(
        "runner RSS peak",
        [", ".join(f"{m:.0f}" for m in r.runner_peak_rss_mb) + " MB" for r in reports],
    )
    row(
        "runner RSS at end",
        [", ".join(f"{m:.0f}" for m in r.runner_final_rss_mb) + " MB" for r in reports],
    )
    for report in reports:
        lines += [
            "",
            f"## Scenario {TITLES[report.config.scenario]}",
            "",
            f"{report.requested:,} executions at {report.config.rate:.0f}/s"
            + (" (short: one fault of each kind)" if report.config.short else "")
            + ". *Back*: until the component was ready again; *drained*: until every execution "
            "requested before the fault had a result.",
            "",
            "| fault | at | back | drained | |",
            "|---|---:|---:|---:|---|",
        ]
        by_kind: dict[str, list[Fault]] = collections.defaultdict(list)
        for fault in report.faults:
            by_kind[fault.kind].append(fault)
        for kind, faults in by_kind.items():
            if len(faults) > 3:  # the runner kills: a summary line
                backs = [f.back_s or 0.0 for f in faults]
                drained = [f.drained_s for f in faults if f.drained_s is not None]
                lines.append(
                    f"| {kind} x{len(faults)} | every 5 s | max {max(backs):.1f} s | "
                    + (f"max {max(drained):.1f} s" if drained else "never")
                    + f" | {len(faults) - len(drained)} never drained |"
                )
                continue
            for f in faults:
                drained_cell = f"{f.drained_s:.1f} s" if f.drained_s is not None else "never (lost)"
                back = f"{f.back_s or 0.0:.1f} s"
                lines.append(f"| {kind} | {f.at_s:.0f} s | {back} | {drained_cell} | {f.note} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--scenario", choices=["A", "B", "both"], default="both")
    parser.add_argument("--short", action="store_true", help="one fault of each kind")
    parser.add_argument("--out", default="bench/chaos-report.md")
    args = parser.parse_args(argv)
    scenarios = ["A", "B"] if args.scenario == "both" else [args.scenario]
    reports = []
    for scenario in scenarios:
        config = Config(scenario, args.executions, args.rate, short=args.short)
        reports.append(asyncio.run(run_scenario(config)))
    text = "\n".join(render(reports)) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    clean = all(r.lost == 0 and r.wrongly_failed == 0 for r in reports)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
