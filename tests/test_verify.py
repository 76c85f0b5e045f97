"""The answer verifier (rag/verify.py): its features, its model file, its fitting, and its use by kb.ask."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Config, KnowledgeBase
from rag.errors import ConfigError, ModelFormatError
from rag.reader import BUNDLED
from rag.verify import FEATURES, VERIFIER, Verifier, features, fit_logistic, load_verifier

ROOT = Path(__file__).resolve().parents[1]
IDF = {"injur": 3.0, "worker": 2.0, "strike": 1.0, "walk": 2.5}


def _features(question: str, passage: str, sentence: str | None = None, **kw: float) -> dict[str, float]:
    args = {"margin": 1.0, "rival": None, "support": 1, **kw}
    return features(idf=IDF, max_idf=5.0, question=question, sentence=sentence or passage, passage=passage,
                    answer="300", **args)  # type: ignore[arg-type]


def test_a_question_term_the_passage_lacks_is_missing_and_uncovered() -> None:
    said = _features("How many workers were injured in the strike?", "300 workers were injured in the strike.")
    assert said["passage_coverage"] == pytest.approx(1.0) and said["missing_idf"] == 0.0
    lacking = _features("How many workers were injured in the strike?", "300 workers walked out in the strike.")
    assert lacking["missing_idf"] == pytest.approx(3.0 / 5.0)  # "injured", the rarest term, is missing
    assert lacking["passage_coverage"] == pytest.approx(3.0 / 6.0)
    unknown = _features("How many welders joined the strike?", "300 workers joined the strike.")
    assert unknown["missing_idf"] == pytest.approx(1.0)  # a term no indexed text holds gets the largest idf


def test_the_sentence_and_the_passage_are_covered_separately_and_rivals_set_the_gap() -> None:
    x = _features("How many workers were injured?", "Doctors said 300 were injured. Workers went home.",
                  sentence="Doctors said 300 were injured.", margin=4.0, rival=1.5)
    assert x["passage_coverage"] == pytest.approx(1.0) and x["sentence_coverage"] == pytest.approx(0.6)
    assert x["gap"] == pytest.approx(2.5) and set(x) == set(FEATURES)
    assert _features("Who?", "Ann.", margin=4.0)["gap"] == 10.0  # no rival: the capped lead


def _verifier(threshold: float = 0.3) -> Verifier:
    coef = tuple(1.0 if f == "margin" else -1.0 if f == "missing_idf" else 0.0 for f in FEATURES)
    return Verifier(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), coef, -0.5, threshold)


def test_confidence_is_one_half_at_the_threshold_and_follows_the_probability() -> None:
    v = _verifier(0.3)
    at = _features("Who?", "Ann.", margin=0.5 + math.log(0.3 / 0.7))
    assert v.probability(at) == pytest.approx(0.3) and v.confidence(at) == pytest.approx(0.5)
    high, low = _features("Who?", "Ann.", margin=3.0), _features("Who?", "Ann.", margin=-3.0)
    assert v.confidence(high) > 0.5 > v.confidence(low)
    assert Verifier.from_dict(json.loads(json.dumps(v.to_dict()))) == v


@pytest.mark.parametrize("change", [{"features": ["margin", "shoe_size"]}, {"threshold": 1.5}, {"threshold": 0.0},
                                    {"coef": [1.0]}, {"scale": [0.0] * len(FEATURES)}, {"intercept": "x"}])
def test_a_malformed_verifier_is_refused_with_the_fix(tmp_path: Path, change: dict) -> None:
    (tmp_path / VERIFIER).write_text(json.dumps({**_verifier().to_dict(), **change}), encoding="utf-8")
    with pytest.raises(ModelFormatError, match="fit_verifier"):
        load_verifier(tmp_path)


def test_no_verifier_file_is_none_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    assert load_verifier(tmp_path) is None
    (tmp_path / VERIFIER).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFormatError, match="fit_verifier"):
        load_verifier(tmp_path)


def test_fit_logistic_recovers_the_direction_of_a_noisy_rule() -> None:
    rng = random.Random(3)
    rows = [[rng.gauss(0, 1), rng.gauss(0, 1)] for _ in range(600)]
    labels = [int(2.0 * a - 0.2 * b + rng.gauss(0, 0.7) > 0.3) for a, b in rows]
    coef, intercept = fit_logistic(rows, labels, l2=1.0)
    assert coef[0] > 2.0 and abs(coef[1]) < 1.0 and intercept < 0
    shrunk, _ = fit_logistic(rows, labels, l2=1000.0)
    assert 0 < shrunk[0] < coef[0]


def test_fit_verifier_script_fits_held_out_articles_and_writes_a_loadable_model(tmp_path: Path) -> None:
    rng, rows = random.Random(5), []
    for i in range(240):
        answerable = rng.random() < 0.6
        margin = rng.gauss(1.5 if answerable else -0.5, 1.5)
        right = answerable and margin > 0.5
        x = {f: rng.gauss(0, 1) for f in FEATURES} | {"margin": margin}
        rows.append({"id": str(i), "article": str(i % 3), "answerable": answerable, "answers": ["Ann Lee"],
                     "margin": margin, "text": "Ann Lee" if right else "Bo", "features": x})
    rows.append({**rows[0], "id": "none", "features": None, "margin": -math.inf, "text": ""})
    (tmp_path / "rows.json").write_text(json.dumps({"reader": "test", "rows": rows}), encoding="utf-8")
    result = subprocess.run([sys.executable, "tools/fit_verifier.py", "--rows", str(tmp_path / "rows.json"),
                             "--reader", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / VERIFIER).read_text(encoding="utf-8"))["cross_validation"]
    assert report["articles"] == 3 and report["verifier_cv"]["best"]["hasans_f1"] > 50
    v = load_verifier(tmp_path)
    assert v is not None and v.coef[v.features.index("margin")] > 0


@pytest.mark.slow
def test_kb_ask_decides_by_the_margin_or_by_a_verifier_shipped_beside_the_reader(tmp_path: Path,
                                                                                  real_embedder) -> None:  # noqa: ANN001
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "strike.txt").write_text(
        "Dock strike ends. About 300 dock workers walked out on Monday in Port Velora over pay, the union said, "
        "and the strike ended on Thursday after the port agreed a rise of 4 percent.", encoding="utf-8")
    kb = KnowledgeBase.build([folder], tmp_path / "index", Config(embedder="bundled:all-MiniLM-L6-v2"),
                             embedder=real_embedder)
    question = "How many dock workers walked out in Port Velora?"
    asked = kb.ask(question)  # the bundled reader ships no verifier: its margin decides
    assert not asked.abstained and "300" in asked.short_answer and asked.confidence > 0.5
    strict = KnowledgeBase.open(tmp_path / "index", answer_threshold=0.999, embedder=real_embedder).ask(question)
    assert strict.abstained and strict.confidence <= 0.5 and not strict.citations
    assert any(n.startswith("reader: p(right)") and "<= threshold 0.999" in n for n in strict.notes), strict.notes
    with_verifier = tmp_path / "reader"  # the same reader with a verifier beside it
    shutil.copytree(BUNDLED, with_verifier)
    (with_verifier / VERIFIER).write_text(json.dumps(_verifier(0.3).to_dict()), encoding="utf-8")
    verified = KnowledgeBase.open(tmp_path / "index", reader=str(with_verifier), embedder=real_embedder)
    answer = verified.ask(question)
    assert not answer.abstained and "300" in answer.short_answer and answer.confidence > 0.5
    declined = KnowledgeBase.open(tmp_path / "index", reader=str(with_verifier), answer_threshold=0.999,
                                  embedder=real_embedder).ask(question)
    assert declined.abstained and any(n.startswith("verifier: p(right)") for n in declined.notes), declined.notes
    with pytest.raises(ConfigError, match="probability"):
        KnowledgeBase.open(tmp_path / "index", answer_threshold=2.0)
