"""Shared helpers for the benchmarks: the SQuAD corpus, machine facts, timing, results.

Every benchmark script writes ``bench/results/<name>.json`` with a ``machine`` block
(cores, memory, load average, library versions, date) next to its figures, and prints a
plain-text table. Scripts import this module as ``common`` (``bench/`` is put on
``sys.path`` by the script itself), so they run as ``python bench/<name>.py`` from the
repository root without installing anything.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PLOTS = BENCH / "plots"
# Git-ignored: corpora, built indexes, embeddings. BENCH_CACHE moves it (the smoke test does).
CACHE = Path(os.environ.get("BENCH_CACHE") or BENCH / ".cache")
DEFAULT_SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad" / "dev-v1.1.reconstructed.json"
QUESTION_SEED = 13


# ---------------------------------------------------------------------------- SQuAD


@dataclass(frozen=True)
class Paragraph:
    pid: str  # document id in the corpus, "sq-0000" in file order
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    qid: str
    pid: str  # the paragraph the question was written on
    text: str
    answers: tuple[str, ...]


def load_squad(path: Path = DEFAULT_SQUAD, limit: int = 0) -> tuple[list[Paragraph], list[Question]]:
    """Paragraphs (first ``limit`` if > 0) and their questions, in file order."""
    if not Path(path).is_file():
        raise SystemExit(f"SQuAD file not found: {path} (pass --squad PATH)")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    for article in data["data"]:
        title = article["title"].replace("_", " ")
        for para in article["paragraphs"]:
            pid = f"sq-{len(paragraphs):04d}"
            paragraphs.append(Paragraph(pid, title, para["context"]))
            for qa in para["qas"]:
                questions.append(Question(qa["id"], pid, qa["question"], tuple(a["text"] for a in qa["answers"])))
            if limit and len(paragraphs) >= limit:
                return paragraphs, questions
    return paragraphs, questions


def write_corpus(paragraphs: Sequence[Paragraph], path: Path) -> Path:
    """The paragraphs as a ``.jsonl`` corpus (one record per paragraph: id, title, text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for p in paragraphs:
            fh.write(json.dumps({"id": p.pid, "title": p.title, "text": p.text}, ensure_ascii=False) + "\n")
    return path


def sample_questions(questions: Sequence[Question], n: int, seed: int = QUESTION_SEED) -> list[Question]:
    """A fixed random sample of ``n`` questions (all of them if fewer)."""
    if n >= len(questions):
        return list(questions)
    return random.Random(seed).sample(list(questions), n)


# ---------------------------------------------------------------------------- embedders


def make_embedder(spec: str):  # noqa: ANN201 - rag.embed.Embedder
    """``"hash"`` (model-free, for --quick) or the bundled model, loaded now (outside timings).

    ``spec`` is "hash", "minilm" or a full embedder spec.
    """
    from rag.embed import make_embedder as make

    embedder = make(embedder_spec(spec))
    embedder.embed(["warm up"])
    return embedder


def embedder_spec(spec: str) -> str:
    from rag.config import DEFAULT_EMBEDDER

    return "hash" if spec == "hash" else spec if spec not in ("minilm", "") else DEFAULT_EMBEDDER


# ---------------------------------------------------------------------------- measuring


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``q`` in 0..100."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p95, mean and max in milliseconds, plus the count."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "median_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"), "max_ms": max(ms) if ms else float("nan")}


def time_calls(fn: Callable[[Any], Any], items: Iterable[Any], warmup: int = 0) -> list[float]:
    """Wall time of ``fn(item)`` per item, after ``warmup`` untimed calls on the first items."""
    items = list(items)
    for item in items[:warmup]:
        fn(item)
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t)
    return out


def rss_bytes() -> int:
    """Current resident set size of this process."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def gib(n: float) -> float:
    return n / 2**30


def mib(n: float) -> float:
    return n / 2**20


# ---------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    """Facts about this machine and run, stored with every result."""
    import psutil

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("numpy", "faiss", "torch", "sentence_transformers", "scipy"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            pass
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(gib(psutil.virtual_memory().total), 1), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "versions": versions}


def write_result(name: str, payload: dict[str, Any], out_dir: Path | None = None,
                 merge_on: str | None = None) -> Path:
    """Write ``payload`` (plus the machine block and the command line) as ``<out_dir>/<name>.json``.

    ``merge_on``: keep the ``rows`` of an existing result whose ``merge_on`` value this run
    did not measure (e.g. the 10^6 rows of an earlier run when this one covers 10^3..10^5);
    each run's command and machine block are kept in ``runs``.
    """
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    run = {"command": "python " + " ".join(sys.argv), "machine": machine()}
    payload = {"benchmark": name, **run, **payload, "runs": [run]}
    if merge_on and path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        mine = {r[merge_on] for r in payload["rows"]}
        kept = [r for r in old.get("rows", []) if r.get(merge_on) not in mine]
        if kept:
            payload["rows"] = sorted(kept + payload["rows"], key=lambda r: r[merge_on])
            payload["runs"] = old.get("runs", []) + [run]
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    return path


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], floats: str = "{:.2f}") -> str:
    """A plain-text (Markdown) table of ``rows`` restricted to ``columns``."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return floats.format(v)
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
