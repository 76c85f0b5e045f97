"""Fit the answer verifier (rag/verify.py) on the SQuAD **dev** split, as the whole system reads it.

Input: the rows that ``python tools/calibrate_reader.py`` writes (every v2.0 dev-split question read
over the open index exactly as ``kb.ask`` reads it, with the verifier's features of its best answer).
Label: the answer is right (SQuAD F1 >= 0.5 against a gold answer); an unanswerable question's answer
never is. The model is scored by leave-one-article-out cross-validation on the dev split (a fold never
sees its own article), the threshold on its probability is the one that maximises
``--answerable-share`` x HasAns F1 + the rest x NoAns on those held-out predictions, and the margin-only
rule the reader uses without a verifier is scored the same way beside it. Each feature is also dropped
in turn (the ablation goes in docs/answering.md). The final model is fitted on every dev row and, with
``--reader``, written beside that reader as ``verifier.json``. The test split is never read.

    python tools/calibrate_reader.py --dry-run --out /tmp/rows.json            # the dev rows (a few minutes)
    python tools/fit_verifier.py --rows /tmp/rows.json                          # cross-validation and ablation
    python tools/fit_verifier.py --rows /tmp/rows.json --reader /tmp/my_reader  # ... and writes verifier.json there

The bundled reader ships without one: fitted on SQuAD, the verifier did not carry to news articles
(docs/answering.md), so ``kb.ask`` decides by the reader's margin unless a reader folder holds one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval import metrics as M  # noqa: E402
from rag.verify import FEATURES, VERIFIER, Verifier, fit_logistic, sigmoid  # noqa: E402
from tools.calibrate_reader import curve  # noqa: E402

RIGHT_F1 = 0.5


def label(row: dict) -> int:
    return int(row["answerable"] and row["features"] is not None and M.f1(row["text"], row["answers"]) >= RIGHT_F1)


def standardise(rows: Sequence[dict], names: Sequence[str]) -> tuple[list[float], list[float]]:
    cols = [[r["features"][f] for r in rows] for f in names]
    mean = [sum(c) / len(c) for c in cols]
    scale = [max(math.sqrt(sum((v - m) ** 2 for v in c) / len(c)), 1e-6) for c, m in zip(cols, mean)]
    return mean, scale


def fit(rows: Sequence[dict], names: Sequence[str], l2: float) -> Verifier:
    usable = [r for r in rows if r["features"] is not None]
    mean, scale = standardise(usable, names)
    x = [[(r["features"][f] - m) / s for f, m, s in zip(names, mean, scale)] for r in usable]
    coef, intercept = fit_logistic(x, [label(r) for r in usable], l2=l2)
    return Verifier(tuple(names), tuple(mean), tuple(scale), tuple(coef), intercept, 0.5)


def cross_validated(rows: Sequence[dict], names: Sequence[str], l2: float) -> list[float]:
    """Each row's probability from a model fitted without its article (-inf with no candidate)."""
    out = [-math.inf] * len(rows)
    for article in sorted({r["article"] for r in rows}):
        model = fit([r for r in rows if r["article"] != article], names, l2)
        for i, r in enumerate(rows):
            if r["article"] == article and r["features"] is not None:
                out[i] = model.probability(r["features"])
    return out


def scores(rows: Sequence[dict], values: Sequence[float], t: float, share: float) -> dict[str, float]:
    """v2.0 scores of answering exactly when ``value > t``, and their ``share``-weighted mix (rounded). Pure."""
    point = curve(list(rows), [t], share, list(values))[0]
    return {"threshold": t, **{k: round(point[k], 2) for k in ("hasans_f1", "noans", "weighted")}}


def best(rows: Sequence[dict], values: Sequence[float], grid: Sequence[float], share: float) -> dict[str, float]:
    return max((scores(rows, values, t, share) for t in grid), key=lambda p: p["weighted"])


def at_noans(rows: Sequence[dict], values: Sequence[float], grid: Sequence[float], target: float) -> dict[str, float]:
    """The point of the curve with the highest HasAns F1 among those with NoAns >= ``target``."""
    ok = [p for p in (scores(rows, values, t, 0.5) for t in grid) if p["noans"] >= target]
    return max(ok, key=lambda p: p["hasans_f1"]) if ok else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=Path, required=True, help="tools/calibrate_reader.py --out file (dev split)")
    ap.add_argument("--reader", type=Path, help="a reader folder to write verifier.json into (without it: report only)")
    ap.add_argument("--answerable-share", type=float, default=0.8)
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args()
    payload = json.loads(args.rows.read_text(encoding="utf-8"))
    rows, share = payload["rows"], args.answerable_share
    p_grid = [i / 100 for i in range(1, 100)]
    m_grid = [x / 4 for x in range(-24, 33)]
    margin = [r["margin"] for r in rows]
    report: dict[str, object] = {"rows": len(rows), "articles": len({r["article"] for r in rows}),
                                 "answerable": sum(r["answerable"] for r in rows), "answerable_share": share}
    report["margin_only"] = {"best": best(rows, margin, m_grid, share), "at_noans_60": at_noans(rows, margin, m_grid, 60)}
    cv = cross_validated(rows, FEATURES, args.l2)
    report["verifier_cv"] = {"best": best(rows, cv, p_grid, share), "at_noans_60": at_noans(rows, cv, p_grid, 60)}
    ablation = {}
    for f in FEATURES:
        names = [g for g in FEATURES if g != f]
        ablation[f"without {f}"] = best(rows, cross_validated(rows, names, args.l2), p_grid, share)
    report["ablation_cv"] = ablation
    print(json.dumps(report, indent=1))
    chosen = report["verifier_cv"]["best"]  # type: ignore[index]
    final = fit(rows, FEATURES, args.l2)
    final = Verifier(final.features, final.mean, final.scale, final.coef, final.intercept, chosen["threshold"])
    print("coefficients (standardised):", {f: round(c, 3) for f, c in zip(final.features, final.coef)},
          "intercept", round(final.intercept, 3), "| p(right) at the mean:", round(sigmoid(final.intercept), 3))
    if args.reader is not None:
        out = {**final.to_dict(), "label": f"answer right (SQuAD F1 >= {RIGHT_F1})",
               "fitted_on": f"SQuAD v2.0 dev split (eval/splits/squad.json 'dev'), {len(rows)} questions read as "
                            f"kb.ask reads them by reader {payload.get('reader', '?')}",
               "l2": args.l2, "threshold_note": f"maximises {share} x HasAns F1 + {1 - share:.1f} x NoAns over "
                                                "leave-one-article-out predictions on the dev split",
               "cross_validation": report}
        (args.reader / VERIFIER).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.reader / VERIFIER}")


if __name__ == "__main__":
    main()
