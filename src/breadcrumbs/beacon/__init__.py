"""The beacon mechanism: where beacons go (layout) and who sees whom (masks); the evicting KV cache that serves
it, shared by every policy, is `breadcrumbs.policies.cache`."""

from breadcrumbs.beacon.layout import StudentBatch, build_student_batch, expected_peak_entries
from breadcrumbs.beacon.masks import attention_mask_for

__all__ = ["StudentBatch", "attention_mask_for", "build_student_batch", "expected_peak_entries"]
