"""Plots from the benchmark results (matplotlib, Agg): latency, memory and recall vs latency.

Reads ``bench/results/{latency,open_time,faiss_choice}.json`` (whichever exist) and writes
``bench/plots/latency_vs_size.png``, ``memory_vs_size.png``, ``recall_vs_latency.png`` and
``recall_vs_latency_mix.png`` (from ``faiss_choice_mix.json``).

    python bench/plots.py
    python bench/plots.py --results /tmp/res --out /tmp/plots
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _subtitle(result: dict) -> str:
    m = result["machine"]
    return f"{m['cores']} cores, {m['memory_gib']} GiB, {m['date'][:10]}"


def _size_axes(ax, ylabel: str, title: str, **legend) -> None:  # noqa: ANN001 - a matplotlib Axes
    """Log-log axes against the number of chunks, with grid and legend."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, **legend)


def _save(fig, path: Path) -> Path:  # noqa: ANN001 - a matplotlib Figure
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_latency(result: dict, out: Path) -> Path:
    import matplotlib.pyplot as plt

    rows = result["rows"]
    sizes = [r["chunks"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode in rows[0]["modes"]:
        med = [r["modes"][mode]["median_ms"] for r in rows]
        p95 = [r["modes"][mode]["p95_ms"] for r in rows]
        line, = ax.plot(sizes, med, marker="o", label=f"{mode} median")
        ax.plot(sizes, p95, marker="x", linestyle="--", color=line.get_color(), alpha=0.6, label=f"{mode} p95")
    ax.plot(sizes, [r["embed_query"]["median_ms"] for r in rows], marker=".", color="grey",
            label="query embedding alone")
    _size_axes(ax, "ms per query", f"Query latency vs corpus size ({_subtitle(result)})", ncol=2)
    return _save(fig, out / "latency_vs_size.png")


def plot_memory(result: dict, out: Path) -> Path:
    import matplotlib.pyplot as plt

    rows = result["rows"]
    sizes = [r["chunks"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(sizes, [common.gib(r["build"]["peak_rss_bytes"]) for r in rows], marker="o",
            label="build peak RSS, no model (assemble, BM25, FAISS, save)")
    ax.plot(sizes, [common.gib(r["rss_after_open_bytes"]) for r in rows], marker="o", label="RSS after open (model included)")
    ax.plot(sizes, [common.gib(r["serve_peak_rss_bytes"]) for r in rows], marker="o",
            label="serving peak RSS, first answers")
    ax.plot(sizes, [common.gib(r["index_bytes"]) for r in rows], marker="^", linestyle=":", label="index files on disk")
    _size_axes(ax, "GiB", f"Memory vs corpus size ({_subtitle(result)})")
    return _save(fig, out / "memory_vs_size.png")


def plot_recall(result: dict, out: Path, filename: str = "recall_vs_latency.png") -> Path:
    import matplotlib.pyplot as plt

    rows = result["rows"]
    sizes = sorted({r["n"] for r in rows})
    families = sorted({re.sub(r"IVF\d+", "IVF", r["index"]) for r in rows})
    palette = plt.get_cmap("tab10")
    color = {f: palette(i % 10) for i, f in enumerate(families)}

    def family(r: dict) -> str:
        return re.sub(r"IVF\d+", "IVF", r["index"])

    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    for ax, n in zip(axes[0], sizes):
        by_index: dict[str, list[dict]] = {}
        for r in rows:
            if r["n"] == n:
                by_index.setdefault(r["index"], []).append(r)
        for name, rs in by_index.items():
            rs = sorted(rs, key=lambda r: r["median_ms"])
            ax.plot([r["median_ms"] for r in rs], [r["recall_at_10"] for r in rs], marker="o",
                    color=color[family(rs[0])], label=f"{name} ({rs[0]['index_bytes'] / 2**20:,.0f} MiB)")
            for r in rs:
                if r["setting"] != "-":
                    ax.annotate(r["setting"].split("=")[1], (r["median_ms"], r["recall_at_10"]), fontsize=6,
                                xytext=(3, -8), textcoords="offset points")
        ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.axvline(10, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("median ms per query (k=50)")
        ax.set_ylabel("recall@10 vs exact search")
        ax.set_title(f"{n:,} vectors, {result.get('vectors', 'pool')} set ({_subtitle(result)})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, out / filename)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=common.RESULTS)
    ap.add_argument("--out", type=Path, default=common.PLOTS)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    latency = _load(args.results, "latency")
    if latency:
        written.append(plot_latency(latency, args.out))
    opened = _load(args.results, "open_time")
    if opened:
        written.append(plot_memory(opened, args.out))
    for name, png in (("faiss_choice", "recall_vs_latency.png"), ("faiss_choice_mix", "recall_vs_latency_mix.png")):
        faiss_result = _load(args.results, name)
        if faiss_result:
            written.append(plot_recall(faiss_result, args.out, png))
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
