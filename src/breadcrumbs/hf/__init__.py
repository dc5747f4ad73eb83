"""Beacons inside transformers' `model.generate`.

    >>> from breadcrumbs.hf import CUSTOM_GENERATE
    >>> model.generate(**inputs, custom_generate=CUSTOM_GENERATE, trust_remote_code=True, beacon_ratio=8)

`CUSTOM_GENERATE` is the path of a directory holding `custom_generate/generate.py`, the form transformers
documents for custom generation methods. In transformers 5.24 a directory's `generate` receives every argument of
`model.generate` (the streamer included), whereas a callable `custom_generate` is never handed the streamer, so the
directory is the form that serves everything; transformers runs any directory's `generate.py` only with
`trust_remote_code=True`, local ones included. That `generate` resolves the beacon settings and calls
`model.generate` again with the beacon decoding loop as a callable, so transformers prepares the inputs, the
generation config, the logits processors and the stopping criteria as it does for its own loops.
"""

from pathlib import Path

from breadcrumbs.hf.decode import beacon_policy, decode_with_beacons, generate

CUSTOM_GENERATE = str(Path(__file__).resolve().parent)

__all__ = ["CUSTOM_GENERATE", "beacon_policy", "decode_with_beacons", "generate"]
