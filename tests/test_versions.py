"""Disagreements: versions of an answer (rag.versions), who says each (rag.attribution), per-source
answers (kb.ask(by_source=True), rag ask --by-source) and the conflict metrics of the eval suite.

The pure parts are tested on plain values; attribution on hand-written sentences (the parser is a
model, so these are sentences of the plainest news shapes); kb.ask on a small corpus of fictional
articles written for these tests, where two outlets, and two speakers in one article, disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from eval import metrics as M
from eval.check_gold import validate_lines
from rag import KnowledgeBase
from rag.attribution import speakers
from rag.versions import agree, amount_key, group_versions, is_amount, same_topic

# ---------------------------------------------------------------------------- pure parts


def test_amounts_agree_when_they_state_the_same_values() -> None:
    assert agree("about 2,500", "some 2,500") and agree("2,500", "2500 troops")
    assert agree("2.5 million", "2,500,000") and agree("several thousand demonstrators", "thousands")
    assert agree("January 3, 2020", "3 January")  # one is more precise, nothing contradicts
    assert not agree("109", "110") and not agree("hundreds of thousands", "thousands")
    assert not agree("2,500", "hundreds or up to a few thousand")  # a figure against a magnitude: two statements
    assert not agree("January 3, 2020", "January 3, 2021") and not agree("10 to 15 cents", "5 cents")
    assert agree("Abu Mahdi al-Muhandis", "al-Muhandis") and not agree("Iraq", "the United States")


def test_amount_key_reads_figures_magnitudes_and_alternatives() -> None:
    assert amount_key("hundreds of thousands") == (1e5,) and amount_key("tens of thousands") == (1e4,)
    assert amount_key("hundreds or up to a few thousand") == (100.0, 1000.0)
    assert amount_key("10 to 15 cents") == (10.0, 15.0) and amount_key("some 2,500 troops") == (2500.0,)
    assert amount_key("the mayor") is None and not is_amount("Tomas Ekdal") and is_amount("dozens")


@dataclass(frozen=True)
class _Cand:
    text: str
    score: float
    docs: frozenset[str]


def _c(text: str, score: float, *docs: str) -> _Cand:
    return _Cand(text, score, frozenset(docs))


def test_group_versions_needs_another_voice_a_close_score_and_an_amount() -> None:
    assert group_versions([_c("109", 4.0, "a"), _c("110", 3.5, "b"), _c("Sunday", 3.0, "a")], 0.0) == [[0], [1]]
    assert group_versions([_c("109", 4.0, "a"), _c("110", 3.5, "a")], 0.0) == [[0]]  # same article, no speakers
    assert group_versions([_c("109", 4.0, "a"), _c("110", 0.5, "b")], 0.0) == [[0]]  # far below the best
    assert group_versions([_c("109", 4.0, "a"), _c("110", 3.5, "b")], 3.6) == [[0]]  # under the threshold
    assert group_versions([_c("Ann", 4.0, "a"), _c("Bo", 3.9, "b")], 0.0) == [[0]]  # names do not dispute
    # agreeing phrasings join the version; a rival's own agreeing phrasing joins the rival
    cands = [_c("about 2,500", 3.0, "a"), _c("some 2,500", 2.8, "b"), _c("hundreds", 2.5, "c"),
             _c("hundreds of them", 2.0, "d")]
    assert group_versions(cands, 0.0) == [[0, 1], [2, 3]]
    # one article, two speakers: a rival when the caller says the speakers differ
    same = [_c("800", 3.0, "a"), _c("5,000", 2.9, "a")]
    assert group_versions(same, 0.0, lambda x, y: True) == [[0], [1]]
    assert group_versions(same, 0.0, lambda x, y: False) == [[0]]
    # a rival must be about the same thing as the best
    two = [_c("109", 4.0, "a"), _c("110", 3.5, "b")]
    assert group_versions(two, 0.0, related=lambda x, y: False) == [[0]]
    assert group_versions(two, 0.0, related=lambda x, y: True) == [[0], [1]]


def test_same_topic_needs_shared_words_and_close_meaning() -> None:
    a = ("The strikes left 110 US troops with traumatic brain injuries.", "110")
    b = ("The Pentagon said 109 US troops were diagnosed with traumatic brain injuries.", "109")
    c = ("The museum holds 22,000 drawings from the nineteenth century.", "22,000")
    assert same_topic(a, b) and not same_topic(a, c)
    assert same_topic(a, b, cosine=0.8) and not same_topic(a, b, cosine=0.2)  # sentence vectors far apart


def test_speakers_are_read_from_the_sentence() -> None:
    cases = [("According to the Pentagon, there were 109 US troops diagnosed with brain injuries.", "109"),
             ("Police said about 800 people attended, while organisers put the number at 5,000.", "800"),
             ("Police said about 800 people attended, while organisers put the number at 5,000.", "5,000"),
             ("The union said 1,200 workers walked out; the company said fewer than 400 did.", "400"),
             ("A rise of 5 cents was more likely, according to the ministry.", "5 cents"),
             ("Several thousand demonstrators rallied in the capital on Saturday.", "Several thousand"),
             ("He said 40 people were hurt.", "40"),
             ("The mayor announced the opening.", "The mayor")]
    got = speakers([(s, s.index(a), s.index(a) + len(a)) for s, a in cases])
    assert got == ["the Pentagon", "Police", "organisers", "the company", "the ministry", "", "", ""]


def test_match_versions_needs_each_side_with_its_own_citation() -> None:
    gold = [(["110"], ["b"]), (["109"], ["c"])]
    assert M.match_versions([("110", ["b"]), ("109", ["c"])], gold) == [0, 1]
    assert M.match_versions([("109", ["c"]), ("110", ["b", "x"])], gold) == [1, 0]
    assert M.match_versions([("110", ["b"])], gold) is None  # one side missing
    assert M.match_versions([("110", ["b"]), ("109", ["b"])], gold) is None  # 109 not cited where it is said
    assert M.match_versions([("110 or 109", ["b", "c"])], gold) is None  # one version cannot be both sides
    assert M.same_speaker("the Pentagon", "Pentagon") and not M.same_speaker("", "Pentagon")


def test_gold_versions_are_validated() -> None:
    def errors(rec: dict) -> list[str]:
        return validate_lines([json.dumps(rec)])[1]

    base = {"id": "q", "question": "How many?", "answers": ["109", "110"], "evidence": [{"doc_id": "a", "quote": "x"}],
            "answerable": True, "type": "conflict"}
    good = {**base, "versions": [{"answers": ["109"], "doc_ids": ["a"], "by": "the Pentagon"},
                                 {"answers": ["110"], "doc_ids": ["b"]}]}
    assert errors(good) == []
    assert any("two or more" in e for e in errors({**base, "versions": [good["versions"][0]]}))
    assert any("not in the question's answers" in e for e in errors(
        {**base, "versions": [{"answers": ["111"], "doc_ids": ["a"]}, good["versions"][1]]}))
    assert any("only a conflict question" in e for e in errors({**good, "type": "numeric"}))
    assert any("versions[1].doc_ids: missing" in e for e in errors(
        {**base, "versions": [good["versions"][0], {"answers": ["110"]}]}))


# ---------------------------------------------------------------------------- kb.ask on disagreeing articles

ARTICLES = {
    "tunnel_ledger": ("Northern Ledger", "Tunnel flooding closes the Varn line",
                      ("The Varn rail tunnel flooded on Tuesday after a water main burst above it. "
                       "Fourteen people were injured in the evacuation, the fire service said. "
                       "Engineers expect the line to reopen within two weeks.")),
    "tunnel_wire": ("City Wire", "Varn tunnel evacuated after flood",
                    ("Water poured into the Varn rail tunnel on Tuesday when a main burst. "
                     "Seventeen people were injured as passengers were led out, according to the regional hospital. "
                     "The operator said repairs would take about two weeks.")),
    "march_courier": ("Valley Courier", "Thousands march for the Dunby clinic",
                      ("Protesters marched through Dunby on Saturday to save the town's clinic. "
                       "Police said about 800 people attended, while organisers put the number at 5,000. "
                       "The health board will decide the clinic's future in May.")),
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    folder = tmp_path_factory.mktemp("disagree")
    for stem, (source, title, body) in ARTICLES.items():
        (folder / f"{stem}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")
        (folder / f"{stem}.meta.json").write_text(json.dumps({"source": source, "title": title}), encoding="utf-8")
    return KnowledgeBase.build([folder], tmp_path_factory.mktemp("idx") / "index")


def test_two_speakers_in_one_article_are_two_versions(kb: KnowledgeBase) -> None:
    answer = kb.ask("How many people attended the march in Dunby?")
    assert not answer.abstained and answer.disputed, answer.text
    by_value = {v.value: v for v in answer.versions}
    assert set(by_value) == {"about 800", "5,000"} or set(by_value) == {"800", "5,000"}, answer.versions
    said = {v.value.removeprefix("about "): v.attribution for v in answer.versions}
    assert said == {"800": "Police", "5,000": "organisers"}
    for v in answer.versions:
        quotes = [c.quote for c in answer.citations if c.marker in v.markers]
        assert quotes and all(v.value in q for q in quotes)
    assert "according to Police" in answer.text and "according to organisers" in answer.text


def test_by_source_answers_each_source_and_names_the_silent_ones(kb: KnowledgeBase) -> None:
    answer = kb.ask("How many people were injured in the Varn tunnel?", by_source=True)
    assert not answer.abstained
    by_source = {v.sources[0]: v for v in answer.versions}
    assert set(by_source) == {"Northern Ledger", "City Wire"}, answer.versions
    assert by_source["Northern Ledger"].value.lower() == "fourteen"
    assert by_source["City Wire"].value.lower() == "seventeen"
    assert "Valley Courier" in answer.unanswered_sources
    cited = {c.marker: c for c in answer.citations}
    for v in answer.versions:  # each source's version cites that source's article only
        assert {cited[m].doc_id for m in v.markers} == set(v.doc_ids)
        assert all(ARTICLES[d][0] == v.sources[0] for d in v.doc_ids)
    assert sorted(cited) == list(range(1, len(cited) + 1))
    assert answer.to_dict()["unanswered_sources"] == list(answer.unanswered_sources)


def test_by_source_refuses_the_llm_mode(kb: KnowledgeBase) -> None:
    from rag import ConfigError

    with pytest.raises(ConfigError, match="by_source"):
        kb.ask("How many people were injured?", mode="llm", by_source=True)


def test_by_source_keeps_the_filters_and_refuses_an_empty_question(kb: KnowledgeBase) -> None:
    from rag import QueryError

    answer = kb.ask("How many people were injured in the Varn tunnel?", by_source=True,
                    filters={"source": ["City Wire"]})
    assert [v.sources[0] for v in answer.versions] == ["City Wire"]
    assert {c.doc_id for c in answer.citations} == {"tunnel_wire"}
    assert answer.unanswered_sources == ()  # sources left out by the filter are not "silent"
    with pytest.raises(QueryError):
        kb.ask("   ", by_source=True)
