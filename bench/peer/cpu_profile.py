"""Where the CPU of one benchmark row goes, per FlowTrux process (`--profile` of
bench/peer/litellm_bench.py; the services run bench/peer/profile_site/sitecustomize.py).

cProfile on a CPU clock attributes every function's own CPU time (`tottime`); summed by the
library (or FlowTrux package) the function belongs to, that is where the process's CPU went.
Profiling slows Python code down, so the shares are what to read; multiplied by a process's
CPU per request in an unprofiled run they give milliseconds. MongoDB commands per request
(by service, command and collection) say what FerretDB's CPU is spent on.
"""

from __future__ import annotations

import json
import os
import pstats
import re
import signal
from collections import Counter
from pathlib import Path

SITE = Path(__file__).resolve().parent / "profile_site"
_SITE_PACKAGES = re.compile(r"site-packages/([A-Za-z0-9_]+)")
_STDLIB = re.compile(r"lib/python3\.\d+/([A-Za-z0-9_]+)")
_OURS = re.compile(r"(services/[^/]+/[a-z_]+/[a-z_]+|shared/shared/[a-z_]+|deploy/local/[a-z_]+)")
_IO = ("send", "recv", "epoll", "select", "poll", "write", "read", "sock_", "connect", "accept")


def group_of(filename: str, function: str) -> str:
    """The library (or FlowTrux module) a profiled function belongs to."""
    if filename == "~":  # a C function: named by what it is
        name = function.strip("<>{}")
        if any(part in name for part in _IO):
            return "socket I/O and polling (C)"
        if "json" in name or "orjson" in name:
            return "json (C)"
        if "pydantic_core" in name or "SchemaValidator" in name or "SchemaSerializer" in name:
            return "pydantic-core (C)"
        return "other built-ins (C)"
    if m := _SITE_PACKAGES.search(filename):
        return m.group(1)
    if m := _OURS.search(filename):
        return "flowtrux: " + m.group(1).split("/", 1)[-1].replace("/", ".")
    if m := _STDLIB.search(filename):
        return "stdlib: " + m.group(1)
    return "other"


def rotate(pids: dict[str, int]) -> None:
    """Ask every profiled process to write what it gathered since the last call."""
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            continue


def breakdown(directory: Path, service: str, index: int) -> tuple[float, Counter[str]]:
    """(profiled CPU seconds, CPU seconds by group) of `service`'s profile number `index`."""
    path = directory / f"{service}-{index}.prof"
    if not path.exists():
        return 0.0, Counter()
    stats = pstats.Stats(str(path))
    groups: Counter[str] = Counter()
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        groups[group_of(filename, function)] += row[2]  # tottime: the function's own time
    return sum(groups.values()), groups


def mongo_commands(directory: Path, service: str, index: int) -> Counter[str]:
    path = directory / f"{service}-{index}.mongo.json"
    if not path.exists():
        return Counter()
    return Counter(json.loads(path.read_text()))


def section(
    directory: Path, label: str, services: list[str], index: int, requests: int, top: int = 8
) -> list[str]:
    """Markdown for one profiled row: per process, the biggest groups and the rest."""
    lines = [f"### {label}", ""]
    lines += [
        "| process | profiled CPU ms/request | where it goes (share of the process's CPU) |",
        "|---|---|---|",
    ]
    commands: list[str] = []
    for service in services:
        total, groups = breakdown(directory, service, index)
        if total <= 0:
            continue
        shown = groups.most_common(top)
        rest = total - sum(v for _, v in shown)
        parts = [f"{name} {100 * v / total:.0f} %" for name, v in shown]
        if rest > 0:
            parts.append(f"the rest {100 * rest / total:.0f} %")
        lines.append(f"| {service} | {1000 * total / requests:.2f} | {'; '.join(parts)} |")
        counts = mongo_commands(directory, service, index)
        docs = {k.removesuffix(" [documents]"): n for k, n in counts.items() if "[documents]" in k}
        calls = Counter({k: n for k, n in counts.items() if "[documents]" not in k})
        if calls:
            per = ", ".join(
                f"{name.strip()} {n / requests:.2f}"
                + (f" ({docs[name] / requests:.2f} documents)" if name in docs else "")
                for name, n in calls.most_common(12)
            )
            commands.append(f"- {service}: {per}")
    if commands:
        lines += [
            "",
            "MongoDB commands per request (command collection: count; a write's documents in "
            "brackets — one command may carry many):",
            "",
        ]
        lines += commands
    return [*lines, ""]
