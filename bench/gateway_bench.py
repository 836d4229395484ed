"""Gateway read routes under 1 and 100 concurrent clients (loopback, real services).

Runs keyvault, workspace, the runner and the gateway (real apps, real FerretDB and Kafka) as
child processes, then measures req/s, p50 and p99 of the UI's read routes
(`GET /api/v1/ai-providers`, `/workspaces/{id}/models`, `/workspaces`, `/workspaces/{id}`,
`/plan`) from 1 and from 100 concurrent clients, and the CPU each process spent per request
(user + system from /proc/<pid>/stat), the load generator's own included.

The generator is aiohttp, one connection per simulated client (as 100 browsers would have);
it runs in this process unless `--procs N` spreads the clients over N processes.

    uv run --frozen --no-sync python bench/gateway_bench.py --out bench/results/gateway_bench.md

`BENCH_PORT_BASE` (default 28080) moves the services' ports (gateway = base, keyvault + 1,
workspace + 2, runner + 3), so two runs can share a machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.cleanup import forget  # noqa: E402
from bench.runner_bench import cpu_s, infra_pids  # noqa: E402
from tests.support.e2e import load_stack_module, write_report  # noqa: E402

JWT_SECRET = "bench-gateway-jwt-secret-0123456789abcdef"
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "28080"))
PORTS = {
    "gateway": PORT_BASE,
    "keyvault": PORT_BASE + 1,
    "workspace": PORT_BASE + 2,
    "agent-runner": PORT_BASE + 3,
}


def auth(org: str, role: str = "OWNER") -> dict[str, str]:
    import jwt

    claims = {"sub": f"bench-{role}", "org_id": org, "role": role, "exp": int(time.time()) + 3600}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _clients(
    url: str, headers: dict[str, str], clients: int, per_client: int
) -> tuple[list[float], int, float]:
    """Latencies (ms), errors and wall seconds of `clients` connections × `per_client` GETs."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, force_close=False),
            timeout=aiohttp.ClientTimeout(total=30),
            headers=headers,
            skip_auto_headers=("User-Agent",),
        )
        for _ in range(clients)
    ]
    try:
        for session in sessions:  # warm up: open every connection
            async with session.get(url) as response:
                await response.read()

        async def one_client(session: aiohttp.ClientSession) -> None:
            nonlocal errors
            for _ in range(per_client):
                started = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += 0 if ok else 1

        wall = time.perf_counter()
        await asyncio.gather(*(one_client(session) for session in sessions))
        wall = time.perf_counter() - wall
    finally:
        for session in sessions:
            await session.close()
    return latencies, errors, wall


def _child(url: str, headers: dict[str, str], clients: int, per_client: int, out: Any) -> None:
    latencies, errors, wall = asyncio.run(_clients(url, headers, clients, per_client))
    out.send((latencies, errors, wall, time.process_time()))
    out.close()


def _measure(
    url: str,
    headers: dict[str, str],
    clients: int,
    per_client: int,
    procs: int,
    pids: dict[str, int],
) -> dict[str, Any]:
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    if procs <= 1 or clients < procs:
        gen_before = time.process_time()
        latencies, errors, wall = asyncio.run(_clients(url, headers, clients, per_client))
        generator_s = time.process_time() - gen_before
    else:
        context = multiprocessing.get_context("fork")
        pipes, children = [], []
        share = clients // procs
        for index in range(procs):
            n = share + (1 if index < clients % procs else 0)
            mine, theirs = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(url, headers, n, per_client, theirs))
            child.start()
            pipes.append(mine)
            children.append(child)
        latencies, errors, wall, generator_s = [], 0, 0.0, 0.0
        for pipe in pipes:
            lat, err, w, spent = pipe.recv()
            latencies += lat
            errors += err
            wall = max(wall, w)
            generator_s += spent
        for child in children:
            child.join()
    count = len(latencies)
    cpu_ms = {name: (cpu_s(pid) - before[name]) * 1000 / count for name, pid in pids.items()}
    # Warm-up requests are counted in the generator's and the services' CPU, but they are one
    # per client against `per_client` measured ones; the figures are per measured request.
    cpu_ms["generator"] = generator_s * 1000 / count
    return {
        "requests": count,
        "errors": errors,
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 0.99),
        "rps": count / wall,
        "cpu_ms": cpu_ms,
    }


async def _setup(gateway: str) -> tuple[str, str]:
    """An org with two keys and a workspace using both: (org id, workspace id)."""
    import httpx

    org = f"org-bench{secrets.token_hex(3)}"
    owner = auth(org)
    async with httpx.AsyncClient(base_url=f"{gateway}/api/v1", timeout=30) as c:
        keys = []
        for provider, secret in (("anthropic", "sk-ant-"), ("openai", "sk-proj-")):
            r = await c.post(
                "/ai-providers",
                headers=owner,
                json={
                    "provider": provider,
                    "name": provider,
                    "api_key": secret + secrets.token_hex(16),
                },
            )
            r.raise_for_status()
            keys.append(r.json()["id"])
        ws = (await c.post("/workspaces", headers=owner, json={"name": "bench"})).json()
        (
            await c.patch(f"/workspaces/{ws['id']}", headers=owner, json={"ai_provider_ids": keys})
        ).raise_for_status()
    return org, str(ws["id"])


def _bench(
    gateway: str, routes: list[str], clients: int, per_client: int, procs: int, pids: dict[str, int]
) -> list[tuple[str, dict[str, Any]]]:
    org, ws = asyncio.run(_setup(gateway))
    owner, member = auth(org), auth(org, "MEMBER")
    table = {
        "ai-providers": ("GET /api/v1/ai-providers", "/api/v1/ai-providers", owner),
        "models": (
            "GET /api/v1/workspaces/{id}/models",
            f"/api/v1/workspaces/{ws}/models",
            member,
        ),
        "workspaces": ("GET /api/v1/workspaces", "/api/v1/workspaces", member),
        "workspace": ("GET /api/v1/workspaces/{id}", f"/api/v1/workspaces/{ws}", member),
        "plan": ("GET /api/v1/plan", "/api/v1/plan", owner),
    }
    results = []
    for name in routes:
        label, path, headers = table[name]
        for n in (1, clients):
            row = _measure(gateway + path, headers, n, per_client if n > 1 else 200, procs, pids)
            results.append((f"{label}, {n} client{'s' if n > 1 else ''}", row))
            print(label, n, {k: v for k, v in row.items() if k != "cpu_ms"}, file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results/gateway_bench.md")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=20)
    parser.add_argument("--procs", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--routes",
        default="ai-providers,models,workspaces,workspace,plan",
        help="comma-separated: ai-providers, models, workspaces, workspace, plan",
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    tag = secrets.token_hex(4)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONGODB_URL": mongo,
        "KAFKA_TOPIC_SUFFIX": f".bench{tag}",
        "RUNNER_GROUP_ID": f"agent-runner.bench{tag}",  # no rebalances with other stacks' runners
        "KEYVAULT_SPEND_GROUP": f"keyvault-spend.bench{tag}",
        "KEYVAULT_DB": f"bench_{tag}_keyvault",
        "WORKSPACE_DB": f"bench_{tag}_workspace",
        "RUNNER_DB": f"bench_{tag}_runner",
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "KEYVAULT_KEYRING_FILE": str(ROOT / ".local" / "keyvault" / f"bench-{tag}-keyring"),
        "LOG_LEVEL": "WARNING",
    }
    stack = load_stack_module().Stack(env=env, prefix="bench-", ports=dict(PORTS))
    stack.start(timeout=180)
    try:
        pids = {
            name.removeprefix("bench-"): proc.pid
            for name, proc in stack.procs.items()
            if name != "bench-agent-runner"
        }
        pids.update(infra_pids())
        results = _bench(
            f"http://127.0.0.1:{PORTS['gateway']}",
            args.routes.split(","),
            args.clients,
            args.per_client,
            args.procs,
            pids,
        )
    finally:
        stack.stop()
        asyncio.run(
            forget(
                bootstrap=bootstrap,
                mongo_url=mongo,
                topic_suffix=f".bench{tag}",
                databases=[env["KEYVAULT_DB"], env["WORKSPACE_DB"], env["RUNNER_DB"]],
            )
        )
    processes = ["gateway", "keyvault", "workspace", "ferretdb", "kafka", "generator"]
    lines = [
        "## gateway latency",
        "",
        f"{args.clients} concurrent clients (aiohttp, one connection each, in {args.procs} "
        f"generator process{'es' if args.procs > 1 else ''}) on loopback, {args.per_client} "
        "requests each (1 client: 200); the stack as `make dev` runs it (each service its own "
        f"process; FerretDB, Kafka); {os.cpu_count()} cores shared by all of them. CPU: ms of "
        "user + system time per request from /proc/<pid>/stat (FerretDB and Kafka are shared "
        "and count whatever else ran meanwhile).",
        "",
        "| route | requests | errors | p50 ms | p99 ms | req/s | CPU ms/request: "
        + ", ".join(processes)
        + " |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in results:
        cpu = r["cpu_ms"]
        per = ", ".join(f"{cpu[p]:.2f}" if p in cpu else "–" for p in processes)
        lines.append(
            f"| `{label}` | {int(r['requests'])} | {int(r['errors'])} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['rps']:.0f} | {per} |"
        )
    write_report(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
