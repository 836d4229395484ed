"""The secured broker (SASL/SCRAM-SHA-512, StandardAuthorizer, deploy/local/kafka/acls.txt).

A private secured broker is started by the project's own script (`infra.sh up kafka-secure`)
on its own ports and data; every check is the broker's own refusal or acceptance.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from agent_runner.events.publisher import KafkaPublisher
from agent_runner.settings import RunnerSettings
from gateway.domain import WorkspaceModelsView
from gateway.events import KafkaExecutionBus, StateReadModels
from keyvault.app import create_app as create_keyvault
from keyvault.settings import KeyvaultSettings
from shared.contracts import (
    ExecutionRequested,
    ExecutionResult,
    OrgPlanChanged,
    PlanLimits,
    Topics,
)
from shared.kafka import client_options
from shared.settings import DEV_SERVICE_TOKENS, KafkaSettings
from tests.support.servers import free_port, serve
from workspace.events import KafkaStatePublisher
from workspace.settings import WorkspaceSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# FLOWTRUX_KAFKA_ACL_PORT moves the private broker (its controller takes the next port).
PORT = int(os.environ.get("FLOWTRUX_KAFKA_ACL_PORT", "19292"))
CONTROLLER = PORT + 1
BOOTSTRAP = f"127.0.0.1:{PORT}"
TOPICS = Topics()
NOT_AUTHORIZED = TopicAuthorizationFailedError.errno  # 29


def principal(name: str, password: str | None = None) -> KafkaSettings:
    """The Kafka settings a service (or an engine) uses on the secured broker."""
    return KafkaSettings(
        kafka_bootstrap_servers=BOOTSTRAP,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=name,
        kafka_sasl_password=password or f"dev-only-{name}-kafka-password",
    )


def _infra(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(ROOT / "deploy/local/infra.sh"), *args], check=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def secured_broker() -> Iterator[str]:
    if shutil.which("java") is None:
        message = "Java 17 is needed for the secured Kafka broker: run `make test`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    env = {
        **os.environ,
        "LOCAL_INSTANCE": f"acl-{secrets.token_hex(4)}",
        "LOCAL_KAFKA_SECURE_PORT": str(PORT),
        "LOCAL_KAFKA_SECURE_CONTROLLER_PORT": str(CONTROLLER),
        "LOCAL_KAFKA_HEAP": "384m",
    }
    _infra("up", "kafka-secure", env=env)
    try:
        yield BOOTSTRAP
    finally:
        _infra("down", "kafka-secure", env=env)
        _infra("purge", "kafka-secure", env=env)


@pytest.fixture(autouse=True)
def _quiet_refusals() -> Iterator[None]:
    # aiokafka logs every refused metadata refresh at ERROR; the refusals are the point here.
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


async def _producer(who: KafkaSettings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(**client_options(who), acks="all", request_timeout_ms=10_000)
    await producer.start()
    return producer


async def _write(who: KafkaSettings, topic: str, value: bytes, key: bytes = b"k") -> None:
    producer = await _producer(who)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=key), 20)
    finally:
        await producer.stop()


async def _read_all(who: KafkaSettings, topic: str, **consumer: Any) -> list[bytes]:
    """Every record of `topic` as `who` sees it (raises the broker's refusal)."""
    client = AIOKafkaConsumer(
        **client_options(who), enable_auto_commit=False, auto_offset_reset="earliest", **consumer
    )
    await client.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(6)]
        end = await asyncio.wait_for(client.end_offsets(tps), 20)
        client.assign(tps)
        await client.seek_to_beginning(*tps)
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while [tp for tp in tps if await client.position(tp) < end[tp]]:
                for records in (await client.getmany(timeout_ms=500)).values():
                    values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await client.stop()


@pytest.mark.parametrize("name", ["engine", "gateway", "keyvault", "agent-runner"])
@pytest.mark.parametrize("topic", [TOPICS.plans, TOPICS.assignments])
async def test_only_workspace_writes_workspace_topics(
    secured_broker: str, name: str, topic: str
) -> None:
    forged = OrgPlanChanged(
        org_id="org-victim",
        plan="enterprise",
        limits=PlanLimits(provider_keys=None, workspaces=None),
    )
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(principal(name), topic, forged.model_dump_json().encode(), b"org-victim")
    assert forged.model_dump_json().encode() not in await _read_all(principal("keyvault"), topic)


async def test_workspace_writes_its_topics_and_keyvault_reads_them(secured_broker: str) -> None:
    event = OrgPlanChanged(
        org_id=f"org-{secrets.token_hex(4)}",
        plan="team",
        limits=PlanLimits(provider_keys=10, workspaces=25),
    )
    body = event.model_dump_json().encode()
    await _write(principal("workspace"), TOPICS.plans, body, event.org_id.encode())
    assert body in await _read_all(principal("keyvault"), TOPICS.plans)


async def test_only_keyvault_writes_the_keys_topic(secured_broker: str) -> None:
    for name in ("workspace", "engine", "agent-runner", "gateway"):
        with pytest.raises(TopicAuthorizationFailedError):
            await _write(principal(name), TOPICS.keys, b"{}")
    await _write(principal("keyvault"), TOPICS.keys, b"{}")


async def _topic_error(who: KafkaSettings, topic: str) -> int:
    """The broker's error code for `topic` in a metadata request by `who` (29: not authorized)."""
    admin = AIOKafkaAdminClient(**client_options(who))
    await admin.start()
    try:
        (described,) = await asyncio.wait_for(admin.describe_topics([topic]), 20)
        return int(described["error_code"])
    finally:
        await admin.close()


async def test_engine_writes_requests_but_cannot_read_results(secured_broker: str) -> None:
    request = f"request-{secrets.token_hex(4)}".encode()
    await _write(principal("engine"), TOPICS.execution_requested, request)
    result = f"result-{secrets.token_hex(4)}".encode()
    await _write(principal("agent-runner"), TOPICS.execution_result, result)
    # The broker refuses even to describe the results topic to an engine ...
    assert await _topic_error(principal("engine"), TOPICS.execution_result) == NOT_AUTHORIZED
    assert await _topic_error(principal("gateway"), TOPICS.execution_result) == 0
    # ... so a consumer of the engine's gets none of the results that are there,
    consumer = AIOKafkaConsumer(**client_options(principal("engine")), group_id=None)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(TOPICS.execution_result, p) for p in range(6)])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consumer.seek_to_beginning(), 5)
        batches = await consumer.getmany(timeout_ms=3000)
        assert not any(batches.values())
    finally:
        await consumer.stop()
    # ... and it cannot publish a forged result either.
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(principal("engine"), TOPICS.execution_result, b"forged result")


async def test_runner_reads_requests_in_its_group_and_writes_results(secured_broker: str) -> None:
    runner = principal("agent-runner")
    request = f"request-{secrets.token_hex(4)}".encode()
    await _write(principal("engine"), TOPICS.execution_requested, request)
    consumer = AIOKafkaConsumer(
        TOPICS.execution_requested,
        **client_options(runner),
        group_id="agent-runner",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        async with asyncio.timeout(60):
            while request not in seen:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
    finally:
        await consumer.stop()
    result = f"result-{secrets.token_hex(4)}".encode()
    await _write(runner, TOPICS.execution_result, result)
    assert result in await _read_all(principal("gateway"), TOPICS.execution_result)
    # The runner cannot commit in another service's group.
    other = AIOKafkaConsumer(
        TOPICS.execution_result, **client_options(runner), group_id="workspace-ledger"
    )
    with pytest.raises(GroupAuthorizationFailedError):
        await _join_group(other)


async def _join_group(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.start()
        async with asyncio.timeout(30):
            await consumer.getmany(timeout_ms=5000)
            await consumer.commit({TopicPartition(TOPICS.execution_result, 0): 0})
    finally:
        await consumer.stop()


async def test_a_wrong_password_is_refused(secured_broker: str) -> None:
    producer = AIOKafkaProducer(**client_options(principal("workspace", "not-the-password")))
    try:
        with pytest.raises((SaslAuthenticationFailed, KafkaConnectionError)):
            await asyncio.wait_for(producer.start(), 30)
    finally:
        await producer.stop()


async def test_keyvault_connects_as_its_principal(
    secured_broker: str, mongo_url: str, unique: str
) -> None:
    """keyvault on the secured broker: topics checked (never created), readers and publisher up."""
    kafka = principal("keyvault")
    settings = KeyvaultSettings(
        **kafka.model_dump(),
        mongodb_url=mongo_url,
        keyvault_db=f"acl_kv_{unique}",
        keyvault_master_keys="v1:" + base64.b64encode(os.urandom(32)).decode(),
        workspace_url=f"http://127.0.0.1:{free_port()}",
        keyvault_ready_timeout_s=30.0,
    )
    async with serve(create_keyvault(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        created = await http.post(
            f"/internal/v1/orgs/org-{unique}/keys",
            json={
                "provider": "openai",
                "name": "k",
                "api_key": "sk-proj-" + "a" * 40,
                "actor": "u",
            },
            headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"},
        )
        assert created.status_code == 201, created.text
    keys = await _read_all(principal("workspace"), TOPICS.keys)
    assert any(created.json()["id"].encode() in v for v in keys)


async def test_workspace_gateway_and_runner_connect_as_their_principals(
    secured_broker: str, unique: str
) -> None:
    """Each service's own Kafka code, given only its principal, does its job on the broker."""
    plan = OrgPlanChanged(
        org_id=f"org-{unique}", plan="team", limits=PlanLimits(provider_keys=10, workspaces=25)
    )
    workspace = KafkaStatePublisher(WorkspaceSettings(**principal("workspace").model_dump()))
    await workspace.start()
    try:
        await asyncio.wait_for(workspace.publish_plan(plan), 20)
    finally:
        await workspace.stop()
    assert plan.model_dump_json().encode() in await _read_all(principal("keyvault"), TOPICS.plans)

    bus = KafkaExecutionBus(principal("gateway"), TOPICS, timeout_s=5.0)
    await bus.start()
    try:
        assert await bus.ready()
        await bus.publish(
            ExecutionRequested(
                execution_id=f"exec-{unique}",
                org_id=f"org-{unique}",
                workspace_id=f"ws-{unique}",
                model="gpt-5-mini",
                input={"messages": [{"role": "user", "content": "hi"}]},
            )
        )
    finally:
        await bus.stop()

    runner = KafkaPublisher(RunnerSettings(**principal("agent-runner").model_dump()))
    await runner.start()
    try:
        example = (ROOT / "tests/contracts/examples/ExecutionResult.failed.json").read_text()
        result = ExecutionResult.model_validate_json(example).model_copy(
            update={"execution_id": f"exec-{unique}", "org_id": f"org-{unique}"}
        )
        await asyncio.wait_for(runner.publish(result), 20)
    finally:
        await runner.stop()
    results = await _read_all(principal("gateway"), TOPICS.execution_result)
    assert any(f"exec-{unique}".encode() in r for r in results)


async def test_gateway_reads_the_state_topics_without_a_group(
    secured_broker: str, unique: str
) -> None:
    """The gateway's read model of workspaces and keys (GET /workspaces/{id}/models) runs
    on its own principal: both compacted topics read group-less, the fence's end offsets."""
    view = WorkspaceModelsView()
    models = StateReadModels(principal("gateway"), TOPICS, view, timeout_s=5.0, start_wait_s=30)
    await models.start()
    try:
        await models.check()  # raises ReadModelsBehindError when a read is refused
    finally:
        await models.stop()
    assert await _topic_error(principal("gateway"), TOPICS.plans) == NOT_AUTHORIZED
