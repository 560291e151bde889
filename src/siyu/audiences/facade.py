"""What other domains may use of audiences: saved packages and their frozen snapshots (campaigns
will send to a snapshot). Who is in a rule now is asked of `siyu.segments`, never of audiences."""

from __future__ import annotations

from siyu.audiences.models import Audience, AudienceSnapshot
from siyu.audiences.service import get_audience, get_snapshot, latest_snapshot, list_audiences

__all__ = [
    "Audience",
    "AudienceSnapshot",
    "get_audience",
    "get_snapshot",
    "latest_snapshot",
    "list_audiences",
]
