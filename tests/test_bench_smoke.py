"""Smoke test of the benchmark scripts: each runs with ``--quick`` (tiny sizes, the model-free
hash embedder) in a subprocess, exits 0 and writes its JSON with the expected keys.

Marked slow: the six runs start about a dozen Python processes (torch, FAISS and the reader
imports each) and take one to a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad" / "dev-v1.1.reconstructed.json"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SQUAD.is_file(), reason=f"SQuAD v1.1 dev file not found at {SQUAD}"),
]


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env["BENCH_CACHE"] = str(tmp_path_factory.mktemp("bench_cache"))
    return env


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench_results")


def run(script: str, out: Path, env: dict[str, str], *extra: str) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / script), "--quick", "--embedder", "hash", "--out", str(out), *extra]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    name = script.removesuffix(".py")
    result = json.loads((out / f"{name}.json").read_text())
    assert result["benchmark"] == name
    assert {"date", "cores", "memory_gib", "load_average"} <= set(result["machine"])
    return result


def test_indexing(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("indexing.py", out_dir, bench_env, "--profile")
    assert {"build_s", "raw_s", "ratio", "chunks", "sentences", "texts_embedded", "stages_s", "pairs",
            "build_chunks_per_s", "raw_chunks_per_s", "profile"} <= set(r)
    assert r["texts_embedded"] == r["chunk_texts"] + r["sentence_texts"] > 0 and r["chunk_texts"] == r["chunks"]
    assert r["cpu_ratio"] > 0 and all("load_1min" in p for p in r["pairs"])
    assert r["ratio"] > 0 and "embed (model)" in r["stages_s"]


def test_latency(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("latency.py", out_dir, bench_env)
    assert len(r["rows"]) == 2
    for row in r["rows"]:
        assert set(row["modes"]) == {"hybrid", "dense", "bm25", "ask"}
        for v in row["modes"].values():
            assert v["n"] > 0 and v["median_ms"] > 0 and v["p95_ms"] >= v["median_ms"]
        assert {"embed_query", "hybrid_stages_mean_ms", "peak_rss_all_sizes_bytes", "chunks"} <= set(row)


def test_open_time(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("open_time.py", out_dir, bench_env)
    for row in r["rows"]:
        assert {"open_s", "first_ask_s", "open_parts_s", "bm25_load_s", "bm25_rebuild_s", "peak_rss_bytes",
                "serve_peak_rss_bytes", "rss_after_open_bytes", "index_bytes"} <= set(row)
        assert row["build"]["peak_rss_bytes"] > 0
        assert row["bm25_rebuild_same"] is True


def test_faiss_choice(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("faiss_choice.py", out_dir, bench_env)
    names = {row["index"] for row in r["rows"]}
    assert "flat" in names and any(n.startswith("HNSW") for n in names) and any("RFlat" in n for n in names)
    for row in r["rows"]:
        assert {"build_s", "index_bytes", "rss_delta_bytes", "median_ms", "p95_ms", "recall_at_10"} <= set(row)
        assert 0.0 <= row["recall_at_10"] <= 1.0
    assert next(row for row in r["rows"] if row["index"] == "flat")["recall_at_10"] == 1.0


def test_textbook(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("textbook.py", out_dir, bench_env)
    for name in ("demo", "squad"):
        d = r["datasets"][name]
        for system in ("textbook", "ours"):
            assert {"build_s", "median_ms", "hit_at_5", "mrr_at_10", "chunks", "queries"} <= set(d[system])
        assert set(d["ours_over_textbook"]) == {"build_s", "median_ms", "hit_at_5", "mrr_at_10"}


def test_textbook_with_sentence_mean_variant(out_dir: Path, bench_env: dict[str, str], tmp_path: Path) -> None:
    r = run("textbook.py", tmp_path, bench_env, "--datasets", "demo", "--chunk-vectors", "sentence_mean",
            "--repeats", "2")
    d = r["datasets"]["demo"]
    assert {n: len(v) for n, v in d["rounds"].items()} == {"textbook": 2, "ours": 2, "ours_sentence_mean": 2}
    assert d["ours"]["build_s"] == statistics.median(x["build_s"] for x in d["rounds"]["ours"])
    assert {"build_s", "hit_at_5", "mrr_at_10", "chunks"} <= set(d["ours_sentence_mean"])
    assert d["ours_sentence_mean"]["chunks"] == d["ours"]["chunks"]  # same chunks, other vectors
    assert set(d["ours_sentence_mean_over_textbook"]) == {"build_s", "median_ms", "hit_at_5", "mrr_at_10"}


def test_chunk_vectors(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("chunk_vectors.py", out_dir, bench_env)
    for name in ("demo", "squad"):
        for mode in ("hybrid", "dense", "bm25"):
            x = r["datasets"][name][mode]
            assert x["questions"] > 0
            for variant in ("embed", "sentence_mean"):
                assert all(0.0 <= x[variant][m] <= 1.0 for m in ("hit@1", "hit@5", "mrr@10"))
        # BM25 does not use the chunk vectors (only the duplicate filter does): same hits either way.
        bm25 = r["datasets"][name]["bm25"]
        assert bm25["embed"]["hit@5"] == bm25["sentence_mean"]["hit@5"]
    assert r["datasets"]["demo"]["build_ratio_mean_over_embed"] > 0


def test_plots(out_dir: Path, bench_env: dict[str, str], tmp_path: Path) -> None:
    for script in ("latency.py", "open_time.py", "faiss_choice.py"):
        if not (out_dir / script.replace(".py", ".json")).is_file():  # run alone: make the inputs first
            run(script, out_dir, bench_env)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "plots.py"), "--results", str(out_dir),
                           "--out", str(tmp_path)], cwd=ROOT, env=bench_env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for png in ("latency_vs_size.png", "memory_vs_size.png", "recall_vs_latency.png"):
        assert (tmp_path / png).stat().st_size > 10_000


def test_sentence_scoring(out_dir: Path, bench_env: dict[str, str]) -> None:
    r = run("sentence_scoring.py", out_dir, bench_env, "--modes", "hybrid,bm25")
    assert [row["mode"] for row in r["rows"]] == ["hybrid", "bm25"] and r["sentences"] > 0
    for row in r["rows"]:
        assert row["vectorised_median_ms"] > 0 and row["tokenizing_median_ms"] > 0
        assert 0 <= row["hit@1"] <= row["hit@5"] <= 1
