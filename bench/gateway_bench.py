"""Gateway latency under 100 concurrent clients (httpx, loopback, real services).

Runs keyvault, workspace and the gateway (real apps, real FerretDB and Kafka) in a child
process, then measures p50/p99 of `GET /api/v1/ai-providers` and
`GET /api/v1/workspaces/{id}/models` from 100 concurrent clients in this process.

    uv run --frozen --no-sync python bench/gateway_bench.py --out bench/results/gateway_bench.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.e2e import load_stack_module, write_report  # noqa: E402

JWT_SECRET = "bench-gateway-jwt-secret-0123456789abcdef"
PORTS = {"gateway": 28080, "keyvault": 28081, "workspace": 28082, "agent-runner": 28083}


def auth(org: str, role: str = "OWNER") -> dict[str, str]:
    import jwt

    claims = {"sub": f"bench-{role}", "org_id": org, "role": role, "exp": int(time.time()) + 3600}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(
    url: str, headers: dict[str, str], clients: int, per_client: int
) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    # One connection per simulated client, as 100 browsers would have; a single shared httpx
    # pool of 100 connections would measure httpcore's pool bookkeeping instead.
    sessions = [httpx.AsyncClient(timeout=30) for _ in range(clients)]
    try:
        for session in sessions:  # warm up: open every connection
            await session.get(url, headers=headers)

        async def one_client(session: httpx.AsyncClient) -> None:
            nonlocal errors
            for _ in range(per_client):
                started = time.perf_counter()
                try:
                    response = await session.get(url, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += 0 if ok else 1

        wall = time.perf_counter()
        await asyncio.gather(*(one_client(session) for session in sessions))
        wall = time.perf_counter() - wall
    finally:
        for session in sessions:
            await session.aclose()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 0.99),
        "rps": len(latencies) / wall,
    }


async def _bench(gateway: str, clients: int, per_client: int) -> list[tuple[str, dict[str, float]]]:
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
    results = []
    for label, path, headers in (
        ("GET /api/v1/ai-providers", "/api/v1/ai-providers", owner),
        (
            "GET /api/v1/workspaces/{id}/models",
            f"/api/v1/workspaces/{ws['id']}/models",
            auth(org, "MEMBER"),
        ),
    ):
        for n in (1, clients):
            row = await _measure(gateway + path, headers, n, per_client if n > 1 else 200)
            results.append((f"{label}, {n} client{'s' if n > 1 else ''}", row))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results/gateway_bench.md")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=20)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    tag = secrets.token_hex(4)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONGODB_URL": mongo,
        "KAFKA_TOPIC_SUFFIX": f".bench{tag}",
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
        results = asyncio.run(
            _bench(f"http://127.0.0.1:{PORTS['gateway']}", args.clients, args.per_client)
        )
    finally:
        stack.stop()
    lines = [
        "## gateway latency",
        "",
        f"{args.clients} concurrent httpx clients on loopback, {args.per_client} requests each; "
        "the stack as `make dev` runs it (each service its own process; FerretDB, Kafka), "
        f"load generator in this process; {os.cpu_count()} cores shared by all of them.",
        "",
        "| route | requests | errors | p50 ms | p99 ms | req/s |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in results:
        lines.append(
            f"| `{label}` | {int(r['requests'])} | {int(r['errors'])} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['rps']:.0f} |"
        )
    write_report(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
