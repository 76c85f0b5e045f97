"""The answer verifier behind abstention: its features on hand-made cases, the bundled weights
file and its validation, and the behaviour a user sees (a question whose relation the articles
never state is abstained on; one whose relation they state is answered).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag import Config, KnowledgeBase, RagError
from rag.abstain import (
    DEFAULT_MODEL,
    FEATURES,
    Evidence,
    TermSet,
    VerifierModel,
    answer_label,
    load_model,
    split_terms,
    type_fit,
    verification_features,
    weighted_coverage,
)
from rag.errors import ModelFormatError, ModelNotFoundError


# ---- term matching and coverage -------------------------------------------------------------
def test_terms_match_exactly_or_by_a_shared_stem() -> None:
    terms = TermSet.of(["His successor was named commander of the force in 2020."])
    assert "successor" in terms and "succeed" in terms  # "succeeded" ~ "successor"
    assert "command" in terms and "2020" in terms
    assert "commemor" not in terms and "buri" not in terms and "202" not in terms


def test_weighted_coverage_weights_rare_terms_more() -> None:
    weights = {"soleimani": 1.0, "buri": 3.0}
    assert weighted_coverage(weights, TermSet(["soleimani"])) == pytest.approx(0.25)
    assert weighted_coverage(weights, TermSet(["soleimani", "buri"])) == pytest.approx(1.0)
    assert weighted_coverage({}, TermSet([])) == 1.0


def test_question_terms_split_into_entities_and_relations() -> None:
    weights = {"succeed": 3.0, "soleimani": 1.0, "command": 2.0, "qud": 1.5, "forc": 1.0}
    entities, relations = split_terms("Who succeeded Soleimani as commander of the Quds Force?", weights,
                                      ["Soleimani", "the Quds Force"], heads=())
    assert set(entities) == {"soleimani", "qud", "forc"}
    assert set(relations) == {"succeed", "command"}
    _, relations = split_terms("Which base did the missiles hit?", {"base": 2.0, "missil": 1.0, "hit": 1.0},
                               [], heads={"base"})
    assert set(relations) == {"missil", "hit"}  # the answer-frame noun is not evidence


def test_type_fit_and_answer_label() -> None:
    assert type_fit("PERSON", "person", ("PERSON", "ORG")) == 1.0
    assert type_fit("ORG", "person", ("PERSON", "ORG")) == 0.75
    assert type_fit("DATE", "person", ("PERSON", "ORG")) == 0.0
    assert type_fit("NP", "entity", ("PERSON",)) == 0.5
    assert type_fit(None, "date", ("DATE",)) == 0.25
    spans = (("NP", 0, 22, "the mayor Tomas Ekdal"), ("PERSON", 10, 22, "Tomas Ekdal"))
    assert answer_label("tomas ekdal", spans, lambda s: s.lower().replace("the ", "")) == "PERSON"
    assert answer_label("arnby", spans, str.lower) is None


def _evidence(sentence: str, passage: str, question: str, weights: dict[str, float], **kw: object) -> Evidence:
    best = SimpleNamespace(key="tomas ekdal", text="Tomas Ekdal", score=0.6, docs={"a", "b"},
                           support=[(0.6, "a", 0, len(sentence), "c1")])
    sent = SimpleNamespace(text=sentence, dense=0.5, doc_id="a", start=0, coverage=0.4, passage_rank=2)
    other = SimpleNamespace(text="Other.", dense=0.1, doc_id="b", start=0, coverage=0.8, passage_rank=1)
    defaults = dict(question=question, qtype_name="person", qtype_labels=("PERSON", "ORG"), best=best,
                    second=SimpleNamespace(score=0.3), sentence=sent, sentences=(other, sent),
                    passages=[SimpleNamespace(chunk_id="c1", text=passage, doc_id="a"),
                              SimpleNamespace(chunk_id="c2", text="The bridge was buried in snow.", doc_id="b")],
                    weights=weights, vocab={"open", "bridg", "kessel", "buri"}, heads=frozenset(),
                    question_entities=("Kessel",), sentence_spans=(("PERSON", 0, 11, "Tomas Ekdal"),),
                    key_of=str.lower, heuristic=0.7)
    return Evidence(**{**defaults, **kw})  # type: ignore[arg-type]


def test_features_of_a_hand_made_answer() -> None:
    sentence = "Tomas Ekdal opened the Kessel bridge."
    f = verification_features(_evidence(sentence, sentence + " It cost 40 million euros.",
                                        "Who opened the Kessel bridge?", {"open": 2.0, "kessel": 1.0, "bridg": 1.0}))
    assert list(f) == list(FEATURES)
    assert f["sent_cov"] == pytest.approx(1.0) and f["rel_sent"] == pytest.approx(1.0)
    assert f["key_passage"] == 1.0 and f["key_all"] == 1.0 and f["unseen"] == 0.0
    assert f["type_fit"] == 1.0 and f["margin"] == pytest.approx(0.5) and f["agree"] == pytest.approx(0.5)
    assert f["miss_idf"] == 0.0 and f["ent_sent"] == 1.0
    assert f["max_cov"] == pytest.approx(0.8) and f["sent_rank"] == pytest.approx(0.5)
    assert f["passage_rank"] == pytest.approx(0.5)


def test_features_when_the_asked_relation_is_absent() -> None:
    sentence = "Tomas Ekdal opened the Kessel bridge."
    ev = _evidence(sentence, sentence, "Who demolished the Kessel bridge?",
                   {"demolish": 4.0, "kessel": 1.0, "bridg": 1.0})
    f = verification_features(ev)
    assert f["rel_sent"] == pytest.approx(1 / 5) and f["sent_cov"] == pytest.approx(2 / 6)
    assert f["key_passage"] == 0.0 and f["key_all"] == 0.0 and f["unseen"] == pytest.approx(1 / 3)
    assert f["miss_idf"] == pytest.approx(1.0)  # the rarest question term is the missing relation
    # A term found only in another retrieved passage counts for all_cov and key_all, not the passage.
    f = verification_features(_evidence(sentence, sentence, "Who buried the Kessel bridge?",
                                        {"buri": 4.0, "kessel": 1.0, "bridg": 1.0}))
    assert f["key_passage"] == 0.0 and f["key_all"] == 1.0 and f["all_cov"] == pytest.approx(1.0)


@pytest.mark.parametrize(("qtype", "off_type", "expected"), [
    ("number", 1.0, 1.0),   # "How many ...?" answered with a phrase
    ("date", 1.0, 1.0),     # "When ...?" answered with a place
    ("number", 0.0, 0.0),   # a figure for a figure
    ("person", 1.0, 0.0),   # "who" may be answered by a body or a country: not a strict type
    ("entity", 1.0, 0.0),
])
def test_strict_off_type_marks_a_figure_or_date_question_answered_otherwise(qtype: str, off_type: float,
                                                                             expected: float) -> None:
    sentence = "Tomas Ekdal opened the Kessel bridge."
    ev = _evidence(sentence, sentence, "How many bridges did Tomas Ekdal open?", {"open": 2.0, "bridg": 1.0},
                   qtype_name=qtype, best=SimpleNamespace(key="tomas ekdal", text="Tomas Ekdal", score=0.6,
                                                          docs={"a"}, support=[(0.6, "a", 0, len(sentence), "c1")],
                                                          off_type=off_type))
    f = verification_features(ev)
    assert f["strict_off_type"] == expected and f["off_type"] == off_type


@pytest.mark.parametrize(("question", "qtype", "expected"), [
    ("What model of drone opened the Kessel bridge?", "entity", 1.0),  # a date for "what model"
    ("When did Tomas Ekdal open the Kessel bridge?", "date", 0.0),      # the date was asked for
    ("How long ago was the Kessel bridge opened?", "phrase", 0.0),      # "how" may ask for a duration
])
def test_figure_unasked_marks_a_date_answering_an_open_question(question: str, qtype: str, expected: float) -> None:
    sentence = "In 1998 Tomas Ekdal opened the Kessel bridge."
    ev = _evidence(sentence, sentence, question, {"open": 2.0, "bridg": 1.0}, qtype_name=qtype,
                   best=SimpleNamespace(key="1998", text="1998", score=0.6, docs={"a"},
                                        support=[(0.6, "a", 0, len(sentence), "c1")]),
                   sentence_spans=(("DATE", 3, 7, "1998"), ("PERSON", 8, 19, "Tomas Ekdal")))
    assert verification_features(ev)["figure_unasked"] == expected


# ---- the weights file -----------------------------------------------------------------------
def test_bundled_model_loads_and_gives_probabilities() -> None:
    model = load_model()
    assert model.features == FEATURES and len(model.coef) == len(FEATURES)
    sentence = "Tomas Ekdal opened the Kessel bridge."
    good = verification_features(_evidence(sentence, sentence, "Who opened the Kessel bridge?",
                                           {"open": 2.0, "kessel": 1.0, "bridg": 1.0}))
    bad = verification_features(_evidence(sentence, sentence, "Who demolished the Kessel bridge?",
                                          {"demolish": 4.0, "kessel": 1.0, "bridg": 1.0}))
    assert 0.0 < model.probability(bad) < model.probability(good) < 1.0
    assert json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))["format"] == "rag-abstain-logreg"


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "model.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_corrupt_or_mismatched_weights_give_a_clear_error(tmp_path: Path) -> None:
    good = load_model().to_dict()
    cases = {
        "not valid JSON": "{not json",
        "format": {**good, "format": "something-else"},
        "do not match": {**good, "features": list(FEATURES[:-1])},
        "'coef' must be": {**good, "coef": good["coef"][:-1]},
        "finite": {**good, "mean": [float("nan")] + good["mean"][1:]},
        "positive": {**good, "scale": [0.0] + good["scale"][1:]},
        "'intercept'": {**good, "intercept": "high"},
        "JSON object": [1, 2, 3],
    }
    for needle, data in cases.items():
        with pytest.raises(ModelFormatError, match=needle) as info:
            load_model(_write(tmp_path, data))
        assert isinstance(info.value, RagError)
    with pytest.raises(ModelNotFoundError, match="missing"):
        load_model(tmp_path / "absent.json")
    assert VerifierModel.from_dict(good).coef == load_model().coef  # round trip


# ---- what a user sees -----------------------------------------------------------------------
ARTICLES = {
    "funeral": ("Crowds mourn the general. Tens of thousands of mourners filled the streets of the capital on "
                "Monday for the funeral of General Aram Vesk, who was killed in an air strike on Friday. "
                "The procession was led by his deputy, Colonel Lina Morrow, who spoke of revenge."),
    "strike": ("Air strike kills general. General Aram Vesk was killed on Friday when an air strike hit his "
               "convoy near the airport. The defence ministry said the strike was ordered by President Dario "
               "Kell. Officials said the convoy had just left the airport."),
    "talks": ("Talks resume. Negotiators from both countries met in Geneva on Tuesday to resume talks on a "
              "ceasefire, a week after the strike. The talks were chaired by envoy Mira Sandoval."),
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    folder = tmp_path_factory.mktemp("abstain") / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return KnowledgeBase.build([folder], folder.parent / "index", Config(embedder="hash"))


@pytest.mark.parametrize(("question", "expected"), [
    ("Who ordered the air strike that killed General Aram Vesk?", "Dario Kell"),
    ("Who led the funeral procession of General Aram Vesk?", "Lina Morrow"),
    ("Who chaired the ceasefire talks in Geneva?", "Mira Sandoval"),
])
def test_a_question_whose_relation_is_stated_is_answered(kb: KnowledgeBase, question: str, expected: str) -> None:
    answer = kb.ask(question)
    assert not answer.abstained, (answer.confidence, answer.text)
    assert expected in answer.short_answer


@pytest.mark.parametrize("question", [
    "Who succeeded General Aram Vesk as commander?",
    "In which city was General Aram Vesk buried?",
    "How old was General Aram Vesk when he was killed?",
])
def test_a_question_whose_relation_is_absent_abstains(kb: KnowledgeBase, question: str) -> None:
    answer = kb.ask(question)
    assert answer.abstained, (answer.confidence, answer.short_answer)
    assert answer.short_answer == "" and "do not answer" in answer.text


def test_stated_relations_score_above_absent_ones_whatever_the_threshold(kb: KnowledgeBase) -> None:
    stated = [kb.ask(q).confidence for q in ("Who ordered the air strike that killed General Aram Vesk?",
                                             "Who chaired the ceasefire talks in Geneva?")]
    absent = [kb.ask(q).confidence for q in ("Who succeeded General Aram Vesk as commander?",
                                             "In which city was General Aram Vesk buried?")]
    assert max(absent) < min(stated)
