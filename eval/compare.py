"""Compare configurations on one gold set, and calibrate the abstention threshold.

What it does: builds (or opens) the index once, then evaluates it under several search-time
configurations (``KnowledgeBase.open(index_dir, **options)``; the search mode is a search
argument): dense, BM25, hybrid without sentence scoring, hybrid (the default, with sentence
scoring), hybrid with RRF fusion, and the generative answerer when asked for. It writes
``compare.md`` (a metrics table and the calibration), ``compare.json``, one full result JSON
per configuration, ``metrics.png`` (bars per configuration), ``abstention_tradeoff.png`` and
``abstention_curve.json`` (the trade-off curve from the default configuration's confidences).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.calibrate import DECISION_CONFIDENCE, MAX_FALSE_ABSTENTION, best_threshold, forced_abstentions, tradeoff_curve
from eval.corpus import prepared_kb
from eval.gold import load_gold
from eval.harness import evaluate
from eval.provenance import corpus_sha256, file_sha256, versions
from eval.report import plot_metric_bars, plot_tradeoff, wide_table, write_json
from rag import KnowledgeBase, RagError

DEFAULT_NAME = "hybrid"
# name -> (search mode, search-time Config options, answer mode)
CONFIGURATIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "dense": ("dense", {}, "extractive"),
    "bm25": ("bm25", {}, "extractive"),
    "hybrid-no-sentences": ("hybrid", {"sentence_scoring": False}, "extractive"),
    "hybrid": ("hybrid", {"sentence_scoring": True}, "extractive"),
    "hybrid-rrf": ("hybrid", {"sentence_scoring": True, "fusion": "rrf"}, "extractive"),
    "hybrid-read-8": ("hybrid", {"sentence_scoring": True, "reader_passages": 8}, "extractive"),
}
LLM_CONFIGURATION = ("hybrid-llm", ("hybrid", {"sentence_scoring": True}, "llm"))
TABLE_COLUMNS = ("hit@1", "hit@5", "mrr@10", "ndcg@10", "em", "f1", "answer_recall", "citation_valid",
                 "citation_precision", "abstain_recall", "false_abstention_rate", "latency_p50_ms")


def _open_variant(base: KnowledgeBase, disk: dict[str, Any], options: dict[str, Any]) -> KnowledgeBase:
    """``base``'s index reopened with ``base``'s config changed by ``options`` (sharing its embedder)."""
    target = base.config.with_(**options).to_dict()
    changes = {name: value for name, value in target.items() if disk[name] != value}
    return KnowledgeBase.open(base.index_dir, embedder=base.embedder, **changes)


def calibration(rows: list[dict[str, Any]], threshold: float,
                max_false_abstention: float = MAX_FALSE_ABSTENTION) -> dict[str, Any]:
    """The trade-off curve of per-question confidences and the best threshold under the ceiling; rows
    abstained on at or above the run's ``threshold`` (by a rule) stay abstained at every t."""
    curve = tradeoff_curve([r["confidence"] for r in rows], [r["answerable"] for r in rows],
                           forced=forced_abstentions(rows, threshold))
    return {"curve": curve, "best": best_threshold(curve, max_false_abstention),
            "max_false_abstention": max_false_abstention}


def _markdown(summary: dict[str, Any], table: dict[str, dict[str, Any]], calib: dict[str, Any]) -> str:
    best = calib["best"]
    lines = [
        "# Configuration comparison", "",
        f"Gold `{summary['gold']}` (sha256 {summary['gold_sha256'][:12]}), corpus `{summary['corpus']}` "
        f"(sha256 {summary['corpus_sha256'][:12]}), k={summary['k']}, embedder `{summary['embedder']}`. "
        f"Retrieval metrics over answerable questions, abstention over all.", "",
        wide_table(table, TABLE_COLUMNS, markdown=True), "",
    ]
    for name, error in summary["errors"].items():
        lines.append(f"- {name}: not run ({error})")
    lines += ["", "## Abstention calibration (configuration `hybrid`)", "",
              f"Abstain when confidence < t. The answerer abstains below confidence {summary['abstain_threshold']} (the reader's calibrated threshold).", ""]
    if best is None:
        lines.append(f"No threshold keeps false_abstention_rate <= {calib['max_false_abstention']}.")
    else:
        lines.append(f"Best t = {best['threshold']:.2f} (ties up to {best['range'][1]:.2f}): abstain_recall "
                     f"{best['abstain_recall']:.3f}, false_abstention_rate {best['false_abstention_rate']:.3f}, "
                     f"maximising abstain_recall - false_abstention_rate with false_abstention_rate <= "
                     f"{calib['max_false_abstention']}.")
    lines += ["", "| t | abstain_recall | false_abstention_rate | abstain_precision |", "|---:|---:|---:|---:|"]
    lines += [f"| {p['threshold']:.2f} | {p['abstain_recall']:.3f} | {p['false_abstention_rate']:.3f} | "
              f"{p['abstain_precision']:.3f} |" for p in calib["curve"][::5]]
    lines += ["", "![metrics](metrics.png)", "", "![abstention trade-off](abstention_tradeoff.png)", ""]
    return "\n".join(lines)


def run_compare(gold: str | Path, corpus: str | Path, out_dir: str | Path, *, index: str | Path | None = None,
                k: int = 5, overrides: dict[str, Any] | None = None, llm: bool = False,
                progress: bool = False) -> dict[str, Any]:
    """Evaluate every configuration, write the report files into ``out_dir``; return the summary."""
    out_dir = Path(out_dir)
    configs = dict(CONFIGURATIONS)
    if llm:
        configs[LLM_CONFIGURATION[0]] = LLM_CONFIGURATION[1]
    load_gold(gold)
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    with prepared_kb(corpus, index, overrides or {}, progress=progress) as base:
        items = load_gold(gold, {d.doc_id: d.text for d in base.documents()})
        disk = KnowledgeBase.open(base.index_dir, embedder=base.embedder).config.to_dict()
        for name, (mode, options, answer_mode) in configs.items():
            try:
                kb = _open_variant(base, disk, options)
                results[name] = evaluate(kb, items, k=k, mode=mode, answer_mode=answer_mode, progress=progress,
                                         desc=name)
            except (RagError, ImportError) as e:
                if answer_mode != "llm":
                    raise
                errors[name] = str(e)
        embedder, threshold = base.config.embedder, DECISION_CONFIDENCE
    calib = calibration(results[DEFAULT_NAME]["rows"], threshold)
    table = {name: r["metrics"] for name, r in results.items()}
    summary = {"gold": str(gold), "corpus": str(corpus), "gold_sha256": file_sha256(gold),
               "corpus_sha256": corpus_sha256(corpus), "k": k, "embedder": embedder, "abstain_threshold": threshold,
               "versions": versions(), "errors": errors,
               "configurations": {name: {"metrics": r["metrics"], "ci": r["ci"], "by_type": r["by_type"],
                                         "config": r["config"]} for name, r in results.items()},
               "calibration": {"best": calib["best"], "max_false_abstention": calib["max_false_abstention"]}}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        write_json(out_dir / f"{name}.json", r)
    write_json(out_dir / "compare.json", summary)
    write_json(out_dir / "abstention_curve.json", {**calib, "configuration": DEFAULT_NAME,
                                                   "abstain_threshold": threshold})
    plot_metric_bars(table, out_dir / "metrics.png")
    plot_tradeoff(calib["curve"], out_dir / "abstention_tradeoff.png", calib["best"], current=threshold)
    (out_dir / "compare.md").write_text(_markdown(summary, table, calib), encoding="utf-8")
    summary["table"] = table
    summary["curve"] = calib["curve"]
    return summary
