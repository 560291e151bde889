"""What other domains may use of reports: a store's figures for a day and the brand roll-up (guide
targets and analytics will read them; nothing does yet)."""

from __future__ import annotations

from siyu.reports.store_daily import guide_ranking, rollup, store_daily

__all__ = ["guide_ranking", "rollup", "store_daily"]
