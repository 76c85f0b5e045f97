"""Pure functions for ranking maths: score normalisation, fusion, diversity.

Rankings are ``{item: score}`` mappings where higher is better. Nothing here knows
about chunks, models or indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


def minmax(scores: Mapping[K, float]) -> dict[K, float]:
    """Scale scores to [0, 1] (all equal scores map to 1.0)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo <= 1e-12:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}


def ranks(scores: Mapping[K, float]) -> dict[K, int]:
    """1-based ranks by descending score; ties broken by first appearance."""
    order = sorted(scores, key=lambda k: -scores[k])
    return {k: i + 1 for i, k in enumerate(order)}


def reciprocal_rank_fusion(rankings: Sequence[Mapping[K, float]], k: int = 60,
                           weights: Sequence[float] | None = None) -> dict[K, float]:
    """RRF: sum over rankings of ``w / (k + rank)``; items missing from a ranking get nothing from it."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[K, float] = {}
    for w, ranking in zip(weights, rankings):
        for item, r in ranks(ranking).items():
            fused[item] = fused.get(item, 0.0) + w / (k + r)
    return fused


def weighted_fusion(rankings: Sequence[Mapping[K, float]], weights: Sequence[float]) -> dict[K, float]:
    """Convex combination of min-max normalised scores; a missing item scores 0 in that ranking."""
    fused: dict[K, float] = {}
    for w, ranking in zip(weights, rankings):
        for item, s in minmax(ranking).items():
            fused[item] = fused.get(item, 0.0) + w * s
    return fused


def max_fusion(rankings: Sequence[Mapping[K, float]], weights: Sequence[float]) -> dict[K, float]:
    """Best weighted normalised score of each item across rankings."""
    fused: dict[K, float] = {}
    for w, ranking in zip(weights, rankings):
        for item, s in minmax(ranking).items():
            fused[item] = max(fused.get(item, 0.0), w * s)
    return fused


def fuse(method: str, rankings: Sequence[Mapping[K, float]], dense_weight: float, rrf_k: int = 60) -> dict[K, float]:
    """Fuse [dense, lexical] rankings with the named method ("weighted", "rrf" or "max")."""
    weights = [dense_weight, 1.0 - dense_weight]
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, rrf_k, [2 * w for w in weights])
    if method == "max":
        return max_fusion(rankings, weights)
    if method == "weighted":
        return weighted_fusion(rankings, weights)
    raise ValueError(f"unknown fusion {method!r}; choose weighted, rrf or max")


def top_k(scores: Mapping[K, float], k: int) -> list[K]:
    """The ``k`` best items, best first (stable for ties)."""
    return sorted(scores, key=lambda item: -scores[item])[:k]


def dedup_select(order: Sequence[int], vectors: np.ndarray, k: int, threshold: float,
                 same: Callable[[int, int], bool] | None = None) -> list[int]:
    """Walk ``order`` and keep items whose cosine to every kept item is below ``threshold``.

    ``vectors`` rows are L2-normalised and indexed by the items. ``same`` may mark further
    pairs as duplicates (e.g. identical text).
    """
    kept: list[int] = []
    for item in order:
        if len(kept) >= k:
            break
        if kept:
            sims = vectors[kept] @ vectors[item]
            if float(np.max(sims)) >= threshold:
                continue
            if same is not None and any(same(item, other) for other in kept):
                continue
        kept.append(item)
    return kept


def mmr_select(relevance: Mapping[int, float], vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: ``lam * relevance - (1 - lam) * max similarity to the chosen``.

    ``relevance`` should be normalised to [0, 1]; ``vectors`` rows are L2-normalised.
    """
    remaining = list(relevance)
    chosen: list[int] = []
    while remaining and len(chosen) < k:
        if chosen:
            sims = vectors[remaining] @ vectors[chosen].T
            penalty = sims.max(axis=1)
        else:
            penalty = np.zeros(len(remaining))
        values = [lam * relevance[item] - (1 - lam) * float(p) for item, p in zip(remaining, penalty)]
        best = int(np.argmax(values))
        chosen.append(remaining.pop(best))
    return chosen
