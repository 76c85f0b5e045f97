"""Indexing throughput: the whole KnowledgeBase.build against the embedder alone.

The build (read, clean, chunk, embed, index, save) runs on SQuAD v1.1 dev paragraphs
written as a ``.jsonl`` corpus. The raw figure is ``SentenceTransformer.encode`` on exactly
the texts the build embedded (chunks and sentences, recorded from the build's own call),
with the same batch size, in the same process; the library's own ``embedder.embed`` on the
same texts is timed too. Each pair runs the three in turn, build first in odd pairs and last
in even ones, so that drifting load from other processes hits all alike; the ratio is raw
seconds / build seconds per pair (1.0 = the build costs nothing beyond embedding).
An untimed build of 5 paragraphs first pays the one-time costs (lazy imports, first calls).

Stage times come from thin timing wrappers around the library's stage functions in the
same timed builds; ``--profile`` adds one cProfile'd build and lists the costliest functions.

    python bench/indexing.py                       # 150 paragraphs, real model, 4 rounds
    python bench/indexing.py --profile             # plus a cProfile'd build
    python bench/indexing.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

STAGES = (  # (label, module, attribute): stage functions as rag.kb, rag.update and their callees look them up
    ("read+clean (load_documents)", "rag.kb", "load_documents"),
    ("  clean_article", "rag.ingest", "clean_article"),
    ("chunk (chunk_document)", "rag.update", "chunk_document"),
    ("  sentence split (syntok)", "rag.chunk", "sentence_spans"),
    ("near-duplicates (MinHash)", "rag.dedup", "near_duplicate_pairs"),
    ("FAISS build", "rag.vectors", "build_index"),
    ("save (sqlite, npy, sha256, fsync)", "rag.store", "save"),
)


@contextmanager
def stage_timers(embedder: Any) -> Iterator[dict[str, float]]:
    """Patch timing wrappers around the build's stages; yields {label: seconds} (accumulated)."""
    import importlib

    from rag.lexical import BM25Index

    totals: dict[str, float] = defaultdict(float)
    saved: list[tuple[Any, str, Any]] = []

    def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - t
        return timed

    for label, module_name, attr in STAGES:
        module = importlib.import_module(module_name)
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, wrap(label, getattr(module, attr)))
    build = BM25Index.__dict__["build"]
    saved.append((BM25Index, "build", build))
    BM25Index.build = classmethod(wrap("BM25 build (tokenize + weights)", build.__func__))
    for attr, label in (("embed", "embed (model)"), ("count_tokens", "  count_tokens (tokenizer; titles + sentences)")):
        saved.append((embedder, attr, vars(embedder).get(attr, _MISSING)))
        setattr(embedder, attr, wrap(label, getattr(embedder, attr)))
    try:
        yield totals
    finally:
        for obj, attr, original in reversed(saved):
            _restore(obj, attr, original)


_MISSING = object()


def _restore(obj: Any, attr: str, original: Any) -> None:
    if original is _MISSING:
        delattr(obj, attr)  # the instance attribute hid the class's method
    else:
        setattr(obj, attr, original)


@contextmanager
def recording(embedder: Any) -> Iterator[list[str]]:
    """Record every text the embedder is asked to embed."""
    seen: list[str] = []
    previous = vars(embedder).get("embed", _MISSING)
    original = embedder.embed

    def embed(texts: Any, **kwargs: Any) -> Any:
        seen.extend(texts)
        return original(texts, **kwargs)

    embedder.embed = embed
    try:
        yield seen
    finally:
        _restore(embedder, "embed", previous)


def raw_encode(embedder: Any, texts: list[str], batch_size: int, precision: str = "float32") -> float:
    """Seconds for the bare model to embed ``texts`` (SentenceTransformer.encode, same batch size),
    its matrix products in ``precision`` (bfloat16: under ``torch.autocast``, as the build runs it)."""
    import contextlib

    t = time.perf_counter()
    if hasattr(embedder, "model"):
        import torch

        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bfloat16" else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            embedder.model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True)
    else:  # the hash embedder has no model: its embed() is the raw path
        embedder.embed(texts)
    return time.perf_counter() - t


def build_once(corpus: Path, config: Any, embedder: Any, workdir: Path) -> tuple[Any, float]:
    from rag import KnowledgeBase

    index_dir = workdir / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    t = time.perf_counter()
    kb = KnowledgeBase.build([corpus], index_dir, config, embedder=embedder)
    return kb, time.perf_counter() - t


def profile_build(corpus: Path, config: Any, embedder: Any, workdir: Path, top: int) -> dict[str, Any]:
    """One cProfile'd build: the costliest functions by own time and the library's by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    _, seconds = build_once(corpus, config, embedder, workdir)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (file, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}({name})" if file != "~" else name
        rows.append({"function": where, "calls": ncalls, "own_s": round(tottime, 3), "cumulative_s": round(cumtime, 3),
                     "in_rag": "/rag/" in file})
    by_own = sorted(rows, key=lambda r: -r["own_s"])[:top]
    rag_cum = sorted((r for r in rows if r["in_rag"]), key=lambda r: -r["cumulative_s"])[:top]
    return {"build_s_profiled": seconds, "top_own_time": by_own, "top_rag_cumulative": rag_cum}


def _value(raw: str) -> Any:  # noqa: ANN401
    """A --set value: JSON when it parses (numbers, true/false), else the string."""
    import json

    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--paragraphs", type=int, default=150, help="first N SQuAD dev paragraphs (0: all 2,067)")
    ap.add_argument("--pairs", type=int, default=4, help="rounds of build, raw encode and embed()")
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--batch-size", type=int, default=0, help="0: the config default")
    ap.add_argument("--profile", action="store_true", help="add one cProfile'd build")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="Config field for the build, e.g. --set chunk_vectors=sentence_mean (repeatable)")
    ap.add_argument("--name", default="indexing", help="result file name (bench/results/NAME.json)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 paragraphs, 1 pair")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.paragraphs, args.pairs = 20, 1

    from rag import Config

    spec = common.embedder_spec(args.embedder)
    config = Config(embedder=spec)
    if args.batch_size:
        config = config.with_(batch_size=args.batch_size)
    if args.set:
        config = config.with_(**{k: _value(v) for k, v in (item.split("=", 1) for item in args.set)})
    paragraphs, _ = common.load_squad(args.squad, args.paragraphs)
    workdir = Path(tempfile.mkdtemp(prefix="bench-indexing-"))
    corpus = common.write_corpus(paragraphs, workdir / f"squad-{len(paragraphs)}.jsonl")

    t = time.perf_counter()
    from rag.embed import make_embedder

    embedder = make_embedder(spec, config.batch_size, config.embed_precision)
    precision = getattr(embedder, "precision", "float32")
    embedder.embed(["warm up"])
    model_load_s = time.perf_counter() - t
    common.log(f"model loaded in {model_load_s:.1f} s; building {len(paragraphs)} paragraphs, {args.pairs} pairs")

    # Untimed warm-up build on a few paragraphs: lazy imports and first-call costs.
    build_once(common.write_corpus(paragraphs[:5], workdir / "warmup.jsonl"), config, embedder, workdir)
    pairs = []
    stage_runs = []
    texts: list[str] = []
    for i in range(args.pairs):
        # Odd pairs build first, even pairs embed first, so that drifting background load
        # does not favour one side; "embed()" is the library's own embed call on the same texts.
        steps = ("build", "raw", "embed") if i % 2 == 0 else ("raw", "embed", "build")
        if not texts:
            steps = ("build", "raw", "embed")
        if precision != "float32":  # also the bare model as sentence-transformers runs it by default
            steps = steps + ("raw32",) if i % 2 == 0 else ("raw32",) + steps
        pair: dict[str, float] = {}
        for step in steps:
            cpu = time.process_time()
            if step == "build":
                with stage_timers(embedder) as stages, recording(embedder) as seen:
                    kb, pair["build_s"] = build_once(corpus, config, embedder, workdir)
                texts = texts or list(seen)
                stage_runs.append(dict(stages))
            elif step == "raw":
                pair["raw_s"] = raw_encode(embedder, texts, config.batch_size, precision)
            elif step == "raw32":
                pair["raw32_s"] = raw_encode(embedder, texts, config.batch_size)
            else:
                t = time.perf_counter()
                embedder.embed(texts)
                pair["embed_s"] = time.perf_counter() - t
            # CPU seconds of this process (all its threads): less sensitive than wall time to
            # other processes taking the cores, though OpenMP spin-waiting still inflates it.
            pair[f"{step}_cpu_s"] = time.process_time() - cpu
        pair["ratio"] = pair["raw_s"] / pair["build_s"]
        pair["cpu_ratio"] = pair["raw_cpu_s"] / pair["build_cpu_s"]
        pair["load_1min"] = __import__("os").getloadavg()[0]
        pair["embed_in_build_s"] = stage_runs[-1].get("embed (model)", float("nan"))
        pairs.append(pair)
        common.log(f"pair {i + 1} ({' then '.join(steps)}): build {pair['build_s']:.1f} s (embed inside "
                   f"{pair['embed_in_build_s']:.1f} s), raw encode {pair['raw_s']:.1f} s, embed() alone "
                   f"{pair['embed_s']:.1f} s, ratio {pair['ratio']:.3f} (CPU time {pair['cpu_ratio']:.3f}), "
                   f"load {pair['load_1min']:.1f}")
    stats = kb.stats()
    n_chunks, n_sent = stats["chunks"], stats["sentences"]
    tokens = sum(embedder.count_tokens(texts)) if texts else 0
    build_s = statistics.median(p["build_s"] for p in pairs)
    raw_s = statistics.median(p["raw_s"] for p in pairs)
    embed_s = statistics.median(p["embed_s"] for p in pairs)
    ratio = statistics.median(p["ratio"] for p in pairs)
    order = [label for label, _, _ in STAGES[:4]] + ["  count_tokens (tokenizer; titles + sentences)", "embed (model)"] + \
        [label for label, _, _ in STAGES[4:]] + ["BM25 build (tokenize + weights)"]
    stage_median = {k: statistics.median(r.get(k, 0.0) for r in stage_runs) for k in order}
    accounted = sum(v for k, v in stage_median.items() if not k.startswith("  "))
    stage_median["other (hashing, vstack, bookkeeping)"] = max(0.0, build_s - accounted)

    result: dict[str, Any] = {
        "embedder": spec, "batch_size": config.batch_size, "paragraphs": len(paragraphs),
        "documents": stats["documents"], "chunks": n_chunks, "sentences": n_sent,
        "texts_embedded": len(texts),
        "chunk_texts": n_chunks if config.chunk_vectors == "embed" else 0,
        "sentence_texts": len(texts) - (n_chunks if config.chunk_vectors == "embed" else 0),  # + titles
        "tokens_embedded": tokens, "model_load_s": model_load_s, "pairs": pairs,
        "build_s": build_s, "raw_s": raw_s, "embed_s": embed_s, "ratio": ratio,
        "cpu_ratio": statistics.median(p["cpu_ratio"] for p in pairs),
        "chunk_vectors": config.chunk_vectors,
        "embed_over_raw": statistics.median(p["embed_s"] / p["raw_s"] for p in pairs),
        "embed_in_build_over_raw": statistics.median(p["embed_in_build_s"] / p["raw_s"] for p in pairs),
        "build_chunks_per_s": n_chunks / build_s, "raw_chunks_per_s": n_chunks / raw_s,
        "raw_texts_per_s": len(texts) / raw_s, "raw_tokens_per_s": tokens / raw_s,
        "stages_s": stage_median, "stages_share": {k: v / build_s for k, v in stage_median.items()},
        "peak_rss_bytes": common.peak_rss_bytes(), "precision": precision,
    }
    if precision != "float32":
        result["raw32_s"] = statistics.median(p["raw32_s"] for p in pairs)
        result["ratio_vs_float32"] = statistics.median(p["raw32_s"] / p["build_s"] for p in pairs)
    if args.profile:
        common.log("profiled build ...")
        result["profile"] = profile_build(corpus, config, embedder, workdir, args.top)
    path = common.write_result(args.name, result, args.out)
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nIndexing {len(paragraphs)} SQuAD paragraphs -> {n_chunks} chunks + {n_sent} sentences "
          f"({len(texts)} texts, {tokens:,} word pieces), {spec}, batch {config.batch_size}")
    print(common.table([{"run": f"pair {i + 1}", **p} for i, p in enumerate(pairs)] +
                       [{"run": "median", "raw_s": raw_s, "build_s": build_s, "embed_s": embed_s, "ratio": ratio,
                         "cpu_ratio": result["cpu_ratio"]}],
                       ["run", "build_s", "embed_in_build_s", "raw_s", "raw32_s", "embed_s", "ratio", "cpu_ratio",
                        "load_1min"],
                       "{:.3f}"))
    print(f"\nbuild {n_chunks / build_s:.1f} chunks/s; embedder alone {n_chunks / raw_s:.1f} chunks/s "
          f"({len(texts) / raw_s:.1f} texts/s), both {precision}; ratio {ratio:.3f} (target >= 0.9); "
          f"model load {model_load_s:.1f} s")
    if precision != "float32":
        print(f"against the bare model in float32 (sentence-transformers' default): {result['raw32_s']:.2f} s, "
              f"build speed {result['ratio_vs_float32']:.2f}x it")
    print(common.table([{"stage": k, "seconds": v, "share": v / build_s} for k, v in stage_median.items()],
                       ["stage", "seconds", "share"], "{:.3f}"))
    if args.profile:
        print("\nTop functions by own time (profiled build):")
        print(common.table(result["profile"]["top_own_time"][:15], ["function", "calls", "own_s", "cumulative_s"],
                           "{:.3f}"))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
