"""The real OpenTelemetry Collector (deploy/local/otelcol.sh) for tests: started on a port,
it writes every span it receives as JSON lines; `spans()` reads them back, flattened."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.e2e import ROOT

SCRIPT = ROOT / "deploy" / "local" / "otelcol.sh"


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    kind: int
    attributes: dict[str, Any]


def _value(v: dict[str, Any]) -> Any:
    for kind in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if kind in v:
            return v[kind]
    return v


def _attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items or []}


class Collector:
    """One collector process: OTLP/HTTP on 127.0.0.1:`port`, spans into `out`."""

    def __init__(self, port: int, out: Path) -> None:
        self.port = port
        self.out = out
        self.endpoint = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        binary = subprocess.run(
            [str(SCRIPT), "install"], check=True, capture_output=True, text=True
        ).stdout.strip()
        config = self.out.with_suffix(".yaml")
        config.write_text(
            subprocess.run(
                [str(SCRIPT), "config", str(self.port), str(self.out)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        self.out.unlink(missing_ok=True)
        log = (self.out.parent / f"{self.out.stem}-collector.txt").open("wb")
        self._process = subprocess.Popen(
            [binary, "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GOMAXPROCS": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the collector exited ({self._process.returncode})")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"the collector did not listen on {self.port} in {timeout} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def raw(self) -> bytes:
        return self.out.read_bytes() if self.out.exists() else b""

    def spans(self) -> list[Span]:
        found: list[Span] = []
        data = self.raw()
        # The collector may be writing a line right now: only whole lines are read.
        complete = data[: data.rfind(b"\n") + 1]
        for line in complete.splitlines():
            if not line.strip():
                continue
            for resource_spans in json.loads(line).get("resourceSpans", []):
                resource = _attributes(resource_spans.get("resource", {}).get("attributes"))
                for scope in resource_spans.get("scopeSpans", []):
                    for span in scope.get("spans", []):
                        found.append(
                            Span(
                                trace_id=span["traceId"],
                                span_id=span["spanId"],
                                parent_id=span.get("parentSpanId", ""),
                                name=span["name"],
                                service=str(resource.get("service.name", "")),
                                kind=int(span.get("kind", 0)),
                                attributes=_attributes(span.get("attributes")),
                            )
                        )
        return found
