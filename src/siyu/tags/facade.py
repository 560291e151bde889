"""What other packages may use of tags (and what tags declare to them)."""

from __future__ import annotations

from siyu.customers.facade import MergeHandler, exempt_customer_reference, register_customer_reference
from siyu.db.base import table_of
from siyu.tags.models import TagAssignment, TagEvent
from siyu.tags.service import merge_customer_tags, unmerge_customer_tags

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
