"""Where raw files land (``FINSIG_LANDING_DIR``, with ``market/`` and ``news/`` below it)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from finsig_assets import settings


class LandingZone(dg.ConfigurableResource):
    root: str = Field(default_factory=lambda: str(settings.landing_dir()), description="The landing directory.")

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def market_dir(self) -> Path:
        return Path(self.root) / "market"

    @property
    def news_dir(self) -> Path:
        return Path(self.root) / "news"
