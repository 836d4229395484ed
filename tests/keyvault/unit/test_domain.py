"""Pure rules: masked previews and input validation."""

from __future__ import annotations

import pytest

from keyvault.domain import (
    InvalidInputError,
    preview,
    validate_identifier,
    validate_name,
    validate_provider,
    validate_secret,
)

TAIL = "A1b2C3d4E5f6G7h8I9j0K1l2"


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("sk-ant-api03-" + TAIL + "WXYZ", "sk-ant-…WXYZ"),
        ("sk-proj-" + TAIL + "abcd", "sk-proj-…abcd"),
        ("sk-" + TAIL + "9876", "sk-…9876"),
        ("AIza" + TAIL + "zz_-", "AIza…zz_-"),
        ("plainkey" + TAIL + "LAST", "…LAST"),
    ],
)
def test_preview_shows_prefix_ellipsis_and_last_four(secret: str, expected: str) -> None:
    assert preview(secret) == expected


def test_preview_never_shows_more_than_prefix_and_last_four() -> None:
    secret = "sk-ant-" + "M" * 10 + "SECRETMIDDLE" + "Q" * 10 + "tail"
    shown = preview(secret)
    assert "SECRETMIDDLE" not in shown
    assert shown.replace("sk-ant-", "").replace("…", "") == "tail"


@pytest.mark.parametrize("provider", ["anthropic", "openai", "google"])
def test_known_providers_pass(provider: str) -> None:
    assert validate_provider(provider) == provider


@pytest.mark.parametrize("provider", ["", "Anthropic", "mistral", "openai "])
def test_unknown_provider_is_refused_naming_the_field(provider: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_provider(provider)
    assert err.value.field == "provider"
    assert err.value.status == 422


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\x00name", "tab\x07"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_name(name)
    assert err.value.field == "name"


def test_names_are_trimmed_and_may_be_64_chars() -> None:
    assert validate_name("  prod key ") == "prod key"
    assert validate_name("n" * 64) == "n" * 64


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "sk-ant-" + "a" * 12,  # 19 characters
        "sk-ant-" + "a" * 20 + " " + "b" * 4,
        "sk-ant-" + "a" * 20 + "\n",
        "sk-ant-" + "a" * 20 + "\t" + "b",
        "sk-ant-" + "a" * 20 + "\x00",
        "sk-ant-" + "a" * 20 + "\u00a0b",
        "sk-ant-" + "a" * 20 + "é" * 3,
        "x" * 513,
    ],
)
def test_bad_secrets_are_refused_without_quoting_them(secret: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_secret(secret)
    assert err.value.field == "api_key"
    if secret:
        assert secret not in str(err.value)
        assert secret[:12] not in str(err.value) or secret[:12] == "x" * 12


def test_secret_lengths_at_the_bounds_pass() -> None:
    assert validate_secret("k" * 20) == "k" * 20
    assert validate_secret("k" * 512) == "k" * 512


@pytest.mark.parametrize("value", ["", "../etc", "a/b", "a b", "x" * 129])
def test_bad_identifiers_are_refused(value: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_identifier("workspace_id", value)
