"""CPU profiling of the FlowTrux services for `make bench-peer PEER_ARGS=--profile` only.

On PYTHONPATH of the services the benchmark starts, with FLOWTRUX_CPU_PROFILE_DIR set. Each
service process runs cProfile with a CPU clock (time.process_time: where the CPU goes, not
where the process waits). SIGUSR1 writes the profile gathered since the previous SIGUSR1 to
<dir>/<service>-<n>.prof and starts a fresh one, so the benchmark brackets each row with two
signals. MongoDB commands are counted by collection and command (a pymongo listener), with
the documents each write carries, since FerretDB's own CPU is spent answering them. Never
loaded by the product.
"""

from __future__ import annotations

import os
import sys

MODULES = {"gateway", "keyvault", "workspace", "agent_runner", "deploy.local.simulator"}


def _start(directory: str, service: str) -> None:
    import collections
    import cProfile
    import json
    import signal
    import time

    counts: collections.Counter[str] = collections.Counter()
    try:
        from pymongo import monitoring

        class _Commands(monitoring.CommandListener):
            def started(self, event: monitoring.CommandStartedEvent) -> None:
                target = event.command.get(event.command_name)
                name = f"{event.command_name} {target if isinstance(target, str) else ''}"
                counts[name] += 1
                # The documents a write carries (one insert command may carry many).
                for part in ("documents", "updates", "deletes"):
                    if part in event.command:
                        counts[f"{name} [documents]"] += len(event.command[part])

            def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
                pass

            def failed(self, event: monitoring.CommandFailedEvent) -> None:
                pass

        monitoring.register(_Commands())
    except ImportError:
        pass

    state = {"n": 0, "profile": cProfile.Profile(time.process_time)}

    def rotate(*_: object) -> None:
        profile = state["profile"]
        profile.disable()  # type: ignore[attr-defined]
        base = os.path.join(directory, f"{service}-{state['n']}")
        profile.dump_stats(base + ".prof")  # type: ignore[attr-defined]
        with open(base + ".mongo.json", "w") as out:
            json.dump(dict(counts), out)
        counts.clear()
        state["n"] = int(state["n"]) + 1  # type: ignore[call-overload]
        fresh = cProfile.Profile(time.process_time)
        state["profile"] = fresh
        fresh.enable()

    signal.signal(signal.SIGUSR1, rotate)
    state["profile"].enable()  # type: ignore[attr-defined]


def _module() -> str | None:
    argv: list[str] = list(getattr(sys, "orig_argv", []))
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[i + 1] in MODULES:
            return argv[i + 1]
    return None


_directory = os.environ.get("FLOWTRUX_CPU_PROFILE_DIR")
_service = _module()
if _directory and _service:
    _start(_directory, _service.rsplit(".", 1)[-1].replace("_", "-"))
