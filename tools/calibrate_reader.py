"""Calibrate the answer threshold of a reader on the SQuAD **dev** split, as the whole system reads.

For every question of the dev split of SQuAD v2.0 (eval/splits/squad.json), it retrieves from the open
index of all v2.0 paragraphs, lets the reader read the passages exactly as ``kb.ask`` does, and
records the best pooled candidate's margin over "no answer". For each threshold it computes the v2.0
scores (an answered question earns its F1, a declined one earns 1 when it is unanswerable) and keeps
the threshold that maximises them weighted by the mix of questions the product expects:
``--answerable-share`` (default 0.8: about four answerable questions to one unanswerable, the mix of
the unseen-news check that motivated the reader) times HasAns F1 plus the rest times NoAns accuracy.
SQuAD v2.0 dev is half unanswerable, and its plain F1 (``--answerable-share 0.5``, the official
"best F1" threshold) would decline most answerable questions. The result is written to the reader's
card as ``threshold`` (the gold-paragraph one stays as ``threshold_gold_paragraph``); it decides only for a
reader without a verifier. Each row also carries the verifier's features of its best answer, the input of
``tools/fit_verifier.py``. The test split is never read.

    python tools/calibrate_reader.py                      # the bundled reader, rag/models/reader
    python tools/calibrate_reader.py --reader /tmp/reader --dry-run
    python tools/calibrate_reader.py --from-rows eval/results/calibrate-reader-dev.json --answerable-share 0.5

It reaches into ``rag.answer`` on purpose (it needs the margin, not the decision), so it lives in tools/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval import metrics as M  # noqa: E402
from eval.squad import default_data, default_index, load_dataset, split_questions, split_titles, squad_index  # noqa: E402
from eval.squad import squad_questions  # noqa: E402
from rag.answer import read_hits, retrieve_for_answer, verifier_features  # noqa: E402
from rag.reader import BUNDLED, CARD  # noqa: E402


def margins(kb, questions, k: int) -> list[dict]:  # noqa: ANN001
    snapshot = kb.snapshot()
    rows = []
    for q in questions:
        question, hits = retrieve_for_answer(snapshot, q.question, k)
        cands, _ = read_hits(snapshot, question, hits)
        best = cands[0] if cands else None
        rows.append({"id": q.id, "article": q.doc_id.split("-")[0], "answerable": q.answerable,
                     "answers": list(q.answers), "margin": best.score if best else float("-inf"),
                     "text": best.text if best else "",
                     "features": verifier_features(snapshot, question, hits, cands) if best else None})
    return rows


def curve(rows: list[dict], thresholds: list[float], share: float = 0.8,
          values: list[float] | None = None) -> list[dict]:
    """v2.0 scores of declining at or below each threshold, and their mix weighted by ``share``; the
    value compared is each row's margin, or ``values`` (one per row, e.g. a verifier's probability). Pure."""
    values = [r["margin"] for r in rows] if values is None else values
    out = []
    for t in thresholds:
        has = [M.f1(r["text"], r["answers"]) if v > t else 0.0 for r, v in zip(rows, values) if r["answerable"]]
        no = [1.0 if v <= t else 0.0 for r, v in zip(rows, values) if not r["answerable"]]
        has_f1, noans = 100 * sum(has) / max(len(has), 1), 100 * sum(no) / max(len(no), 1)
        out.append({"threshold": t, "hasans_f1": has_f1, "noans": noans,
                    "f1": 100 * (sum(has) + sum(no)) / max(len(has) + len(no), 1),
                    "weighted": share * has_f1 + (1 - share) * noans})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", type=Path, default=BUNDLED)
    ap.add_argument("--index", type=Path, default=default_index("2.0"))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "calibrate-reader-dev.json")
    ap.add_argument("--answerable-share", type=float, default=0.8,
                    help="weight of HasAns F1 against NoAns accuracy (default %(default)s)")
    ap.add_argument("--from-rows", type=Path, help="reuse the margins of an earlier run's --out file")
    ap.add_argument("--dry-run", action="store_true", help="print the curve, change no card")
    args = ap.parse_args()
    t0 = time.time()
    if args.from_rows:
        rows = json.loads(args.from_rows.read_text(encoding="utf-8"))["rows"]
    else:
        dataset = load_dataset(default_data("2.0"))
        questions = split_questions(dataset, squad_questions(dataset), split_titles("dev"))
        kb, _ = squad_index(dataset, args.index, {"reader": str(args.reader)})
        rows = margins(kb, questions, args.k)
    share = args.answerable_share
    points = curve(rows, [x / 4 for x in range(-24, 33)], share)
    best = max(points, key=lambda p: p["weighted"])
    for p in points[::2]:
        print(f"threshold {p['threshold']:6.2f}: HasAns F1 {p['hasans_f1']:5.1f}  NoAns {p['noans']:5.1f}  "
              f"F1 {p['f1']:5.1f}  weighted {p['weighted']:5.1f}")
    print(f"best on the dev split (answerable share {share}): threshold {best['threshold']} (HasAns F1 "
          f"{best['hasans_f1']:.1f}, NoAns {best['noans']:.1f}, F1 {best['f1']:.1f}); {len(rows)} questions in "
          f"{time.time() - t0:.0f} s")
    if not args.from_rows:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"reader": str(args.reader), "questions": len(rows), "curve": points,
                                        "best": best, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    if not args.dry_run:
        card_path = args.reader / CARD
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card.setdefault("threshold_gold_paragraph", card["threshold"])
        card["threshold"] = best["threshold"]
        card["threshold_note"] = ("answer when the best pooled span's margin over no-answer exceeds this; chosen by "
                                  "tools/calibrate_reader.py on the SQuAD v2.0 dev split read as kb.ask reads it "
                                  f"(top {args.k} passages of the open index), maximising {share} x HasAns F1 + "
                                  f"{1 - share:.1f} x NoAns: HasAns F1 {best['hasans_f1']:.1f}, NoAns "
                                  f"{best['noans']:.1f}, F1 {best['f1']:.1f}")
        card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
        print(f"wrote threshold {best['threshold']} to {card_path}")


if __name__ == "__main__":
    main()
