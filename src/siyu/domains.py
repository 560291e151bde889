"""Loads every domain, so that what domains declare to each other is in place before work starts:
merge handlers, the segment engine behind tags, event policies and subscribers, job kinds and
schedules, the bearer-token resolver. The server, the CLI, `siyu worker` and the tests call `load()`.

A new domain adds its modules here (see docs/architecture.md, "Adding a domain").
"""

from __future__ import annotations

import importlib

MODULES = (
    "siyu.events.relay",
    "siyu.auth.subscribers",
    "siyu.auth.views",
    "siyu.customers.facade",
    "siyu.guides.facade",
    "siyu.orders.facade",
    "siyu.tags.facade",
    "siyu.segments",
    "siyu.segments.jobs",
    "siyu.loyalty.facade",
    "siyu.loyalty.jobs",
    "siyu.loyalty.subscribers",
    "siyu.loyalty.topups",
    "siyu.payments.jobs",
    "siyu.segments.subscribers",
    "siyu.wecom.facade",
    "siyu.wecom.jobs",
    "siyu.wecom.subscribers",
    # the HTTP surfaces that register importers (`siyu import …` finds them through the registry)
    "siyu.org.views",
    "siyu.customers.views",
    "siyu.products.views",
    "siyu.orders.views",
    "siyu.tags.views",
    # imports from the console run as jobs (after the importers above are registered)
    "siyu.imports.service",
)


def load() -> None:
    """Import every module that registers something (idempotent)."""
    for name in MODULES:
        importlib.import_module(name)
