"""Agreement of a method's completion with the full cache's completion of the same prompt, on token ids.

Three per-row measures, the EOS token counted like any other (a completion that stops where the other goes on
diverges there):
- exact match: the two id sequences are equal;
- first divergence: the 0-based generated position of the first token that differs, or the shorter length when one
  is a prefix of the other; None when they are equal;
- token agreement: the number of positions i < min(len(a), len(b)) where a[i] == b[i], divided by max(len(a),
  len(b)) (1.0 for two empty completions). It is 1.0 exactly when the two match, and a completion cut short of the
  reference's scores below 1.
"""

from __future__ import annotations

from collections.abc import Sequence

REFERENCE = "full"  # the method every other is compared with


def first_divergence(tokens: Sequence[int], reference: Sequence[int]) -> int | None:
    """The first position where `tokens` and `reference` differ (the shorter length for a strict prefix); None
    when equal."""
    for position, (token, expected) in enumerate(zip(tokens, reference)):
        if token != expected:
            return position
    return None if len(tokens) == len(reference) else min(len(tokens), len(reference))


def token_agreement(tokens: Sequence[int], reference: Sequence[int]) -> float:
    """Share of positions that agree, over the longer of the two lengths (see the module docstring)."""
    longest = max(len(tokens), len(reference))
    if longest == 0:
        return 1.0
    return sum(token == expected for token, expected in zip(tokens, reference)) / longest


def agreement(tokens: Sequence[int], reference: Sequence[int]) -> dict:
    """The record fields of one row: exact_match, first_divergence, token_agreement."""
    divergence = first_divergence(tokens, reference)
    return {
        "exact_match": divergence is None,
        "first_divergence": divergence,
        "token_agreement": token_agreement(tokens, reference),
    }
