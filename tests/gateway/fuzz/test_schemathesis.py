"""Schemathesis against /openapi.json of the gateway running with the REAL keyvault and
workspace apps (FerretDB, Kafka): no 5xx, every answer conforms to its declared schema."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from tests.gateway.support import Stack, ThreadedStack, auth

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# `schemathesis.pytest.from_fixture` (lazy @schema.parametrize) breaks on pytest 9.2
# (`Function._nodeid`), so the operations are driven here with each one's Hypothesis strategy.
MAX_EXAMPLES = 20
# 4xx answers the contract gives to schema-valid requests for a business reason.
BUSINESS_REJECTIONS = {
    404: {"not_found"},
    409: {"plan_limit_reached", "name_taken"},
    422: {"unknown_ai_provider", "key_rejected", "unknown_plan", "invalid_cursor"},
}


def only_business_rejections(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> None:
    """A schema-valid request is accepted, or refused with a documented business code."""
    status = response.status_code
    if status < 400 or status in (401, 403):
        return
    code = response.json().get("code")
    if case.path.endswith("/usage") and (status, code) == (422, "validation_error"):
        assert "since" in response.json()["detail"]  # since after until: a cross-field rule
        return
    if (status, code) == (422, "validation_error") and response.json()["detail"].startswith(
        "expires_at: must be in the future"
    ):
        return  # relative to now: a rule no static schema can state
    assert code in BUSINESS_REJECTIONS.get(status, set()), (
        f"schema-valid {case.method} {case.path} refused: {status} {code}: {response.text}"
    )


@pytest.fixture(scope="module")
def fuzz_stack(kafka_bootstrap: str, mongo_url: str) -> Iterator[Stack]:
    tag = secrets.token_hex(4)
    with ThreadedStack(
        bootstrap=kafka_bootstrap,
        mongo_url=mongo_url,
        suffix=f".t{tag}",
        db_prefix=f"test_gwfuzz_{tag}",
    ) as running:
        yield running


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(
            headers=headers, timeout=30, excluded_checks=excluded, additional_checks=additional
        )

    excluded: list[CheckFunction]
    additional: list[CheckFunction]
    if mode is GenerationMode.NEGATIVE:
        # Negative query data is serialized by `requests` in ways that can become valid
        # again (an object as repeated keys, a null as the string "null"), so rejecting it
        # is not asserted; no 5xx and schema conformance of every answer still are.
        excluded, additional = [negative_data_rejection], []
    else:
        # Schema-valid data may still be refused for a documented business reason.
        excluded, additional = [positive_data_acceptance], [only_business_rejections]

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_gateway_conforms_to_its_openapi(fuzz_stack: Stack, mode: GenerationMode) -> None:
    # An OWNER who is also a platform admin reaches every route, the admin one included.
    headers = auth(f"org-fuzz{secrets.token_hex(3)}", "OWNER", platform_admin=True)
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.gateway}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        operations += 1
        try:
            _fuzz(operation, mode, headers)
        except Unsatisfiable:  # no parameters and no body: nothing negative to send
            assert mode is GenerationMode.NEGATIVE
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 19
    assert not failures, "\n\n".join(failures)
