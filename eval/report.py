"""Reports: plain-text and Markdown tables of metrics, and PNG plots (matplotlib, Agg backend).

What it does: formats already computed numbers. It computes nothing and reads no files;
the plot functions write the PNG they are given a path for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PLOT_METRICS = ("hit@1", "hit@5", "mrr@10", "ndcg@10", "em", "f1", "answer_recall", "citation_precision",
                "abstain_recall", "false_abstention_rate")


def fmt(value: Any) -> str:
    """A metric value for a table: 3 decimals, 1 for milliseconds, "-" when undefined."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _fmt_named(name: str, value: Any) -> str:
    if value is not None and name.endswith("_ms"):
        return f"{value:.1f}"
    return fmt(value)


def metrics_table(metrics: Mapping[str, Any], ci: Mapping[str, Sequence[float]] | None = None) -> str:
    """One metric per line, with its 95% interval when there is one."""
    ci = ci or {}
    width = max(len(n) for n in metrics)
    lines = []
    for name, value in metrics.items():
        line = f"{name:<{width}}  {_fmt_named(name, value):>8}"
        if name in ci:
            lo, hi = ci[name]
            line += f"   95% CI [{lo:.3f}, {hi:.3f}]"
        lines.append(line)
    return "\n".join(lines)


def wide_table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str], markdown: bool = False,
               label: str = "config") -> str:
    """A table with one row per key of ``rows`` (first column ``label``) and the given metric columns."""
    header = [label, *columns]
    body = [[label, *(_fmt_named(c, values.get(c)) for c in columns)] for label, values in rows.items()]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:"
                                                                 for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    return "\n".join("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, widths)))
                     for r in [header, *body])


def _pyplot():  # noqa: ANN202 - matplotlib.pyplot module
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric_bars(rows: Mapping[str, Mapping[str, Any]], path: str | Path,
                     metrics: Sequence[str] = PLOT_METRICS) -> None:
    """Grouped bars: for each metric, one bar per configuration."""
    plt = _pyplot()
    labels = list(rows)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(metrics) * max(1, len(labels)) / 3), 4.5))
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        values = [rows[label].get(m) or 0.0 for m in metrics]
        ax.bar([x + i * width for x in range(len(metrics))], values, width, label=label)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(metrics))], list(metrics), rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Metrics per configuration")
    ax.legend(fontsize="small", ncols=min(len(labels), 3))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_tradeoff(curve: Sequence[Mapping[str, float]], path: str | Path, best: Mapping[str, Any] | None = None,
                  current: float | None = None) -> None:
    """Abstention trade-off: abstain_recall (unanswerable) against false_abstention_rate (answerable)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    far = [p["false_abstention_rate"] for p in curve]
    rec = [p["abstain_recall"] for p in curve]
    ax.plot(far, rec, marker=".", label="threshold 0 → 1")
    if best is not None:
        ax.scatter([best["false_abstention_rate"]], [best["abstain_recall"]], color="red", zorder=3,
                   label=f"best t={best['threshold']:.2f}")
    if current is not None:
        point = min(curve, key=lambda p: abs(p["threshold"] - current))
        ax.scatter([point["false_abstention_rate"]], [point["abstain_recall"]], color="green", marker="s",
                   zorder=3, label=f"configured t={current:.2f}")
    ax.axvline(0.05, color="grey", linestyle=":", label="false abstention 0.05")
    ax.set_xlabel("false_abstention_rate (answerable questions)")
    ax.set_ylabel("abstain_recall (unanswerable questions)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Abstention trade-off (abstain when confidence < t)")
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
