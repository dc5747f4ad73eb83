"""The student layout: the rule, written once, for where beacons go and which positions they take.

A sequence is a prompt (never compressed) followed by generated tokens. At ratio `c`, a beacon follows the c-th
token of every window *if another generated token follows it* (generation that stops right after a full window
never feeds that window's beacon). Every fed token, beacons included, takes the next position id, so positions in
training equal positions in incremental decoding. Visibility (see `masks.py`):

- a prompt token sees the earlier prompt tokens;
- a generated token sees the prompt, the beacons of earlier windows, and its own window up to itself;
- a beacon sees the prompt, the earlier beacons, its whole window and itself.

The completion token j is predicted by the logits of the token fed just before it, skipping beacons: the last
prompt token for j = 0, completion token j - 1 otherwise (a beacon's own logits are never used).

With an eviction **lag** `L` (`LaggedBeacons(c, L)`, config `beacon.lag`; L = 0 is the rule above), a closed window
stays raw for L more windows: a generated token or beacon of window w also sees the raw tokens of windows w - L .. w
(and every earlier beacon). Incremental decoding feeds the beacon of window w, then evicts window w - L, so it holds
the prompt, the beacons and at most L + 1 raw windows: a recent raw tail next to the compressed past.

The trained **sliding-window control** (`SlidingWindow(B)` in place of a ratio; config `beacon.windows`) is the same machinery without
beacons: a generated token sees the prompt and the `B` most recent generated tokens (itself included), which is
exactly what incremental decoding holds when it keeps the prompt plus `B` generated entries and evicts the oldest
(`WindowPolicy`). Positions are those of the teacher layout (nothing extra is fed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from breadcrumbs.errors import BreadcrumbsError

PROMPT_WINDOW = -1  # window id of prompt tokens
PAD_WINDOW = -2  # window id of padding


@dataclass(frozen=True)
class SlidingWindow:
    """Student view of the trained window control: the prompt plus the `size` most recent generated tokens."""

    size: int

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise BreadcrumbsError(f"sliding window size must be an integer >= 1, got {self.size!r}")


def check_lag(lag: int) -> int:
    """An eviction lag is a whole number of windows >= 0 (0: a window is evicted as soon as its beacon is fed)."""
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
        raise BreadcrumbsError(f"beacon eviction lag must be an integer >= 0 (windows kept raw), got {lag!r}")
    return lag


@dataclass(frozen=True)
class LaggedBeacons:
    """Student view of beacons at `ratio` whose windows stay raw for `lag` more windows before eviction."""

    ratio: int
    lag: int

    def __post_init__(self):
        check_ratio(self.ratio)
        if check_lag(self.lag) == 0:
            raise BreadcrumbsError("a lagged beacon view needs lag >= 1; lag 0 is the plain ratio")


# What one student row sees: a beacon ratio, lagged beacons, a sliding window, or None (the teacher: full causal
# attention). The one layout object that the batch builder (hence the mask), `expected_peak_entries` and the
# serving policy (`policies.student_policy`, `CachePolicy.view`) all take; `spelling.py` prints it.
StudentView = int | LaggedBeacons | SlidingWindow | None
STUDENT_LAYOUTS = ("beacon", "window")


def student_views(layout: str, sizes: Sequence[int], lag: int = 0) -> list[int | LaggedBeacons | SlidingWindow]:
    """The student views a training config asks for: `beacon` -> the ratios themselves (`LaggedBeacons` when `lag`
    > 0), `window` -> one `SlidingWindow(B)` per size (config keys `beacon.layout`, `beacon.ratios` or
    `beacon.windows`, `beacon.lag`)."""
    if layout not in STUDENT_LAYOUTS:
        raise BreadcrumbsError(f"student layout must be one of {', '.join(STUDENT_LAYOUTS)}, got {layout!r}")
    if layout == "window":
        if check_lag(lag):
            raise BreadcrumbsError("beacon.lag applies to the beacon layout only; set it to 0 for layout: window")
        return [SlidingWindow(size) for size in sizes]
    return [LaggedBeacons(size, lag) for size in sizes] if check_lag(lag) else list(sizes)


def _ratio_and_lag(view: StudentView) -> tuple[int | None, int]:
    """The beacon ratio (None: no beacons) and eviction lag of one row's view."""
    if view is None or isinstance(view, SlidingWindow):
        return None, 0
    if isinstance(view, LaggedBeacons):
        return view.ratio, view.lag
    return check_ratio(view), 0


@dataclass
class StudentBatch:
    """A padded batch in the student layout. Shapes: `[B, T]` for the sequence, `[B, N]` for completions."""

    input_ids: torch.LongTensor
    position_ids: torch.LongTensor
    window_ids: torch.LongTensor  # PROMPT_WINDOW, PAD_WINDOW, or the 0-based window of a generated token / beacon
    is_beacon: torch.BoolTensor
    predict_index: torch.LongTensor  # index into T of the logits that predict completion token j
    completion_ids: torch.LongTensor
    completion_mask: torch.BoolTensor
    sliding: torch.LongTensor  # [B]: generated tokens a generated token sees (SlidingWindow size); 0 = no limit
    lag: torch.LongTensor  # [B]: closed windows a token still sees raw (LaggedBeacons lag); 0 = its own window only

    @property
    def valid(self) -> torch.BoolTensor:
        """True where the sequence holds a real token (not padding)."""
        return self.window_ids != PAD_WINDOW

    def to(self, device: torch.device | str) -> StudentBatch:
        """The same batch on `device`."""
        return StudentBatch(**{name: getattr(self, name).to(device) for name in self.__dataclass_fields__})


def check_ratio(ratio: int) -> int:
    """A compression ratio must be a whole number ≥ 1 (one beacon per `ratio` generated tokens)."""
    if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
        raise BreadcrumbsError(f"compression ratio must be an integer >= 1, got {ratio!r}")
    return ratio


def _row_layout(
    prompt: Sequence[int], completion: Sequence[int], ratio: int | None, beacon_id: int
) -> tuple[list[int], list[int], list[bool], list[int]]:
    """Tokens, window ids, beacon flags and predict indices of one unpadded row."""
    tokens = list(prompt)
    windows = [PROMPT_WINDOW] * len(prompt)
    beacons = [False] * len(prompt)
    predict = []
    for j, token in enumerate(completion):
        predict.append(len(tokens) - 1 - (1 if beacons and beacons[-1] else 0))
        window = j // ratio if ratio else 0
        tokens.append(token)
        windows.append(window)
        beacons.append(False)
        closes_window = ratio is not None and (j + 1) % ratio == 0
        if closes_window and j + 1 < len(completion):
            tokens.append(beacon_id)
            windows.append(window)
            beacons.append(True)
    return tokens, windows, beacons, predict


def build_student_batch(
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    ratio: StudentView | Sequence[StudentView],
    beacon_id: int,
    pad_id: int,
    padding_side: str = "left",
) -> StudentBatch:
    """Interleave beacons into (prompt, completion) pairs and pad them into one batch.

    `ratio` is one view for the whole batch or one per row (mixed-ratio training): an int ratio (beacons),
    `LaggedBeacons` (beacons with a raw tail), a `SlidingWindow` (the trained window control: no beacons, a
    sliding mask), or None for the teacher layout (no beacon: ordinary causal attention over prompt + completion).
    """
    if len(prompt_ids) != len(completion_ids):
        raise BreadcrumbsError(f"{len(prompt_ids)} prompts but {len(completion_ids)} completions")
    if padding_side not in ("left", "right"):
        raise BreadcrumbsError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    ratios = list(ratio) if isinstance(ratio, Sequence) else [ratio] * len(prompt_ids)
    if len(ratios) != len(prompt_ids):
        raise BreadcrumbsError(f"{len(ratios)} ratios for a batch of {len(prompt_ids)}")
    beacon_params = [_ratio_and_lag(view) for view in ratios]
    rows = []
    for prompt, completion, (beacon_ratio, _) in zip(prompt_ids, completion_ids, beacon_params):
        if not prompt:
            raise BreadcrumbsError("every prompt needs at least one token (e.g. BOS)")
        rows.append(_row_layout(prompt, completion, beacon_ratio, beacon_id))
    sliding = torch.tensor([view.size if isinstance(view, SlidingWindow) else 0 for view in ratios], dtype=torch.long)
    lag = torch.tensor([row_lag for _, row_lag in beacon_params], dtype=torch.long)
    width = max(len(tokens) for tokens, *_ in rows)
    n_max = max((len(c) for c in completion_ids), default=0)
    batch = len(rows)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    window_ids = torch.full((batch, width), PAD_WINDOW, dtype=torch.long)
    is_beacon = torch.zeros((batch, width), dtype=torch.bool)
    position_ids = torch.zeros((batch, width), dtype=torch.long)
    predict_index = torch.zeros((batch, n_max), dtype=torch.long)
    completions = torch.full((batch, n_max), pad_id, dtype=torch.long)
    completion_mask = torch.zeros((batch, n_max), dtype=torch.bool)
    for row, ((tokens, windows, beacons, predict), completion) in enumerate(zip(rows, completion_ids)):
        offset = width - len(tokens) if padding_side == "left" else 0
        span = slice(offset, offset + len(tokens))
        input_ids[row, span] = torch.tensor(tokens)
        window_ids[row, span] = torch.tensor(windows)
        is_beacon[row, span] = torch.tensor(beacons)
        position_ids[row, span] = torch.arange(len(tokens))
        n = len(completion)
        predict_index[row, :n] = torch.tensor(predict, dtype=torch.long) + offset
        completions[row, :n] = torch.tensor(list(completion), dtype=torch.long)
        completion_mask[row, :n] = True
    return StudentBatch(
        input_ids, position_ids, window_ids, is_beacon, predict_index, completions, completion_mask, sliding, lag
    )


def beacons_fed(tokens_fed: int, ratio: int) -> int:
    """How many beacons incremental decoding feeds after feeding `tokens_fed` generated tokens."""
    return max(tokens_fed - 1, 0) // ratio


def layout_width(prompt_len: int, completion_len: int, view: StudentView) -> int:
    """Tokens of one unpadded row in the layout of `view`: prompt, completion and the beacons interleaved."""
    ratio = _ratio_and_lag(view)[0]
    return prompt_len + completion_len + (beacons_fed(completion_len, ratio) if ratio else 0)


def expected_peak_entries(prompt_len: int, tokens_fed: int, view: StudentView) -> int:
    """The KV entries a sequence holds at its peak, by the layout rule (used to check the measured figure).

    With beacons: the prompt, one beacon per closed window, and the raw tokens, which reach `(lag + 1) * ratio` when
    a beacon is fed (its window plus `lag` earlier ones; the oldest is evicted right after) and are all the fed
    tokens before that; with a sliding window: the prompt and at most `size` fed tokens; without (view None): the
    prompt and every fed token.
    """
    if view is None:
        return prompt_len + tokens_fed
    if isinstance(view, SlidingWindow):
        return prompt_len + min(tokens_fed, view.size)
    ratio, lag = _ratio_and_lag(view)
    return prompt_len + beacons_fed(tokens_fed, ratio) + min(tokens_fed, (lag + 1) * ratio)
