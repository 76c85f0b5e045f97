"""Tests for the learned span ranker (rag.span_rank) and how the answerer pools its scores.

Pooling is tested as a pure function on hand-made occurrences; the bundled weights on made-up
sentences through the bundled spaCy model (never the demo gold answers); the weights file for
corrupt and mismatched content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag import Config, RagError
from rag.answer import (Analyzer, Occurrence, ScoredSentence, candidate_occurrences, extract_candidates,
                        pool_occurrences, question_frame)
from rag.errors import ConfigError, ModelFormatError, ModelNotFoundError
from rag.span_rank import DEFAULT_MODEL, FEATURES, SpanRanker, default_ranker, feature_matrix, load_ranker


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def _occ(key: str, doc: str, start: int = 0) -> Occurrence:
    return Occurrence(key, key.title(), 0.0, tuple(0.0 for _ in FEATURES), (doc, start, start + 10, f"{doc}:0"))


# ---- pooling ------------------------------------------------------------------------------
def test_summed_pooling_adds_the_shares_of_one_answer_across_articles() -> None:
    occs = [_occ("oslo", "a"), _occ("bergen", "b"), _occ("oslo", "c")]
    cands = pool_occurrences(occs, np.array([0.3, 0.4, 0.3]), summed=True)
    assert [c.key for c in cands] == ["oslo", "bergen"]
    assert cands[0].score == pytest.approx(0.6) and cands[0].docs == {"a", "c"}
    # The hand-built mode keeps the best occurrence's score and raises it for agreement instead.
    cands = pool_occurrences(occs, np.array([0.3, 0.4, 0.3]), summed=False)
    assert cands[0].key == "bergen" and cands[0].score == pytest.approx(0.4)
    assert cands[1].score == pytest.approx(0.3 * 1.12)


def test_pooling_keeps_one_support_per_sentence_with_its_best_score() -> None:
    occs = [_occ("oslo", "a", 0), _occ("oslo", "a", 0), _occ("oslo", "a", 50)]
    (cand,) = pool_occurrences(occs, np.array([0.1, 0.5, 0.2]), summed=True)
    assert [(s[0], s[2]) for s in cand.support] == [(0.5, 0), (0.2, 50)]
    assert cand.score == pytest.approx(0.8)


def test_a_candidate_is_described_to_the_verifier_by_its_best_occurrence() -> None:
    fit_low = FEATURES.index("fit_low")
    off = tuple(1.0 if i == fit_low else 0.0 for i in range(len(FEATURES)))
    occs = [Occurrence("oslo", "Oslo", 0.0, off, ("a", 0, 10, "a:0")), _occ("oslo", "b")]
    (cand,) = pool_occurrences(occs, np.array([0.2, 0.8]), True, np.array([1.0, 3.0]))
    assert cand.logit == 3.0 and cand.off_type == 0.0  # the typed occurrence scored higher
    (cand,) = pool_occurrences(occs, np.array([0.8, 0.2]), True, np.array([3.0, 1.0]))
    assert cand.logit == 3.0 and cand.off_type == 1.0


def test_contained_candidates_merge_and_their_shares_add_up() -> None:
    occs = [_occ("tomas ekdal", "a"), _occ("ekdal", "b"), _occ("mira holt", "c")]
    cands = pool_occurrences(occs, np.array([0.3, 0.25, 0.45]), summed=True)
    assert cands[0].key == "tomas ekdal" and cands[0].score == pytest.approx(0.55)


# ---- longer phrases -------------------------------------------------------------------------
def test_longer_phrases_join_coordinations_and_prepositional_phrases(analyzer: Analyzer) -> None:
    text = "Heat and pressure changed the colour of the stone, said engineers at the Kessel quarry."
    phrases = {(label, raw) for label, _, _, raw in analyzer.phrases([text])[0]}
    assert ("NP_COORD", "Heat and pressure") in phrases
    assert ("NP_OF", "the colour of the stone") in phrases
    assert ("NP_PP", "engineers at the Kessel quarry") in phrases
    for label, a, b, raw in analyzer.phrases([text])[0]:
        assert text[a:b] == raw  # exact offsets
    # spaCy's own base chunks stay what spans() reports; the longer ones come only from phrases().
    assert all(label == "NP" or label.isupper() and not label.startswith("NP_")
               for label, *_ in analyzer.spans([text])[0])


# ---- the bundled weights ---------------------------------------------------------------------
def test_bundled_ranker_loads_and_gives_a_softmax() -> None:
    ranker = load_ranker()
    assert ranker.model.features == FEATURES
    x = np.random.default_rng(0).normal(size=(7, len(FEATURES)))
    shares = ranker.shares(x)
    assert shares.shape == (7,) and shares.sum() == pytest.approx(1.0) and (shares > 0).all()
    assert np.argmax(shares) == np.argmax(ranker.scores(x))
    assert ranker.shares(feature_matrix([])).shape == (0,)
    assert json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))["format"] == "rag-span-ranker"


def _best(question: str, sentences: list[str], analyzer: Analyzer, ranker: SpanRanker | None) -> str:
    scored = [ScoredSentence(f"doc{i}", 0, len(t), f"doc{i}:0", t, 0.8 - 0.05 * i, 0.8, 0.8, i + 1)
              for i, t in enumerate(sentences)]
    frame = question_frame(question, analyzer.tokens([question])[0])
    cands = extract_candidates(question, frame.qtype, scored, analyzer, None, frame, ranker)
    assert cands, question
    if ranker is not None:
        assert sum(c.score for c in cands) == pytest.approx(1.0)  # every occurrence's share, pooled
    return cands[0].text


@pytest.mark.parametrize("question, sentences, expected", [
    ("Who founded the Kessel shipyard?",
     ["The Kessel shipyard was founded in 1921 by Tomas Ekdal, whose brother Per Ekdal ran a bakery in Oslo."],
     "Tomas Ekdal"),
    ("When did the Kessel shipyard close?",
     ["Mira Holt, the last manager of the Kessel shipyard, said it closed in March 1988 after the strike."],
     "March 1988"),
    ("How many workers did the Kessel shipyard employ?",
     ["At its peak in 1960 the Kessel shipyard employed 4,300 workers in three docks."], "4,300"),
    ("Where was the Kessel shipyard built?",
     ["Tomas Ekdal built the Kessel shipyard in Bergen, with money lent by a bank from Oslo."], "Bergen"),
])
def test_bundled_ranker_picks_the_span_that_answers(question: str, sentences: list[str], expected: str,
                                                      analyzer: Analyzer) -> None:
    assert _best(question, sentences, analyzer, default_ranker()) == expected


def test_naming_features_mark_the_span_a_naming_word_introduces(analyzer: Analyzer) -> None:
    sentence = "In May the army launched a plan dubbed ‘Operation Blue Heron’ against the smugglers of Tarvik."
    scored = [ScoredSentence("doc0", 0, len(sentence), "doc0:0", sentence, 0.8, 0.8, 0.8, 1)]
    after, asked = FEATURES.index("after_naming"), FEATURES.index("naming_asked")

    def features(question: str) -> dict[str, tuple[float, ...]]:
        frame = question_frame(question, analyzer.tokens([question])[0])
        return {o.text: o.features for o in candidate_occurrences(question, frame.qtype, scored, analyzer, None, frame)}

    named = features("What name was given to the plan against the smugglers?")
    heron = next(f for text, f in named.items() if "Blue Heron" in text)
    assert heron[after] == 1.0 and heron[asked] == 1.0
    assert all(f[after] == 0.0 for text, f in named.items() if "Blue Heron" not in text)
    when = features("When did the army launch its plan?")
    assert all(f[asked] == 0.0 for f in when.values())  # a naming word, but no name is asked for


def test_verb_pp_marks_the_object_of_a_preposition_on_the_questions_verb(analyzer: Analyzer) -> None:
    question = "Where is the Tarvik brigade stationed?"
    sentence = "The Tarvik brigade, a militia backed by Norvia, is stationed along the eastern border."
    scored = [ScoredSentence("doc0", 0, len(sentence), "doc0:0", sentence, 0.8, 0.8, 0.8, 1)]
    frame = question_frame(question, analyzer.tokens([question])[0])
    col = FEATURES.index("verb_pp")
    occs = candidate_occurrences(question, frame.qtype, scored, analyzer, None, frame)
    marked = {o.text for o in occs if o.features[col] == 1.0}
    assert any("eastern border" in t for t in marked)
    assert not any("Norvia" in t for t in marked)  # on "backed", a verb the question does not use


# ---- the weights file and the option ---------------------------------------------------------
def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "ranker.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_corrupt_or_mismatched_ranker_file_gives_a_clear_error(tmp_path: Path) -> None:
    good = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    cases = {
        "not valid JSON": "{not json",
        "format": {**good, "format": "rag-abstain-logreg"},
        "do not match": {**good, "features": list(FEATURES[1:])},
        "'coef' must be": {**good, "coef": good["coef"][:-1]},
        "finite": {**good, "scale": good["scale"][:-1] + [float("inf")]},
        "JSON object": "[]",
    }
    for needle, data in cases.items():
        with pytest.raises(ModelFormatError, match=needle) as info:
            load_ranker(_write(tmp_path, data))
        assert isinstance(info.value, RagError) and "ranker.json" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="missing"):
        load_ranker(tmp_path / "absent.json")
    assert load_ranker(_write(tmp_path, good)).model.coef == load_ranker().model.coef  # round trip


def test_span_ranker_option_is_validated() -> None:
    assert Config().span_ranker == "learned"
    assert Config(span_ranker="heuristic").span_ranker == "heuristic"
    with pytest.raises(ConfigError, match="span_ranker"):
        Config(span_ranker="neural")
