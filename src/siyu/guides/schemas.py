"""The API shapes of exclusive-guide bindings."""

from __future__ import annotations

import datetime as dt

from siyu.schemas import DbId, Strict


class BindingRead(Strict):
    customer_id: int
    guide_id: int
    store_id: int | None
    source: str
    started_at: dt.datetime
    protected_until: dt.datetime
    active: bool


class BindingCreate(Strict):
    guide_id: DbId
    store_id: DbId | None = None
