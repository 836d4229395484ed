"""The model catalog (providers, models, what each is best for) and the price table.

The catalog is product data shared by workspace, agent-runner and gateway. Prices are
configuration: `load_prices` reads an optional JSON file over the shipped defaults; a
model without a configured price has cost `None`, never an invented one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shared.contracts.base import ProviderId


@dataclass(frozen=True)
class CatalogModel:
    id: str
    provider: ProviderId
    best_for: str


@dataclass(frozen=True)
class CatalogProvider:
    id: ProviderId
    name: str
    models: tuple[CatalogModel, ...]


def _models(provider: ProviderId, *rows: tuple[str, str]) -> tuple[CatalogModel, ...]:
    return tuple(CatalogModel(id=m, provider=provider, best_for=b) for m, b in rows)


CATALOG: tuple[CatalogProvider, ...] = (
    CatalogProvider(
        "anthropic",
        "Anthropic",
        _models(
            "anthropic",
            ("claude-opus-4-6", "Most capable, complex multi-step reasoning, 1M context"),
            ("claude-sonnet-4-6", "Fast, high-quality, 1M context"),
            ("claude-opus-4-5", "Advanced reasoning and analysis"),
            ("claude-sonnet-4-5", "Balanced performance and speed"),
            ("claude-opus-4", "Strong reasoning, previous generation"),
            ("claude-sonnet-4", "Fast, reliable general-purpose tasks"),
            ("claude-haiku-4-5", "Lightweight tasks, high throughput, lowest cost"),
        ),
    ),
    CatalogProvider(
        "openai",
        "OpenAI",
        _models(
            "openai",
            ("gpt-5.4", "Most capable OpenAI model, 1M context"),
            ("gpt-5.3", "Agentic coding (Codex)"),
            ("gpt-5.2", "Advanced reasoning"),
            ("gpt-5", "Strong general-purpose performance"),
            ("gpt-5-mini", "Cost-effective for simpler tasks"),
            ("o4-mini", "Reasoning-optimized, compact"),
        ),
    ),
    CatalogProvider(
        "google",
        "Google Gemini",
        _models(
            "google",
            ("gemini-2.5-pro", "Most capable Gemini model"),
            ("gemini-2.5-flash", "Fast responses, good balance"),
            ("gemini-2.0-flash", "Lightweight, high-speed tasks"),
        ),
    ),
)

_BY_MODEL: dict[str, CatalogModel] = {m.id: m for p in CATALOG for m in p.models}


def find_model(model_id: str) -> CatalogModel | None:
    """The catalog entry of a model id, or None when the catalog has no such model."""
    return _BY_MODEL.get(model_id)


def models_for_providers(providers: set[str]) -> list[CatalogModel]:
    """Catalog models of the given providers, in catalog order."""
    return [m for p in CATALOG if p.id in providers for m in p.models]


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


DEFAULT_PRICES_FILE = Path(__file__).with_name("prices.json")


def load_prices(path: Path | None = None) -> dict[str, Price]:
    """The price table: the shipped defaults, or the JSON file given (model -> [in, out])."""
    raw = json.loads((path or DEFAULT_PRICES_FILE).read_text(encoding="utf-8"))
    table = raw.get("models", raw)
    table = {k: v for k, v in table.items() if not k.startswith("_")}
    return {
        model: Price(float(v["input_per_mtok"]), float(v["output_per_mtok"]))
        for model, v in table.items()
    }


def cost_usd(
    prices: dict[str, Price], model: str, input_tokens: int, output_tokens: int
) -> float | None:
    """Cost of one call, or None when the model has no configured price."""
    price = prices.get(model)
    if price is None:
        return None
    total = (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6
    return round(total, 9)
