"""Duplicate detection: exact copies by content hash, near copies by MinHash.

Pure functions over texts. Near-duplicates (syndicated copies of a wire story) are found
with MinHash signatures of word 5-shingles and locality-sensitive hashing in bands, then
confirmed by the estimated Jaccard similarity. It does not decide what to keep: the
caller applies the policy.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

_WORDS = re.compile(r"\w+")
_PRIME = (1 << 31) - 1  # products of two 31-bit numbers fit in uint64
NUM_PERM = 64
BANDS = 16  # 16 bands x 4 rows: pairs above ~0.5 Jaccard almost always share a band


def content_hash(text: str) -> str:
    """Stable hash of a text (sha256 hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shingles(text: str, size: int = 5) -> set[int]:
    """Hashed word ``size``-shingles of ``text`` (lower-cased), as 31-bit integers."""
    words = [w.lower() for w in _WORDS.findall(text)]
    if len(words) < size:
        words_list = [" ".join(words)] if words else []
    else:
        words_list = [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]
    return {int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little") % _PRIME for s in words_list}


def minhash(features: set[int], num_perm: int = NUM_PERM, seed: int = 1) -> np.ndarray:
    """MinHash signature of a set of 31-bit integers (universal hashing mod a Mersenne prime)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, _PRIME, size=num_perm, dtype=np.uint64)
    if not features:
        return np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    x = np.fromiter(features, dtype=np.uint64)
    values = (np.outer(a, x) + b[:, None]) % np.uint64(_PRIME)
    return values.min(axis=1)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal MinHash slots: an unbiased estimate of Jaccard similarity."""
    return float(np.mean(sig_a == sig_b))


def near_duplicate_pairs(texts: Sequence[str], threshold: float = 0.8) -> list[tuple[int, int, float]]:
    """Index pairs ``(i, j, similarity)`` with ``i < j`` whose estimated Jaccard is at least ``threshold``."""
    signatures = [minhash(shingles(t)) for t in texts]
    rows = NUM_PERM // BANDS
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for i, sig in enumerate(signatures):
        for band in range(BANDS):
            buckets[(band, sig[band * rows:(band + 1) * rows].tobytes())].append(i)
    candidates = {(a, b) for members in buckets.values() for k, a in enumerate(members) for b in members[k + 1:]}
    pairs = []
    for i, j in sorted(candidates):
        sim = estimated_jaccard(signatures[i], signatures[j])
        if sim >= threshold:
            pairs.append((i, j, sim))
    return pairs
