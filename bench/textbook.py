"""Side by side with the textbook LangChain pipeline: build time, latency, hit@5, MRR@10.

Textbook: ``TextLoader`` (demo files) or one ``Document`` per SQuAD paragraph (its id in
the metadata), ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``,
``HuggingFaceEmbeddings(model_name=<the bundled all-MiniLM-L6-v2 folder>)``,
``FAISS.from_documents`` and ``similarity_search(q, k=10)``: the defaults a user copies.
Ours: ``KnowledgeBase.build`` with the default config and ``kb.search(q, k=10)`` (hybrid).
Both use the same model files, corpus and questions, in the same run; model loading is
outside both build times.

Relevance:
* demo (``data/articles``, gold ``eval/gold/demo.jsonl``, answerable questions): a retrieved
  chunk is a hit when it contains a gold evidence quote, whitespace folded
  (``eval.metrics.evidence_hits``);
* SQuAD v1.1 dev (the first ``--squad-paragraphs`` paragraphs, 600 by default, as documents;
  a fixed sample of their questions, seed 13): a hit is a chunk from the question's own
  paragraph.

    python bench/textbook.py                                 # demo + SQuAD (600 paragraphs, 300 questions)
    python bench/textbook.py --datasets demo
    python bench/textbook.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from eval.metrics import evidence_hits, hit_at_k, mrr_at_k  # noqa: E402

DEMO_ARTICLES = common.ROOT / "data" / "articles"
DEMO_GOLD = common.ROOT / "eval" / "gold" / "demo.jsonl"


@dataclass(frozen=True)
class Query:
    text: str
    doc_id: str = ""  # SQuAD: the question's paragraph
    quotes: tuple[str, ...] = ()  # demo: gold evidence quotes


@dataclass
class Retrieved:
    texts: list[str]
    doc_ids: list[str]


def relevance(query: Query, got: Retrieved) -> list[set[int]]:
    if query.quotes:
        return evidence_hits(got.texts, list(query.quotes))
    return [{0} if d == query.doc_id else set() for d in got.doc_ids]


class HashLCEmbeddings:
    """LangChain ``Embeddings`` over the model-free HashEmbedder (for --quick runs)."""

    def __init__(self) -> None:
        from rag.embed import HashEmbedder

        self.inner = HashEmbedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed([text])[0].tolist()


def textbook_embeddings(spec: str) -> Any:
    if spec == "hash":
        from langchain_core.embeddings import Embeddings

        return type("HashEmbeddings", (HashLCEmbeddings, Embeddings), {})()
    from langchain_huggingface import HuggingFaceEmbeddings

    from rag.embed import bundled_model_path

    embeddings = HuggingFaceEmbeddings(model_name=bundled_model_path())
    embeddings.embed_query("warm up")
    return embeddings


def textbook_documents(dataset: str, corpus: Path) -> list[Any]:
    from langchain_core.documents import Document

    if dataset == "demo":
        from langchain_community.document_loaders import TextLoader

        docs = []
        for path in sorted(corpus.glob("*.txt")):
            for d in TextLoader(str(path), encoding="utf-8").load():
                d.metadata["doc_id"] = path.stem
                docs.append(d)
        return docs
    docs = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        docs.append(Document(page_content=rec["text"], metadata={"doc_id": rec["id"], "title": rec["title"]}))
    return docs


def run_textbook(dataset: str, corpus: Path, queries: list[Query], embeddings: Any, k: int,
                 warmup: int, torch_threads: int) -> dict[str, Any]:
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    import torch

    # torch's default (one thread per core), as a LangChain user has it: our embedder sets the
    # process-wide thread count per call (one thread for a query on a busy machine), which must
    # not carry over into the textbook's build or queries.
    torch.set_num_threads(torch_threads)
    t = time.perf_counter()
    docs = textbook_documents(dataset, corpus)
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(docs)
    store = FAISS.from_documents(chunks, embeddings)
    build_s = time.perf_counter() - t

    def search(q: Query) -> Retrieved:
        found = store.similarity_search(q.text, k=k)
        return Retrieved([d.page_content for d in found], [d.metadata["doc_id"] for d in found])

    return {"build_s": build_s, "chunks": len(chunks), **evaluate(search, queries, k, warmup)}


def run_ours(corpus: Path, queries: list[Query], embedder: Any, spec: str, k: int, warmup: int,
             workdir: Path, chunk_vectors: str = "") -> dict[str, Any]:
    from rag import Config, KnowledgeBase

    index_dir = workdir / "ours"
    shutil.rmtree(index_dir, ignore_errors=True)
    config = Config(embedder=spec)
    if chunk_vectors:
        config = config.with_(chunk_vectors=chunk_vectors)
    t = time.perf_counter()
    kb = KnowledgeBase.build([corpus], index_dir, config, embedder=embedder)
    build_s = time.perf_counter() - t

    def search(q: Query) -> Retrieved:
        hits = kb.search(q.text, k=k)
        return Retrieved([h.text for h in hits], [h.doc_id for h in hits])

    return {"build_s": build_s, "chunks": kb.stats()["chunks"], "sentences": kb.stats()["sentences"],
            **evaluate(search, queries, k, warmup)}


def evaluate(search: Any, queries: list[Query], k: int, warmup: int) -> dict[str, Any]:
    for q in queries[:warmup]:
        search(q)
    times, h5, mrr = [], [], []
    for q in queries:
        t = time.perf_counter()
        got = search(q)
        times.append(time.perf_counter() - t)
        rel = relevance(q, got)
        h5.append(hit_at_k(rel, 5))
        mrr.append(mrr_at_k(rel, k))
    lat = common.latency_summary(times)
    return {"queries": len(queries), "hit_at_5": statistics.fmean(h5), "mrr_at_10": statistics.fmean(mrr),
            "median_ms": lat["median_ms"], "p95_ms": lat["p95_ms"]}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's rounds as one row: median build time and latency; quality from the first round
    (the builds are deterministic, so every round retrieves the same)."""
    out = dict(runs[0])
    for key in ("build_s", "median_ms", "p95_ms"):
        out[key] = statistics.median(r[key] for r in runs)
    out["rounds"] = len(runs)
    return out


def load_dataset(name: str, args: argparse.Namespace, workdir: Path) -> tuple[Path, list[Query]]:
    if name == "demo":
        queries = []
        for line in DEMO_GOLD.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("answerable", True) and row.get("evidence"):
                queries.append(Query(row["question"], quotes=tuple(e["quote"] for e in row["evidence"])))
        return DEMO_ARTICLES, queries
    paragraphs, questions = common.load_squad(args.squad, args.squad_paragraphs)
    corpus = common.write_corpus(paragraphs, workdir / f"squad-{len(paragraphs)}.jsonl")
    sample = common.sample_questions(questions, args.squad_questions)
    return corpus, [Query(q.text, doc_id=q.pid) for q in sample]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="demo,squad")
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--squad-paragraphs", type=int, default=600, help="first N paragraphs (0: all 2,067)")
    ap.add_argument("--squad-questions", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--chunk-vectors", default="",
                    help="also build ours with these Config.chunk_vectors values (e.g. sentence_mean)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="build every system this many times in rotating order; medians are reported")
    ap.add_argument("--quick", action="store_true", help="smoke run: demo + 40 SQuAD paragraphs, 20 questions")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.squad_paragraphs, args.squad_questions, args.warmup = 40, 20, 1
    args.chunk_vectors = [v for v in args.chunk_vectors.split(",") if v]
    spec = common.embedder_spec(args.embedder)
    workdir = Path(tempfile.mkdtemp(prefix="bench-textbook-"))
    import torch

    torch_threads = torch.get_num_threads()  # torch's own default, read before our embedder changes it
    t = time.perf_counter()
    embedder = common.make_embedder(args.embedder)
    ours_load_s = time.perf_counter() - t
    t = time.perf_counter()
    embeddings = textbook_embeddings(spec)
    textbook_load_s = time.perf_counter() - t
    results: dict[str, Any] = {}
    rows = []
    for name in args.datasets.split(","):
        corpus, queries = load_dataset(name, args, workdir)
        if args.quick and name == "squad":
            queries = [q for q in queries if int(q.doc_id.split("-")[1]) < args.squad_paragraphs][:20] or queries[:5]
        # Every system is built ``--repeats`` times, in rotating order, so a burst of load on the
        # shared cores does not fall on one system only; build and latency are medians over rounds.
        names = ["textbook", "ours"] + [f"ours_{v}" for v in args.chunk_vectors]
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for round_ in range(args.repeats):
            for system in names[round_ % len(names):] + names[:round_ % len(names)]:
                common.log(f"{name}: round {round_ + 1}/{args.repeats}, {system} build ...")
                if system == "textbook":
                    r = run_textbook(name, corpus, queries, embeddings, args.k, args.warmup, torch_threads)
                else:
                    variant = system[len("ours_"):] if system != "ours" else ""
                    r = run_ours(corpus, queries, embedder, spec, args.k, args.warmup, workdir, chunk_vectors=variant)
                common.log(f"{name}: {system} {r}")
                runs[system].append(r)
        merged = {n: median_run(rs) for n, rs in runs.items()}
        textbook, ours = merged["textbook"], merged["ours"]

        def over(r: dict[str, Any]) -> dict[str, float]:
            return {key: r[key] / textbook[key] if textbook[key] else float("nan")
                    for key in ("build_s", "median_ms", "hit_at_5", "mrr_at_10")}

        results[name] = {"textbook": textbook, "ours": ours, "ours_over_textbook": over(ours),
                         "rounds": {n: [{k: r[k] for k in ("build_s", "median_ms")} for r in rs]
                                    for n, rs in runs.items()}}
        systems = [("textbook", textbook), ("ours", ours), ("ours/textbook", over(ours))]
        for variant in args.chunk_vectors:
            r = merged[f"ours_{variant}"]
            results[name][f"ours_{variant}"] = r
            results[name][f"ours_{variant}_over_textbook"] = over(r)
            systems += [(f"ours {variant}", r), (f"ours {variant}/textbook", over(r))]
        for system, r in systems:
            rows.append({"dataset": name, "system": system, **{k: r.get(k, "") for k in
                         ("chunks", "build_s", "median_ms", "p95_ms", "hit_at_5", "mrr_at_10")}})
    shutil.rmtree(workdir, ignore_errors=True)
    path = common.write_result("textbook", {
        "embedder": spec, "k": args.k, "textbook_torch_threads": torch_threads,
        "model_load_s": {"ours": ours_load_s, "textbook": textbook_load_s},
        "squad_questions": args.squad_questions, "question_seed": common.QUESTION_SEED, "datasets": results}, args.out)
    print(common.table(rows, ["dataset", "system", "chunks", "build_s", "median_ms", "p95_ms", "hit_at_5",
                              "mrr_at_10"], "{:.3f}"))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
