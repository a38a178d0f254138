"""Chinese text similarity for repeat detection (R8.5): Dice over character bigrams.

Word segmentation is not needed to tell "the same complaint again": two texts
about the same street light share most of their character pairs, whatever the
wording around them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def _bigrams(text: str) -> Counter[str]:
    folded = _NOISE.sub("", unicodedata.normalize("NFKC", text).lower())
    if len(folded) < 2:
        return Counter([folded]) if folded else Counter()
    return Counter(folded[i:i + 2] for i in range(len(folded) - 1))


def similarity(a: str, b: str) -> float:
    """0.0 (nothing shared) to 1.0 (same characters in the same pairs)."""
    x, y = _bigrams(a), _bigrams(b)
    total = sum(x.values()) + sum(y.values())
    if not total:
        return 0.0
    return 2 * sum((x & y).values()) / total
