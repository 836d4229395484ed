"""Unit tests of the shared package: redaction, secret type, sealing, catalog, plans, settings."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from shared.catalog import CATALOG, cost_usd, find_model, load_prices, models_for_providers
from shared.crypto import SealError, SecretValue, new_recipient, open_sealed, seal, seal_context
from shared.logging import REDACTED, RedactingFilter, redact, registered_secret
from shared.plans import DEFAULT_PLANS, parse_plans
from shared.settings import BaseServiceSettings, ProductionSettingsError, dev_token

CANARY = "sk-ant-api03-CANARY-7f3a9c2e1b4d8f6a0c5e9b2d7a4f1c8e"


def test_key_shaped_strings_are_redacted_even_unregistered() -> None:
    for key in (
        CANARY,
        "sk-proj-abcdefghijklmnop1234",
        "AIzaSyA1234567890abcdefghij",
        "sk-" + "x" * 40,
    ):
        assert key not in redact(f"calling with {key} now")
    assert redact("Authorization: Bearer abcdefghijklmnopqrstuvwx") == f"Authorization: {REDACTED}"


def test_registered_secret_is_redacted_only_while_registered() -> None:
    odd = "plain-looking-secret-value-42"
    with registered_secret(odd):
        assert redact(f"x {odd} y") == f"x {REDACTED} y"
    assert odd in redact(f"x {odd} y")


def test_logging_filter_scrubs_message_args_and_exceptions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("key is %s", CANARY)
            try:
                raise ValueError(f"bad key {CANARY}")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    assert CANARY not in caplog.text
    assert REDACTED in caplog.text


def test_secret_value_never_shows_itself() -> None:
    secret = SecretValue(CANARY)
    assert CANARY not in repr(secret)
    assert CANARY not in str(secret)
    assert CANARY not in f"{secret!r} {secret}"
    assert secret.reveal() == CANARY


def test_seal_round_trip_and_wrong_recipient_or_context_fail() -> None:
    private, public = new_recipient()
    context = seal_context(execution_id="exec-1", key_id="key-1")
    box = seal(public, CANARY.encode(), context)
    assert CANARY.encode() not in box
    assert open_sealed(private, box, context) == CANARY.encode()
    other, _ = new_recipient()
    with pytest.raises(SealError):
        open_sealed(other, box, context)
    with pytest.raises(SealError):
        open_sealed(private, box, seal_context(execution_id="exec-2", key_id="key-1"))
    tampered = box[:-1] + bytes([box[-1] ^ 1])
    with pytest.raises(SealError):
        open_sealed(private, tampered, context)
    assert open_sealed(private, box, context, recipient_public=public) == CANARY.encode()
    with pytest.raises(SealError):  # the public half of another key pair
        open_sealed(private, box, context, recipient_public=new_recipient()[1])


def test_catalog_is_the_seed_list_in_order() -> None:
    assert [p.id for p in CATALOG] == ["anthropic", "openai", "google"]
    assert [m.id for m in CATALOG[0].models] == [
        "claude-opus-4-6",
        "claude-sonnet-4-6",
        "claude-opus-4-5",
        "claude-sonnet-4-5",
        "claude-opus-4",
        "claude-sonnet-4",
        "claude-haiku-4-5",
    ]
    assert [m.id for m in CATALOG[1].models] == [
        "gpt-5.4",
        "gpt-5.3",
        "gpt-5.2",
        "gpt-5",
        "gpt-5-mini",
        "o4-mini",
    ]
    assert [m.id for m in CATALOG[2].models] == [
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.0-flash",
    ]
    model = find_model("claude-haiku-4-5")
    assert model is not None
    assert model.best_for == "Lightweight tasks, high throughput, lowest cost"
    assert find_model("gpt-4") is None
    assert [m.provider for m in models_for_providers({"google", "anthropic"})][-1] == "google"


def test_cost_uses_configured_prices_and_is_null_without_one() -> None:
    prices = load_prices()
    assert cost_usd(prices, "claude-sonnet-4-6", 12, 3) == pytest.approx(0.000081)
    assert cost_usd(prices, "gpt-5.4", 1000, 1000) is None


def test_plans_default_and_configured() -> None:
    assert DEFAULT_PLANS["starter"].provider_keys == 3
    assert DEFAULT_PLANS["enterprise"].workspaces is None
    plans = parse_plans('{"starter": {"provider_keys": 1, "workspaces": 1}}')
    assert plans["starter"].provider_keys == 1
    with pytest.raises(ValueError, match="starter"):
        parse_plans('{"gold": {"provider_keys": 1, "workspaces": 1}}')


class _OneTokenSettings(BaseServiceSettings):
    service_token_gateway: SecretStr = dev_token("gateway")


def test_prod_refuses_dev_service_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWTRUX_ENV", "prod")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "kafka-password")
    with pytest.raises(ProductionSettingsError, match="SERVICE_TOKEN_GATEWAY"):
        _OneTokenSettings().check_production()
    monkeypatch.setenv("SERVICE_TOKEN_GATEWAY", "prod-GATEWAY-token-0123456789abcdef0123")
    _OneTokenSettings().check_production()


def test_provider_keys_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
    dumped = BaseServiceSettings().model_dump_json()
    assert CANARY not in dumped


def test_unique_violation_is_recognised_from_mongodb_and_ferretdb() -> None:
    from pymongo.errors import DuplicateKeyError, OperationFailure

    from shared.mongo import is_unique_violation

    assert is_unique_violation(DuplicateKeyError("E11000 duplicate key", 11000))
    ferret = OperationFailure(
        "constraint failed: UNIQUE constraint failed: index 'x_o_1_n_1' (2067)", 1
    )
    assert is_unique_violation(ferret)
    assert not is_unique_violation(OperationFailure("some other internal error", 1))
    assert not is_unique_violation(ValueError("UNIQUE constraint failed"))


def test_transient_store_errors_are_told_apart_from_permanent_ones() -> None:
    from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure

    from shared.mongo import is_duplicate_write_error, is_transient, write_error_transient

    assert is_transient(OperationFailure("database is locked (5) (SQLITE_BUSY)", 1))
    assert is_transient(AutoReconnect("primary stepped down"))
    assert is_transient(OperationFailure("not primary", 10107))
    assert not is_transient(OperationFailure("UNIQUE constraint failed: index 'x'", 1))
    assert not is_transient(OperationFailure("bad query", 2))
    busy = {"code": 1, "errmsg": "database is locked"}
    duplicate = {"code": 11000, "errmsg": "E11000 duplicate key"}
    assert write_error_transient(busy)
    assert not write_error_transient(duplicate)
    assert is_duplicate_write_error(duplicate)
    assert is_duplicate_write_error({"code": 1, "errmsg": "UNIQUE constraint failed: index"})
    assert is_transient(BulkWriteError({"writeErrors": [busy, busy]}))
    assert not is_transient(BulkWriteError({"writeErrors": [busy, duplicate]}))


def test_settling_the_collector_freezes_startup_objects_and_raises_gen0() -> None:
    import gc

    from shared.runtime import GEN0_THRESHOLD, settle_garbage_collector

    before = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
