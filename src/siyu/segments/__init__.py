"""Segments: the typed rule language, its compiler, the bitmap index and engine, rule-tag refresh.

Everything that asks "which customers?" asks here (audiences, and next campaigns, coupons and
analytics). Importing the package plugs the engine into tags (`siyu.tags.ports`).
"""

from siyu.segments.service import Engine as _Engine
from siyu.tags import facade as _tags

_tags.install_rule_engine(_Engine())
