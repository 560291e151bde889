"""What tags need from the segment engine, declared here so that tags imports nothing above it.

Tags is a leaf: the catalogue, assignments and their history. Three things about tags need the
segment engine (`siyu.segments`), which itself reads tags: checking a rule tag's rule, counting
members from the bitmaps, and refreshing a rule tag. The engine plugs itself in when
`siyu.segments` is imported (`install`); the app, the CLI, the worker and the tests all load it.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from siyu.tags import schemas as s


class RuleEngine(Protocol):
    """The segment engine as tags sees it."""

    def check_rule(self, session: Session, *, tenant_id: int, rule: dict[str, Any]) -> dict[str, Any]:
        """The rule parsed, its references resolved and dumped back; raises DomainError if invalid."""
        ...

    def member_counts(self, session: Session, *, tenant_id: int) -> dict[int, int]:
        """Customers per tag now."""
        ...

    def refresh_rule_tag(self, session: Session, *, tenant_id: int, tag_id: int) -> s.RefreshResult:
        """Bring a rule tag's members to what its rule selects now."""
        ...


_installed: list[RuleEngine] = []


def install(engine: RuleEngine) -> None:
    """Plug the engine in (idempotent: the last one installed wins)."""
    _installed[:] = [engine]


def rule_engine() -> RuleEngine:
    """The installed engine; a clear error if nothing loaded `siyu.segments`."""
    if not _installed:
        raise RuntimeError("the segment engine is not loaded: import siyu.segments first")
    return _installed[0]
