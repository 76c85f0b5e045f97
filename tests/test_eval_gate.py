"""Quality gate: the demo gold set under the default configuration must meet eval/thresholds.json.

Runs every demo question through the harness's Python entry point (``eval.harness.evaluate``)
on the session's real-model demo index, once, then checks each headline metric against its
floor (or ceiling) as a separate test, so a failure names the metric, its value and the bound.
Slow: it needs the real embedding model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.gold import load_gold
from eval.harness import evaluate
from rag import Config, KnowledgeBase

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "eval" / "gold" / "demo.jsonl"
THRESHOLDS = json.loads((ROOT / "eval" / "thresholds.json").read_text(encoding="utf-8"))
SEARCH_FIELDS = ("mode", "fusion", "dense_weight", "rrf_k", "candidates", "sentence_scoring", "sentence_weight",
                 "sentence_dense_weight",
                 "diversity", "dedup_threshold", "mmr_lambda", "reranker", "reader", "reader_passages", "answer_threshold")


class _RememberingEmbedder:
    """The session's embedder, remembering single-text results.

    Each gold question is embedded three times (the harness's search, then retrieval and
    sentence scoring inside ``ask``); the same text gives the same vector, so the metrics are
    unchanged and the gate runs about twice as fast. Latencies are not gated.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if len(texts) != 1:
            return self._inner.embed(texts, progress=progress)
        if texts[0] not in self._memo:
            self._memo[texts[0]] = self._inner.embed(texts, progress=progress)
        return self._memo[texts[0]].copy()


@pytest.fixture(scope="module")
def demo_metrics(demo_kb_real: KnowledgeBase) -> dict[str, float | None]:
    """The default configuration's metrics on the demo gold set (computed once for this module)."""
    defaults = Config()
    assert demo_kb_real.config.embedder == defaults.embedder, "demo_kb_real must use the default embedder"
    # The gate is about the default configuration: reopen with the default search options.
    kb = KnowledgeBase.open(demo_kb_real.index_dir, embedder=_RememberingEmbedder(demo_kb_real.embedder),
                            **{f: getattr(defaults, f) for f in SEARCH_FIELDS})
    items = load_gold(GOLD, {d.doc_id: d.text for d in kb.documents()})
    return evaluate(kb, items, k=5)["metrics"]


@pytest.mark.parametrize("name", sorted(THRESHOLDS["floors"]))
def test_metric_meets_its_floor(demo_metrics: dict[str, float | None], name: str) -> None:
    floor = THRESHOLDS["floors"][name]
    value = demo_metrics[name]
    assert value is not None and value >= floor, \
        f"{name} = {value} is below its floor {floor} (eval/thresholds.json, demo gold set, default config)"


@pytest.mark.parametrize("name", sorted(THRESHOLDS["ceilings"]))
def test_metric_stays_under_its_ceiling(demo_metrics: dict[str, float | None], name: str) -> None:
    ceiling = THRESHOLDS["ceilings"][name]
    value = demo_metrics[name]
    assert value is not None and value <= ceiling, \
        f"{name} = {value} is above its ceiling {ceiling} (eval/thresholds.json, demo gold set, default config)"
