"""What other packages may use of tags (and what tags declare to them)."""

from __future__ import annotations

from siyu.customers.facade import MergeHandler, exempt_customer_reference, register_customer_reference
from siyu.db.base import table_of
from siyu.tags import schemas as tag_schemas
from siyu.tags.models import Tag, TagAssignment, TagEvent, TagGroup
from siyu.tags.ports import install as install_rule_engine
from siyu.tags.schemas import AssignmentBatch, AssignmentItem
from siyu.tags.service import (
    change_assignments,
    get_tag,
    merge_customer_tags,
    not_rule_tag,
    rule_tag_ids,
    set_rule_members,
    sweep_expired,
    tags_of_kind,
    unmerge_customer_tags,
)

ASSIGNMENTS = table_of(TagAssignment)
EVENTS = table_of(TagEvent)

# Merges: the survivor gets the union of both records' tags, every change written to the tag
# history (source `merge`), which the audience bitmaps replay; see merge_customer_tags for the
# rules. The merged record's tag history moves with it (events keep the number they were written
# with: the bit the log set or cleared then).
register_customer_reference(
    table_of(TagAssignment),
    handler=MergeHandler(merge=merge_customer_tags, unmerge=unmerge_customer_tags, locks=("tags",)),
)
register_customer_reference(table_of(TagEvent))
exempt_customer_reference(
    table_of(TagAssignment), "customer_number", "rewritten with customer_id by the assignments' handler"
)
exempt_customer_reference(
    table_of(TagEvent), "customer_number", "history: the bit the bitmap log set or cleared when written"
)

__all__ = [
    "ASSIGNMENTS",
    "EVENTS",
    "AssignmentBatch",
    "AssignmentItem",
    "Tag",
    "TagAssignment",
    "TagEvent",
    "TagGroup",
    "change_assignments",
    "get_tag",
    "install_rule_engine",
    "not_rule_tag",
    "rule_tag_ids",
    "set_rule_members",
    "sweep_expired",
    "tag_schemas",
    "tags_of_kind",
]
