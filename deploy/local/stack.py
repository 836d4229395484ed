"""Runs the FlowTrux stack on loopback as processes: what `make dev` and the e2e suite use.

    python deploy/local/stack.py dev     infra + every service, foreground; Ctrl-C/SIGTERM stops all
    python deploy/local/stack.py down    stop services and infrastructure started by dev/test

Each process logs to .local/logs/<name>.log and is tracked by .local/run/<name>.pid.
Environment variables given to `make dev` reach the services unchanged.
`PROVIDERS=sim` also starts the provider simulator and points every provider base URL at it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
INFRA = ROOT / "deploy" / "local" / "infra.sh"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    package_dir: str
    port_env: str
    port: int
    ready_path: str | None = "/readyz"  # None: ready when the port accepts connections


SERVICES: tuple[Service, ...] = (
    Service("keyvault", "keyvault", "services/keyvault/keyvault", "KEYVAULT_PORT", 8081),
    Service("workspace", "workspace", "services/workspace/workspace", "WORKSPACE_PORT", 8082),
    Service(
        "agent-runner",
        "agent_runner",
        "services/agent-runner/agent_runner",
        "RUNNER_HEALTH_PORT",
        8083,
    ),
    Service("gateway", "gateway", "services/gateway/gateway", "GATEWAY_PORT", 8080),
)
SIMULATOR = Service(
    "provider-sim",
    "deploy.local.simulator",
    "deploy/local/simulator",
    "SIM_PORT",
    8090,
    ready_path=None,
)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Stack:
    """A set of service processes with their ports, logs and pid files."""

    env: dict[str, str]
    prefix: str = ""
    with_simulator: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def port(self, service: Service) -> int:
        return self.ports.get(service.name, service.port)

    def services(self) -> list[Service]:
        chosen = [s for s in SERVICES if (ROOT / s.package_dir / "__main__.py").exists()]
        if self.with_simulator and (ROOT / SIMULATOR.package_dir).exists():
            chosen.insert(0, SIMULATOR)
        return chosen

    def service_env(self) -> dict[str, str]:
        env = dict(self.env)
        for service in (*SERVICES, SIMULATOR):
            env.setdefault(service.port_env, str(self.port(service)))
        env.setdefault("KEYVAULT_URL", f"http://127.0.0.1:{self.port(SERVICES[0])}")
        env.setdefault("WORKSPACE_URL", f"http://127.0.0.1:{self.port(SERVICES[1])}")
        if self.with_simulator:
            sim = f"http://127.0.0.1:{self.port(SIMULATOR)}"
            for provider in ("ANTHROPIC", "OPENAI", "GOOGLE"):
                env[f"RUNNER_{provider}_BASE_URL"] = sim
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self, timeout: float = 120.0) -> None:
        (LOCAL / "logs").mkdir(parents=True, exist_ok=True)
        (LOCAL / "run").mkdir(parents=True, exist_ok=True)
        env = self.service_env()
        for service in self.services():
            name = self.prefix + service.name
            port = self.port(service)
            if port_open(port):
                raise RuntimeError(f"port {port} for {name} is already in use (make down?)")
            log_path = LOCAL / "logs" / f"{name}.log"
            with log_path.open("ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", service.module],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.procs[name] = proc
            (LOCAL / "run" / f"{name}.pid").write_text(str(proc.pid))
            self._wait_ready(name, service, proc, log_path, timeout)

    def _wait_ready(
        self, name: str, service: Service, proc: subprocess.Popen[bytes], log: Path, timeout: float
    ) -> None:
        url = f"http://127.0.0.1:{self.port(service)}{service.ready_path}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} during start; see {log}")
            ready = port_open(self.port(service)) if service.ready_path is None else http_ok(url)
            if ready:
                print(f"[stack] {name} ready on 127.0.0.1:{self.port(service)}", file=sys.stderr)
                return
            time.sleep(0.3)
        raise RuntimeError(f"{name} not ready at {url} after {timeout:.0f}s; see {log}")

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            stop_pid(name, proc.pid)
            proc.wait(timeout=5)
        self.procs.clear()


def stop_pid(name: str, pid: int, grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; removes the pid file."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
                if finished:
                    break
            except ChildProcessError:
                pass
        else:
            print(f"[stack] {name} did not stop in {grace:.0f}s; killing it", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    (LOCAL / "run" / f"{name}.pid").unlink(missing_ok=True)


def infra(*args: str) -> None:
    subprocess.run([str(INFRA), *args], check=True)


def dev_token(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "token", "--org", "org-dev", "--role", "OWNER"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else "(gateway token unavailable)"


def dev() -> int:
    started: list[str] = []
    if not port_open(27017):
        infra("up", "ferretdb")
        started.append("ferretdb")
    if not port_open(9092):
        infra("up", "kafka")
        started.append("kafka")
    stack = Stack(env=dict(os.environ), with_simulator=os.environ.get("PROVIDERS") == "sim")
    stopping = False

    def _terminate(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack.start()
        gateway = f"http://127.0.0.1:{stack.port(SERVICES[3])}"
        token = dev_token(stack.service_env())
        print(
            f"\nFlowTrux is running. Open this URL (signs you in as OWNER of org-dev):\n"
            f"  {gateway}/#token={token}\n\n"
            f"  API:       {gateway}/api/v1  (OpenAPI: {gateway}/docs)\n"
            f"  logs:      {LOCAL / 'logs'}\nCtrl-C stops everything started here.\n",
            flush=True,
        )
        while True:
            for name, proc in stack.procs.items():
                if proc.poll() is not None:
                    print(
                        f"[stack] {name} exited with {proc.returncode}; stopping", file=sys.stderr
                    )
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\n[stack] stopping", file=sys.stderr)
        return 0
    except RuntimeError as exc:
        print(f"[stack] ERROR: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        for component in reversed(started):
            infra("down", component)


def down() -> int:
    run = LOCAL / "run"
    instances: set[str] = set()
    for pidfile in sorted(run.glob("*.pid")) if run.exists() else []:
        name = pidfile.stem
        component, _, instance = name.partition("-")
        if component in ("kafka", "ferretdb"):
            instances.add(instance)
            continue
        try:
            pid = int(pidfile.read_text().strip())
        except FileNotFoundError:
            continue  # stopped meanwhile (a `make dev` shutting itself down removes its own)
        except ValueError:
            pidfile.unlink(missing_ok=True)
            continue
        stop_pid(name, pid)
    for instance in sorted(instances):  # "" is make dev's; "test" is a make test left behind
        subprocess.run(
            [str(INFRA), "down"], check=True, env={**os.environ, "LOCAL_INSTANCE": instance}
        )
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "dev":
        sys.exit(dev())
    if command == "down":
        sys.exit(down())
    print("usage: stack.py {dev|down}", file=sys.stderr)
    sys.exit(2)
