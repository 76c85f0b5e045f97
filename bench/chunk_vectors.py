"""Chunk vectors embedded vs derived from sentence vectors: retrieval quality and build time.

``Config.chunk_vectors="embed"`` (the default) runs the model on every chunk text as well as
on every sentence; ``"sentence_mean"`` derives each chunk's vector from its sentences' (and its
title's) vectors, so the model reads each sentence once. Both indexes are searched in the same
process with the same retriever code:

* demo: both indexes of ``data/articles`` are built here (interleaved: embed, mean, mean, embed,
  so drifting load hits both alike) and the answerable gold questions are scored as ``eval run``
  scores retrieval (a hit = a chunk containing a gold evidence quote);
* SQuAD v1.1 open corpus: every paragraph, ``eval squad``'s question sample (1,000, seed 13); the
  indexes are ``eval.squad.squad_index`` folders (reused when they hold the right build).

Per mode: hit@1, hit@5, MRR@10 of each, and the paired bootstrap 95% interval of the difference.

    python bench/chunk_vectors.py
    python bench/chunk_vectors.py --squad-index-embed index/squad-v1.1
    python bench/chunk_vectors.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

VARIANTS = ("embed", "sentence_mean")
METRICS = ("hit@1", "hit@5", "mrr@10")


def paired_interval(a: list[float], b: list[float], seed: int = 0, n: int = 2000) -> list[float]:
    """Mean of b - a and its 95% bootstrap interval (questions resampled in pairs)."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if not len(d):
        return [float("nan")] * 3
    means = d[np.random.default_rng(seed).integers(0, len(d), (n, len(d)))].mean(axis=1)
    return [float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def compare(kbs: dict[str, Any], score: Any, modes: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        rows = {name: score(kb, mode) for name, kb in kbs.items()}
        res: dict[str, Any] = {name: {m: statistics.fmean(r[m] for r in rs) if rs else float("nan")
                                      for m in METRICS} for name, rs in rows.items()}
        res["diff"] = {m: paired_interval([r[m] for r in rows["embed"]], [r[m] for r in rows["sentence_mean"]])
                       for m in METRICS}
        res["questions"] = len(rows["embed"])
        out[mode] = res
        common.log(f"  {mode}: {res}")
    return out


def demo(embedder: Any, spec: str, workdir: Path) -> dict[str, Any]:
    from eval.gold import load_gold
    from eval.harness import RETRIEVAL_K, retrieval_scores
    from rag import Config, KnowledgeBase

    kbs: dict[str, Any] = {}
    build_s: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for variant in ("embed", "sentence_mean", "sentence_mean", "embed"):
        folder = workdir / f"demo-{variant}"
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        kbs[variant] = KnowledgeBase.build([common.ROOT / "data" / "articles"], folder,
                                           Config(embedder=spec, chunk_vectors=variant), embedder=embedder)
        build_s[variant].append(time.perf_counter() - t)
    items = [it for it in load_gold(common.ROOT / "eval" / "gold" / "demo.jsonl") if it.answerable]

    def score(kb: Any, mode: str) -> list[dict[str, float]]:
        return [retrieval_scores([h.text for h in kb.search(it.question, k=RETRIEVAL_K, mode=mode)], it.quotes)
                for it in items]

    result = compare(kbs, score, ("hybrid", "dense", "bm25"))
    result["build_s"] = build_s
    result["build_ratio_mean_over_embed"] = statistics.median(build_s["sentence_mean"]) / statistics.median(
        build_s["embed"])
    return result


def squad(embedder: Any, spec: str, args: argparse.Namespace) -> dict[str, Any]:
    from eval import metrics as M
    from eval import squad as S
    from rag import KnowledgeBase
    from rag.errors import RagError

    dataset = S.load_dataset(args.squad)
    if args.quick:  # the first articles only, and their questions
        dataset = {**dataset, "data": dataset["data"][:1]}
    questions = S.sample_questions(S.squad_questions(dataset), args.squad_questions, 13)
    kbs: dict[str, Any] = {}
    reused: dict[str, bool] = {}
    folders = {"embed": args.squad_index_embed, "sentence_mean": args.squad_index_mean}
    docs = S.squad_documents(dataset)
    for variant in VARIANTS:
        folder = folders[variant] or common.CACHE / f"squad-index-{'hash' if args.quick else 'minilm'}-{variant}"
        kb = None
        try:  # reuse an index of these paragraphs built this way (other search options do not matter)
            kb = KnowledgeBase.open(folder, embedder=embedder, verify=False)
            if kb.config.chunk_vectors != variant or not S._index_matches(kb, docs):  # noqa: SLF001
                kb = None
        except RagError:
            kb = None
        reused[variant] = kb is not None
        if kb is None:
            if folders[variant]:
                raise SystemExit(f"{folder} does not hold the SQuAD paragraphs built with chunk_vectors={variant}")
            common.log(f"building the SQuAD index with chunk_vectors={variant} in {folder} ...")
            kb, _ = S.squad_index(dataset, folder, {"embedder": spec, "chunk_vectors": variant})
        kbs[variant] = kb

    def score(kb: Any, mode: str) -> list[dict[str, float]]:
        rows = []
        for q in questions:
            rel = [{0} if h.doc_id == q.doc_id else set() for h in kb.search(q.question, k=S.RETRIEVAL_K, mode=mode)]
            rows.append({"hit@1": M.hit_at_k(rel, 1), "hit@5": M.hit_at_k(rel, 5), "mrr@10": M.mrr_at_k(rel, 10)})
        return rows

    result = compare(kbs, score, ("hybrid", "dense", "bm25"))
    result["indexes"] = {v: {"folder": str(folders[v] or ""), "reused": reused[v]} for v in VARIANTS}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="demo,squad")
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--squad-questions", type=int, default=1000)
    ap.add_argument("--squad-index-embed", type=Path, default=None, help="SQuAD index folder, chunk_vectors=embed")
    ap.add_argument("--squad-index-mean", type=Path, default=None, help="... and sentence_mean (default: bench cache)")
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--quick", action="store_true", help="smoke run: demo + one SQuAD article, 20 questions")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.squad_questions = 20
    spec = common.embedder_spec(args.embedder)
    embedder = common.make_embedder(args.embedder)
    embedder.embed(["warm up"])
    workdir = Path(tempfile.mkdtemp(prefix="bench-chunk-vectors-"))
    results: dict[str, Any] = {}
    try:
        for name in args.datasets.split(","):
            common.log(f"{name} ...")
            results[name] = demo(embedder, spec, workdir) if name == "demo" else squad(embedder, spec, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    path = common.write_result("chunk_vectors", {"embedder": spec, "datasets": results}, args.out)
    rows = []
    for name, r in results.items():
        for mode in ("hybrid", "dense", "bm25"):
            x = r[mode]
            rows.append({"dataset": name, "mode": mode, "n": x["questions"],
                         **{f"embed {m}": x["embed"][m] for m in METRICS},
                         **{f"mean {m}": x["sentence_mean"][m] for m in METRICS},
                         **{f"diff {m} [95% CI]": "{:+.3f} [{:+.3f}, {:+.3f}]".format(*x["diff"][m])
                            for m in ("hit@5", "mrr@10")}})
    print(common.table(rows, list(rows[0]), "{:.3f}"))
    if "demo" in results:
        print(f"\ndemo build s: {results['demo']['build_s']}; sentence_mean / embed "
              f"{results['demo']['build_ratio_mean_over_embed']:.3f}")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
