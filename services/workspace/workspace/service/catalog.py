"""The model catalog port over the project's catalog (shared.catalog), in its seed order."""

from __future__ import annotations

from collections.abc import Sequence

from shared.catalog import CATALOG, CatalogModel, find_model, models_for_providers


class SharedCatalog:
    """The project's model catalog (shared.catalog), in its seed order."""

    providers = CATALOG

    def models_for_providers(self, providers: set[str]) -> Sequence[CatalogModel]:
        return models_for_providers(providers)

    def provider_of(self, model: str) -> str | None:
        entry = find_model(model)
        return entry.provider if entry else None
