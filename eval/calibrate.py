"""The abstention trade-off: how a confidence threshold trades missed abstentions for false ones.

What it does: pure functions over per-question confidences. At threshold t a question is
abstained on when its confidence < t; for each t it gives abstain_recall (unanswerable
questions abstained on), false_abstention_rate (answerable questions abstained on) and
abstain_precision (via :func:`eval.metrics.abstention_scores`), and picks the threshold
maximising abstain_recall - false_abstention_rate with false_abstention_rate <= a ceiling.
The answerer's confidence is 0.5 exactly at its decision threshold (it abstains at or below), so
t = 0.5 is the configured decision; that threshold itself is fitted on the SQuAD dev split by
``tools/calibrate_reader.py`` (a verifier's, where a reader has one, by ``tools/fit_verifier.py``).
This module shows the trade-off on any result file (the demo set is
checked with it, not tuned); nothing here changes the configuration.

    python -m eval.calibrate eval/results/demo.json     # a result of python -m eval run --out (or squad)

prints the curve and the chosen threshold of a result file's per-question confidences. Questions
the run abstained on whatever the threshold (a rule's abstention, such as a how-many question whose
passages hold no count, recorded with a confidence at or above the run's threshold) stay abstained
at every t: the threshold cannot answer them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.metrics import abstention_scores

DEFAULT_THRESHOLDS = tuple(round(i / 100, 2) for i in range(101))
MAX_FALSE_ABSTENTION = 0.05
DECISION_CONFIDENCE = 0.5  # the answerer's confidence at its decision threshold


def tradeoff_curve(confidences: Sequence[float], answerable: Sequence[bool],
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                   forced: Sequence[bool] | None = None) -> list[dict[str, float]]:
    """One point per threshold: threshold, abstain_recall, false_abstention_rate, abstain_precision.

    ``forced`` marks questions abstained on at every threshold (see :func:`forced_abstentions`).
    """
    forced = list(forced) if forced is not None else [False] * len(confidences)
    if not len(confidences) == len(answerable) == len(forced):
        raise ValueError(f"length mismatch: {len(confidences)} confidences vs {len(answerable)} answerable"
                         f" vs {len(forced)} forced")
    points = []
    for t in thresholds:
        scores = abstention_scores([c < t or f for c, f in zip(confidences, forced)], answerable)
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


def forced_abstentions(rows: Sequence[dict[str, Any]], threshold: float) -> list[bool]:
    """Rows abstained on though their confidence reached the run's ``threshold``: a rule decided, not t."""
    return [bool(r["abstained"]) and float(r["confidence"]) >= threshold for r in rows]


def curve_of_result(path: str | Path) -> tuple[list[float], list[bool], list[bool]]:
    """Per-question confidences, answerability and forced abstentions of a result JSON (``rows`` and
    the run's configured threshold: ``config.abstain_threshold`` of older result files, else the reader's
    decision confidence)."""
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = result["rows"]
        forced = forced_abstentions(rows, float(result["config"].get("abstain_threshold", DECISION_CONFIDENCE)))
        return [float(r["confidence"]) for r in rows], [bool(r["answerable"]) for r in rows], forced
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is not a result file with per-question rows: {e}") from e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate",
                                     description="Abstention trade-off curve and threshold of a result file.")
    parser.add_argument("result", help="JSON written by python -m eval run --out (or eval squad)")
    parser.add_argument("--max-false-abstention", type=float, default=MAX_FALSE_ABSTENTION)
    parser.add_argument("--every", type=int, default=5, help="print every n-th threshold (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        confidences, answerable, forced = curve_of_result(args.result)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    curve = tradeoff_curve(confidences, answerable, forced=forced)
    best = best_threshold(curve, args.max_false_abstention)
    print(f"{len(confidences)} questions, {sum(answerable)} answerable; abstain when confidence < t"
          f" ({sum(forced)} abstained by a rule at any t)")
    print("threshold  abstain_recall  false_abstention  abstain_precision")
    for i, p in enumerate(curve):
        if i % args.every == 0 or (best and p["threshold"] == best["threshold"]):
            mark = "  <- chosen" if best and p["threshold"] == best["threshold"] else ""
            print(f"{p['threshold']:9.2f}  {p['abstain_recall']:14.3f}  {p['false_abstention_rate']:16.3f}  "
                  f"{p['abstain_precision']:17.3f}{mark}")
    if best is None:
        print(f"no threshold keeps false abstention <= {args.max_false_abstention}")
    else:
        print(f"best threshold {best['threshold']:.2f} (ties up to {best['range'][1]:.2f}): abstain_recall "
              f"{best['abstain_recall']:.3f}, false_abstention_rate {best['false_abstention_rate']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
