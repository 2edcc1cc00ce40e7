"""The data set of bench/apply.py and bench/engines.py: tweet-like objects of 15 Zipf-distributed words each.

A helper of the benchmarks, imported as a top-level module: ``python bench/NAME.py`` puts bench/ first
on ``sys.path``, and the project itself is imported as installed (``pip install -e .``).
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
from pathlib import Path

from nom import Store

__all__ = ["PER_FILE", "generate"]

PER_FILE = 50


def generate(root: Path, objects: int) -> list[str]:
    """The data set: tweet-like objects, 15 Zipf-distributed words each."""
    rng = random.Random(1)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "an", "el", "is", "or", "um", "ba", "de"]
    vocab = list(dict.fromkeys("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
                               for _ in range(60_000)))[:20_000]
    cum = list(itertools.accumulate(1 / (r + 1) ** 1.1 for r in range(len(vocab))))
    store = Store(root, sync="none")
    next_id = 10**18
    for start in range(0, objects, 50_000):
        arrays = []
        for _ in range(min(50_000, objects - start) // PER_FILE):
            array = []
            for _ in range(PER_FILE):
                words = [vocab[bisect.bisect(cum, rng.random() * cum[-1])] for _ in range(15)]
                array.append({"id": next_id, "type": "data.tweet-bench",
                              "data": {"id": str(next_id), "text": " ".join(words).capitalize(), "lang": "en"}})
                next_id += 1
            arrays.append(array)
        store.commit([("bench", a) for a in arrays])
    folder = root / "bench"
    return sorted(str(folder / n) for n in os.listdir(folder) if n[:-5].isdigit())
