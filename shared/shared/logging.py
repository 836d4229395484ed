"""Logging with secret redaction: JSON lines to stderr, every record scrubbed.

Two layers: secrets registered while in use (`registered_secret`) are replaced wherever
they appear, and anything shaped like a provider key is masked even if never registered.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"

# The id of the HTTP request being served (set by shared.access.RequestTelemetry); every
# JSON log record written while serving it carries it.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "flowtrux_request_id", default=None
)
_EXTRAS = (
    "execution_id",
    "key_id",
    "workspace_id",
    "org_id",
    "event",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "request_id",
    "trace_id",
)

# Provider key shapes: Anthropic (sk-ant-…), OpenAI (sk-proj-…, sk-…), Google (AIza…),
# and bearer/x-api-key header values.
_KEY_SHAPES = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-proj-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}"
    r"|AIza[A-Za-z0-9_\-]{16,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{16,}"
    r"|(?i:x-api-key|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]{8,})"
)

_lock = threading.Lock()
_registered: dict[str, int] = {}


@contextmanager
def registered_secret(value: str) -> Iterator[None]:
    """Redact `value` from every log record while the block runs."""
    if len(value) < 6:
        yield
        return
    with _lock:
        _registered[value] = _registered.get(value, 0) + 1
    try:
        yield
    finally:
        with _lock:
            left = _registered.get(value, 1) - 1
            if left <= 0:
                _registered.pop(value, None)
            else:
                _registered[value] = left


def redact(text: str) -> str:
    """`text` with registered secrets and key-shaped strings replaced."""
    with _lock:
        secrets = list(_registered)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Scrubs the formatted message and exception text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, service, message, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _EXTRAS:
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if "request_id" not in payload and (request_id := request_id_var.get()) is not None:
            payload["request_id"] = request_id
        if record.exc_text:
            payload["exc"] = record.exc_text
        return redact(json.dumps(payload, default=str))


def configure_logging(service: str, *, level: str = "INFO", fmt: str = "json") -> None:
    """Send every logger's records through redaction to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "pymongo", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
