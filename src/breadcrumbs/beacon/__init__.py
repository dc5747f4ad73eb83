"""The beacon mechanism: where beacons go (layout), who sees whom (masks), and the evicting KV cache."""

from breadcrumbs.beacon.cache import SlotCache
from breadcrumbs.beacon.layout import StudentBatch, build_student_batch, expected_peak_entries
from breadcrumbs.beacon.masks import attention_mask_for

__all__ = ["SlotCache", "StudentBatch", "attention_mask_for", "build_student_batch", "expected_peak_entries"]
