"""The audience rule language: a typed JSON tree, validated before it is compiled.

A rule is a tree of nodes, each an object with a `type`:

- combinators: `all` / `any` (`of`: nodes), `not` (`rule`: one node);
- tags: `tags` with `match` has | any | all | none over tag ids;
- attributes: `gender`, `age`, `city`, `birthday_month`, `member_tier`, `home_store`, `has_guide`;
- reachability and consent: `reachable` (wecom | phone | official_account), `consent` (a purpose);
- behaviour in a time window: `orders` (count | gmv_fen | aov_fen compared with a value, optionally
  only some channels, stores, SKUs or categories), `last_purchase` (days since the newest paid order),
  `interactions` (timeline events of some kinds, counted).

Every model forbids unknown fields, so a misspelt key is an error, never an ignored condition that
would widen the audience. Depth and size are capped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from siyu.core.errors import DomainError
from siyu.customers.facade import PURPOSE
from siyu.schemas import Day, DbId

MAX_DEPTH = 8
MAX_NODES = 200
OPS = Literal[">=", ">", "<=", "<", "=", "!="]
GENDER = Literal["male", "female", "unknown"]
CHANNEL = Annotated[
    str,
    Field(
        pattern=r"^(pos|mini_program|guide_share|livestream|community_group|official_account|platform:[a-z0-9_]{1,30})$"
    ),
]


class Node(BaseModel):
    """Base of every rule node: unknown fields and loose types (a boolean for a number) are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Window(Node):
    """A time window: the last N days up to now, or whole local days from … to (inclusive)."""

    last_days: int | None = Field(default=None, ge=1, le=3660)
    from_date: Day | None = Field(default=None, alias="from")
    to_date: Day | None = Field(default=None, alias="to")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        if self.last_days is not None:
            if self.from_date is not None or self.to_date is not None:
                raise ValueError("give either last_days or from/to, not both / 只能二选一")
            return self
        if self.from_date is None or self.to_date is None:
            raise ValueError(
                "a window needs last_days, or both from and to / 时间窗需要 last_days 或起止日期"
            )
        if self.to_date < self.from_date:
            raise ValueError("the window ends before it starts / 时间窗的结束早于开始")
        return self


class All(Node):
    type: Literal["all"]
    of: list[RuleNode] = Field(min_length=1, max_length=50)


class AnyOf(Node):
    type: Literal["any"]
    of: list[RuleNode] = Field(min_length=1, max_length=50)


class Not(Node):
    type: Literal["not"]
    rule: RuleNode


class Tags(Node):
    """Tag membership; `has` takes exactly one tag."""

    type: Literal["tags"]
    match: Literal["has", "any", "all", "none"]
    tag_ids: list[DbId] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _has_one(self) -> Tags:
        if self.match == "has" and len(self.tag_ids) != 1:
            raise ValueError("match 'has' takes exactly one tag / has 只能指定一个标签")
        return self


class Gender(Node):
    type: Literal["gender"]
    values: list[GENDER] = Field(min_length=1, max_length=3)


class Age(Node):
    """Age in whole years today (tenant's time zone), inclusive bounds; unknown birthdays never match."""

    type: Literal["age"]
    min: int = Field(default=0, ge=0, le=130)
    max: int = Field(default=130, ge=0, le=130)

    @model_validator(mode="after")
    def _ordered(self) -> Age:
        if self.max < self.min:
            raise ValueError("age max is below min / 年龄上限小于下限")
        return self


class City(Node):
    type: Literal["city"]
    values: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(min_length=1, max_length=500)


class BirthdayMonth(Node):
    type: Literal["birthday_month"]
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1, max_length=12)


class MemberTier(Node):
    type: Literal["member_tier"]
    values: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(min_length=1, max_length=50)


class HomeStore(Node):
    type: Literal["home_store"]
    store_codes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=5000
    )


class HasGuide(Node):
    """Whether the customer has a guide (their exclusive guide when bound)."""

    type: Literal["has_guide"]
    value: bool


class Reachable(Node):
    type: Literal["reachable"]
    via: Literal["wecom", "phone", "official_account"]


class Consent(Node):
    """Consent in force (the latest record for the purpose grants it)."""

    type: Literal["consent"]
    purpose: PURPOSE


class Orders(Node):
    """Paid orders in a window: count, net GMV (paid − refunded) or average order value vs a value."""

    type: Literal["orders"]
    window: Window
    measure: Literal["count", "gmv_fen", "aov_fen"]
    op: OPS
    value: int = Field(ge=0, le=10**12)
    channels: list[CHANNEL] | None = Field(default=None, min_length=1, max_length=20)
    store_codes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=5000
    )
    skus: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(
        default=None, min_length=1, max_length=100
    )


class LastPurchase(Node):
    """Whole days since the newest paid order; customers who never bought do not match."""

    type: Literal["last_purchase"]
    op: OPS
    days: int = Field(ge=0, le=36600)


class Interactions(Node):
    """Timeline events of the given kinds in a window, counted."""

    type: Literal["interactions"]
    window: Window
    kinds: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]] = Field(min_length=1, max_length=20)
    op: OPS
    value: int = Field(ge=0, le=10**9)


RuleNode = Annotated[
    All
    | AnyOf
    | Not
    | Tags
    | Gender
    | Age
    | City
    | BirthdayMonth
    | MemberTier
    | HomeStore
    | HasGuide
    | Reachable
    | Consent
    | Orders
    | LastPurchase
    | Interactions,
    Field(discriminator="type"),
]
for _model in (All, AnyOf, Not):
    _model.model_rebuild()

_ADAPTER: TypeAdapter[Any] = TypeAdapter(RuleNode)
LEAF_TYPES = (
    "tags",
    "gender",
    "age",
    "city",
    "birthday_month",
    "member_tier",
    "home_store",
    "has_guide",
    "reachable",
    "consent",
    "orders",
    "last_purchase",
    "interactions",
)


def children(node: Any) -> list[Any]:
    """The direct sub-rules of a node (empty for a leaf)."""
    if isinstance(node, All | AnyOf):
        return list(node.of)
    if isinstance(node, Not):
        return [node.rule]
    return []


def _measure(node: Any, depth: int = 1) -> tuple[int, int]:
    sizes = [_measure(child, depth + 1) for child in children(node)]
    return max([depth, *(d for d, _ in sizes)]), 1 + sum(n for _, n in sizes)


def _invalid(reason_zh: str, reason_en: str, details: list[dict[str, Any]] | None = None) -> DomainError:
    return DomainError("invalid_rule", reason_zh=reason_zh, reason_en=reason_en, details=details or [])


def _raw_depth(data: Any) -> int:
    """Nesting depth of raw JSON, measured without recursion (before the validator recurses)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(item, list):
            stack.extend((v, depth) for v in item)
    return deepest


def parse_rule(data: Any) -> Any:
    """Validate a rule tree; raise `invalid_rule` (422) with every problem and where it is."""
    if isinstance(data, BaseModel):
        data = data.model_dump(by_alias=True, exclude_none=True)
    # A combinator and its child are two levels of objects; windows add one more.
    if _raw_depth(data) > 2 * MAX_DEPTH + 2:
        raise _invalid(f"规则嵌套超过 {MAX_DEPTH} 层", f"the rule nests deeper than {MAX_DEPTH} levels")
    try:
        node = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        details = [
            {"path": "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False)[:20]
        ]
        raise _invalid("规则无效", "the rule is invalid", details) from None
    depth, nodes = _measure(node)
    if depth > MAX_DEPTH:
        raise _invalid(f"规则嵌套超过 {MAX_DEPTH} 层", f"the rule nests deeper than {MAX_DEPTH} levels")
    if nodes > MAX_NODES:
        raise _invalid(f"规则超过 {MAX_NODES} 个条件", f"the rule has more than {MAX_NODES} conditions")
    return node


def dump_rule(node: Any) -> dict[str, Any]:
    """The canonical JSON of a parsed rule (what is stored and what keys caches)."""
    result: dict[str, Any] = node.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result


def tag_ids(node: Any) -> list[int]:
    """Every tag a rule names, once each, in order."""
    return sorted({t for leaf in leaves(node) if isinstance(leaf, Tags) for t in leaf.tag_ids})


def leaves(node: Any) -> list[Any]:
    """Every leaf condition of a tree, depth first."""
    found = children(node)
    if not found:
        return [node]
    return [leaf for child in found for leaf in leaves(child)]
