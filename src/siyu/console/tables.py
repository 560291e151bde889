"""Lists in the console: sorting by a column, numbered pages with the total count, and links that keep
the rest of the page's query (filters) when one part changes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request

from siyu.core.inputs import ascii_digits

PAGE_SIZES = (20, 50, 100)


@dataclass(frozen=True)
class Sort:
    """A list's order: a column key and the direction (`-key` in the URL is descending)."""

    key: str
    desc: bool

    @property
    def param(self) -> str:
        """The URL form of this order."""
        return f"-{self.key}" if self.desc else self.key

    def toggled(self, key: str, default_desc: bool) -> str:
        """The URL form of a click on column `key`: reverse this order, or start a new one."""
        if key == self.key:
            return key if self.desc else f"-{key}"
        return f"-{key}" if default_desc else key


def parse_sort(raw: str | None, allowed: set[str], default: str) -> Sort:
    """A sort parameter (`spend`, `-spend`); anything not allowed is the default order."""
    for value in ((raw or "").strip(), default):
        desc = value.startswith("-")
        key = value[1:] if desc else value
        if key in allowed:
            return Sort(key, desc)
    raise ValueError(f"default sort {default!r} is not among {sorted(allowed)}")


@dataclass(frozen=True)
class Paging:
    """Which page of a list, of how many rows in all."""

    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages (at least one)."""
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.size

    @property
    def first(self) -> int:
        """Number of the first row shown (0 when there are none)."""
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last(self) -> int:
        """Number of the last row shown."""
        return min(self.total, self.offset + self.size)

    def window(self) -> list[int | None]:
        """Page numbers to offer: the first, the last and two around this one (None is a gap)."""
        wanted = {1, self.pages, *range(self.page - 2, self.page + 3)}
        shown = sorted(p for p in wanted if 1 <= p <= self.pages)
        out: list[int | None] = []
        for p in shown:
            if out and p - (out[-1] or 0) > 1:
                out.append(None)
            out.append(p)
        return out


def paging(raw_page: str | None, raw_size: str | None, total: int) -> Paging:
    """The page asked for, brought into range (a page past the end is the last page)."""
    size = (
        int(raw_size)
        if raw_size and ascii_digits(raw_size, max_len=4) and int(raw_size) in PAGE_SIZES
        else PAGE_SIZES[0]
    )
    page = int(raw_page) if raw_page and ascii_digits(raw_page, max_len=8) else 1
    pages = max(1, math.ceil(total / size))
    return Paging(page=min(max(page, 1), pages), size=size, total=total)


def url_with(request: Request, path: str | None = None, **changes: object) -> str:
    """The current page's address with some query parameters changed (None or "" removes one);
    changing anything but the page starts again at the first page."""
    params = {k: v for k, v in request.query_params.multi_items()}
    if "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return (path or request.url.path) + (f"?{query}" if query else "")
