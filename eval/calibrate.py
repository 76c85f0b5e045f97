"""The abstention trade-off: how a confidence threshold trades missed abstentions for false ones.

What it does: pure functions over per-question confidences. At threshold t a question is
abstained on when its confidence < t; for each t it gives abstain_recall (unanswerable
questions abstained on), false_abstention_rate (answerable questions abstained on) and
abstain_precision (via :func:`eval.metrics.abstention_scores`), and picks the threshold
maximising abstain_recall - false_abstention_rate with false_abstention_rate <= a ceiling.
This is how ``rag.Config.abstain_threshold`` is calibrated; nothing here changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.metrics import abstention_scores

DEFAULT_THRESHOLDS = tuple(round(i / 100, 2) for i in range(101))
MAX_FALSE_ABSTENTION = 0.05


def tradeoff_curve(confidences: Sequence[float], answerable: Sequence[bool],
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[dict[str, float]]:
    """One point per threshold: threshold, abstain_recall, false_abstention_rate, abstain_precision."""
    if len(confidences) != len(answerable):
        raise ValueError(f"length mismatch: {len(confidences)} confidences vs {len(answerable)} answerable")
    points = []
    for t in thresholds:
        scores = abstention_scores([c < t for c in confidences], answerable)
        points.append({"threshold": float(t), **scores})
    return points


def best_threshold(curve: Sequence[dict[str, float]],
                   max_false_abstention: float = MAX_FALSE_ABSTENTION) -> dict[str, Any] | None:
    """The point maximising abstain_recall - false_abstention_rate with false_abstention_rate <= the ceiling.

    Ties go to the lowest threshold (the fewest false abstentions); ``range`` gives the first
    and last threshold of the tied run that starts there. None when no point meets the ceiling.
    """
    allowed = [p for p in curve if p["false_abstention_rate"] <= max_false_abstention]
    if not allowed:
        return None

    def gain(p: dict[str, float]) -> float:
        return round(p["abstain_recall"] - p["false_abstention_rate"], 12)

    top = max(gain(p) for p in allowed)
    start = next(i for i, p in enumerate(curve) if p in allowed and gain(p) == top)
    end = start
    while end + 1 < len(curve) and curve[end + 1] in allowed and gain(curve[end + 1]) == top:
        end += 1
    best = dict(curve[start])
    return {**best, "objective": top, "max_false_abstention": max_false_abstention,
            "range": [curve[start]["threshold"], curve[end]["threshold"]]}
