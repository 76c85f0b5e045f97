"""Markdown tables of all benchmark results: ``bench/results/summary.md`` (committed).

The JSON results are git-ignored; this summary keeps their figures, each table under the
command and machine block of the run that produced it.

    python bench/summarize.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _load(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _runs(result: dict[str, Any]) -> str:
    lines = []
    for run in result.get("runs", [{"command": result["command"], "machine": result["machine"]}]):
        m = run["machine"]
        lines.append(f"- `{run['command'].replace(str(common.ROOT) + '/', '')}` — {m['date']}, {m['cpu']}, "
                     f"{m['cores']} cores, {m['memory_gib']} GiB, load average {m['load_average'][0]:.1f} when written")
    return "\n".join(lines)


def indexing(r: dict[str, Any]) -> str:
    out = [f"Corpus: first {r['paragraphs']} SQuAD v1.1 dev paragraphs -> {r['chunks']} chunks + {r['sentences']} "
           f"sentences = {r['texts_embedded']} texts ({r['tokens_embedded']:,} word pieces); {r['embedder']}, "
           f"batch {r['batch_size']}.", ""]
    out.append(common.table([{"round": i + 1, **p} for i, p in enumerate(r["pairs"])] +
                            [{"round": "median", "build_s": r["build_s"], "raw_s": r["raw_s"],
                              "embed_s": r.get("embed_s", ""), "ratio": r["ratio"],
                              "cpu_ratio": r.get("cpu_ratio", "")}],
                            ["round", "build_s", "embed_in_build_s", "raw_s", "embed_s", "ratio", "cpu_ratio",
                             "load_1min"], "{:.3f}"))
    out += ["", f"Build {r['build_chunks_per_s']:.2f} chunks/s; embedder alone {r['raw_chunks_per_s']:.2f} chunks/s "
                f"({r['raw_texts_per_s']:.1f} texts/s, {r['raw_tokens_per_s']:.0f} word pieces/s); "
                f"ratio **{r['ratio']:.3f}**; model load {r['model_load_s']:.1f} s (not in the build time).", ""]
    out.append(common.table([{"stage": k.strip() if not k.startswith("  ") else "↳ " + k.strip(), "seconds": v,
                              "share of build": r["stages_share"][k]} for k, v in r["stages_s"].items()],
                            ["stage", "seconds", "share of build"], "{:.3f}"))
    if "profile" in r:
        out += ["", f"Profiled build ({r['profile']['build_s_profiled']:.1f} s under cProfile), top functions by own time:", ""]
        out.append(common.table(r["profile"]["top_own_time"][:12], ["function", "calls", "own_s", "cumulative_s"],
                                "{:.3f}"))
    return "\n".join(out)


def latency(r: dict[str, Any]) -> str:
    rows = []
    for row in r["rows"]:
        item = {"chunks": f"{row['chunks']:,}", "FAISS": row["index_type"], "queries": row["modes"]["hybrid"]["n"]}
        for mode, v in row["modes"].items():
            item[mode] = f"{v['median_ms']:.1f} / {v['p95_ms']:.1f}"
        item["embed query"] = f"{row['embed_query']['median_ms']:.1f} / {row['embed_query']['p95_ms']:.1f}"
        rows.append(item)
    modes = list(r["rows"][0]["modes"])
    out = ["Median / p95 ms per call (k=5):", "", common.table(rows, ["chunks", "FAISS", "queries", *modes, "embed query"])]
    out += ["", "Hybrid search, mean ms per call by retriever stage:", ""]
    stages = list(r["rows"][0].get("hybrid_stages_mean_ms", {}))
    out.append(common.table([{"chunks": f"{row['chunks']:,}", **row.get("hybrid_stages_mean_ms", {})}
                             for row in r["rows"]], ["chunks", *stages], "{:.1f}"))
    return "\n".join(out)


def faiss_choice(r: dict[str, Any]) -> str:
    rows = [{"n": f"{x['n']:,}", "index": x["index"], "setting": x["setting"], "build_s": x["build_s"],
             "MiB": x["index_bytes"] / 2**20, "RSS +MiB": x["rss_delta_bytes"] / 2**20, "median_ms": x["median_ms"],
             "p95_ms": x["p95_ms"], "recall@10": x["recall_at_10"],
             "score ratio@10": x.get("score_ratio_at_10", float("nan"))} for x in r["rows"]]
    return (f"{r['queries']} SQuAD questions, k={r['k']}, vectors: {r.get('vectors', 'pool')}, noise {r['noise']}.\n\n" +
            common.table(rows, ["n", "index", "setting", "build_s", "MiB", "RSS +MiB", "median_ms", "p95_ms",
                                "recall@10", "score ratio@10"], "{:.3f}"))


def open_time(r: dict[str, Any]) -> str:
    rows = [{"chunks": f"{x['chunks']:,}", "FAISS": x["index_type"], "model load s": x["model_load_s"],
             "open s": x["open_s"], "first ask s": x["first_ask_s"], "open + first answer s": x["open_plus_first_answer_s"],
             "2nd ask s": x["second_ask_s"], "BM25 load s": x["bm25_load_s"],
             "BM25 rebuild s": x.get("bm25_rebuild_s", float("nan"))} for x in r["rows"]]
    out = [common.table(rows, list(rows[0]), "{:.2f}"), "", "Open, by part (s):", ""]
    parts = list(r["rows"][0]["open_parts_s"])
    out.append(common.table([{"chunks": f"{x['chunks']:,}", **x["open_parts_s"]} for x in r["rows"]],
                            ["chunks", *parts], "{:.2f}"))
    return "\n".join(out)


def memory(r: dict[str, Any]) -> str:
    rows = []
    for x in r["rows"]:
        files = x.get("index_files_bytes", {})
        rows.append({"chunks": f"{x['chunks']:,}", "build peak": common.mib(x["build"]["peak_rss_bytes"]),
                     "model only": common.mib(x["rss_after_model_bytes"]),
                     "after open": common.mib(x["rss_after_open_bytes"]),
                     "after 1st answer": common.mib(x["rss_after_first_answer_bytes"]),
                     "serving peak": common.mib(x["serve_peak_rss_bytes"]),
                     "BM25 in RAM": common.mib(x["bm25_memory_bytes"]),
                     "disk total": common.mib(x["index_bytes"]),
                     "chunk vectors": common.mib(files.get("chunk_vectors.npy", 0)),
                     "sentence vectors": common.mib(files.get("sentence_vectors.npy", 0)),
                     "FAISS": common.mib(files.get("vectors.faiss", 0)),
                     "SQLite": common.mib(files.get("store.sqlite", 0))})
    return "MiB:\n\n" + common.table(rows, list(rows[0]), "{:.0f}")


def textbook(r: dict[str, Any]) -> str:
    rows = []
    for name, d in r["datasets"].items():
        for system in [k for k in d if k.startswith(("textbook", "ours"))]:
            x = d[system]
            rows.append({"dataset": name, "system": system.replace("_", " "), "queries": x.get("queries", ""),
                         "chunks": x.get("chunks", ""), "build_s": x["build_s"], "median_ms": x["median_ms"],
                         "p95_ms": x.get("p95_ms", ""), "hit@5": x["hit_at_5"], "MRR@10": x["mrr_at_10"]})
    return common.table(rows, ["dataset", "system", "queries", "chunks", "build_s", "median_ms", "p95_ms", "hit@5",
                               "MRR@10"], "{:.3f}")


def chunk_vectors(r: dict[str, Any]) -> str:
    rows = []
    for name, d in r["datasets"].items():
        for mode in ("hybrid", "dense", "bm25"):
            x = d[mode]
            rows.append({"dataset": name, "mode": mode, "questions": x["questions"],
                         **{f"embed {m}": x["embed"][m] for m in ("hit@1", "hit@5", "mrr@10")},
                         **{f"sentence_mean {m}": x["sentence_mean"][m] for m in ("hit@1", "hit@5", "mrr@10")},
                         **{f"Δ {m} [95% CI]": "{:+.3f} [{:+.3f}, {:+.3f}]".format(*x["diff"][m])
                            for m in ("hit@5", "mrr@10")}})
    out = [common.table(rows, list(rows[0]), "{:.3f}")]
    demo = r["datasets"].get("demo")
    if demo:
        out += ["", f"Demo builds (s): {demo['build_s']}; sentence_mean / embed = "
                    f"{demo['build_ratio_mean_over_embed']:.3f}."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=common.RESULTS)
    ap.add_argument("--out", type=Path, default=common.RESULTS / "summary.md")
    args = ap.parse_args(argv)
    parts = ["# Benchmark results (generated by `python bench/summarize.py` from bench/results/*.json)", ""]
    sections = [("Indexing throughput", "indexing", indexing), ("Query latency", "latency", latency),
                ("FAISS index choice (synthetic index vectors: copies)", "faiss_choice", faiss_choice),
                ("FAISS index choice (mixtures of real vectors)", "faiss_choice_mix", faiss_choice),
                ("Open time", "open_time", open_time),
                ("Textbook LangChain pipeline vs ours", "textbook", textbook),
                ("Chunk vectors: embedded vs sentence mean", "chunk_vectors", chunk_vectors)]
    for title, name, render in sections:
        result = _load(args.results, name)
        if result is None:
            continue
        parts += [f"## {title}", "", _runs(result), "", render(result), ""]
        if name == "open_time":
            parts += ["## Memory", "", memory(result), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
