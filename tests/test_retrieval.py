"""Retrieval parts: fusion and diversity as pure functions on hand-made rankings, sentence-level
scoring (vectorised and tokenizing paths agree), diversity and reranking inside a search, and
the LangChain retriever. Filters, modes and query handling are in ``test_store_kb.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Config, KnowledgeBase
from rag.errors import ConfigError
from rag import fusion
from rag.lexical import Acronyms, BM25Index, acronym_definitions, best_long_form, incidence, tokenize
from rag.store import load


# ---- fusion: pure functions ---------------------------------------------------------------------
DENSE = {"a": 0.9, "b": 0.5, "c": 0.1}
LEXICAL = {"c": 12.0, "d": 4.0, "e": 2.0}


def test_minmax_scales_to_unit_range_and_handles_ties_and_empty() -> None:
    assert fusion.minmax({"x": 2.0, "y": 4.0, "z": 3.0}) == {"x": 0.0, "y": 1.0, "z": 0.5}
    assert fusion.minmax({"x": 7.0, "y": 7.0}) == {"x": 1.0, "y": 1.0}
    assert fusion.minmax({}) == {}


def test_weighted_fusion_is_a_convex_combination_of_normalised_scores() -> None:
    fused = fusion.fuse("weighted", [DENSE, LEXICAL], dense_weight=0.5)
    expected = {"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.5 * 0.2, "e": 0.0}
    assert fused.keys() == expected.keys()
    for item, value in expected.items():
        assert fused[item] == pytest.approx(value), item
    dense_only = fusion.fuse("weighted", [DENSE, LEXICAL], dense_weight=1.0)
    assert fusion.top_k(dense_only, 3) == ["a", "b", "c"]


def test_rrf_sums_reciprocal_ranks_with_weights() -> None:
    fused = fusion.fuse("rrf", [DENSE, LEXICAL], dense_weight=0.5, rrf_k=60)
    # c is 3rd in dense and 1st in BM25; the weights are 2 * 0.5 = 1 each.
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["e"] == pytest.approx(1 / 63)
    assert fusion.top_k(fused, 1) == ["c"]


def test_weighted_fusion_keeps_a_dominant_bm25_hit_that_rrf_demotes() -> None:
    """The failure that made weighted fusion the default: one ranking is sure, the other is flat."""
    dense = {"x": 0.50, "y": 0.49, "z": 0.48, "w": 0.47, "gold": 0.30, "p": 0.10, "q": 0.05}
    lexical = {"gold": 25.0, "x": 3.0, "y": 2.9, "z": 2.8, "w": 2.7}
    weighted = fusion.top_k(fusion.fuse("weighted", [dense, lexical], 0.5), 5)
    rrf = fusion.top_k(fusion.fuse("rrf", [dense, lexical], 0.5), 5)
    assert weighted[0] == "gold"
    assert rrf.index("gold") > weighted.index("gold")


def test_max_fusion_takes_each_items_best_normalised_score() -> None:
    fused = fusion.fuse("max", [DENSE, LEXICAL], dense_weight=0.5)
    assert fused["c"] == pytest.approx(0.5) and fused["a"] == pytest.approx(0.5)
    assert fused["b"] == pytest.approx(0.25) and fused["e"] == 0.0


def test_unknown_fusion_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        fusion.fuse("borda", [DENSE, LEXICAL], 0.5)


def test_top_k_is_stable_for_ties() -> None:
    assert fusion.top_k({"p": 1.0, "q": 2.0, "r": 1.0, "s": 1.0}, 3) == ["q", "p", "r"]


# ---- diversity: pure functions ------------------------------------------------------------------
def _unit(rows: list[list[float]]) -> np.ndarray:
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


VECTORS = _unit([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0.7, 0.7, 0], [0, 0, 1]])


def test_dedup_select_drops_near_copies_but_still_fills_k() -> None:
    assert fusion.dedup_select([0, 1, 2, 3, 4], VECTORS, k=3, threshold=0.95) == [0, 2, 3]
    assert fusion.dedup_select([0, 1, 2], VECTORS, k=3, threshold=1.01) == [0, 1, 2]


def test_dedup_select_honours_the_same_callback() -> None:
    same = lambda a, b: {a, b} == {2, 4}  # noqa: E731 - e.g. identical text
    assert fusion.dedup_select([2, 4, 0], VECTORS, k=2, threshold=0.99, same=same) == [2, 0]


def test_mmr_trades_relevance_for_novelty() -> None:
    relevance = {0: 1.0, 1: 0.95, 2: 0.6}
    assert fusion.mmr_select(relevance, VECTORS, k=3, lam=1.0) == [0, 1, 2]
    assert fusion.mmr_select(relevance, VECTORS, k=2, lam=0.5) == [0, 2]


# ---- sentence-level scoring ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("retrieval")
    folder = root / "articles"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "articles", folder)
    return KnowledgeBase.build([folder], root / "index", Config(embedder="hash"))


QUESTIONS = ["Who was killed alongside Soleimani?", "How many US troops suffered traumatic brain injuries?",
             "What did protesters set on fire outside the Green Zone?", "arrest warrant for Trump",
             "When will the combat mission end?"]


def test_incidence_marks_known_terms_once() -> None:
    m = incidence([["iran", "iran", "missil"], ["zzz"], []], {"iran": 0, "missil": 1, "base": 2})
    assert m.toarray().tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_sentence_term_matrix_is_persisted_and_matches_the_sentences(demo_kb: KnowledgeBase) -> None:
    data = load(demo_kb.index_dir)
    matrix = data.bm25.sentence_terms
    assert matrix is not None and matrix.shape == (len(data.sentences), len(data.bm25.vocab))
    acronyms = Acronyms.from_texts(doc.text for doc in data.documents.values())
    assert ("popular", "mobil", "forc") in acronyms.forms["pmf"]
    expanded = 0
    for row, (d, s, e) in enumerate(data.sentences):
        text = data.documents[d].text[s:e]
        terms = acronyms.expand(text, tokenize(text))
        expanded += len(terms) > len(tokenize(text))
        assert set(matrix[row].indices.tolist()) == {data.bm25.vocab[t] for t in terms if t in data.bm25.vocab}
    assert expanded >= 2  # the demo articles write "PMF" bare in several sentences


def test_vectorised_sentence_scores_equal_the_tokenizing_path(demo_kb: KnowledgeBase) -> None:
    retriever = demo_kb._snapshot.retriever
    bm25 = retriever.data.bm25
    rows = list(range(len(retriever.data.chunks)))
    for q in [*QUESTIONS, "How many fighters make up the Popular Mobilization Forces?"]:
        qvec = retriever.embed_query(q)
        fast = retriever.sentence_scores(q, qvec, rows)
        saved, bm25.sentence_terms = bm25.sentence_terms, None
        try:
            slow = retriever.sentence_scores(q, qvec, rows)
        finally:
            bm25.sentence_terms = saved
        assert fast.keys() == slow.keys() and len(fast) == len(rows)
        for row in fast:
            assert fast[row][1] == slow[row][1], (q, row)
            assert fast[row][0] == pytest.approx(slow[row][0], abs=1e-6)


def test_sentence_dense_weight_sets_the_mix_of_cosine_and_term_coverage(demo_kb: KnowledgeBase) -> None:
    q = QUESTIONS[1]
    rows = list(range(len(demo_kb._snapshot.data.chunks)))
    picked = {}
    for w in (0.0, 1.0):
        retriever = KnowledgeBase.open(demo_kb.index_dir, sentence_dense_weight=w)._snapshot.retriever
        qvec = retriever.embed_query(q)
        scores = retriever.sentence_scores(q, qvec, rows)
        for row, (score, srow) in scores.items():
            cosine = float(np.asarray(retriever.data.sentence_vectors[srow]) @ qvec)
            coverage = float(retriever._lexical_coverage(q, np.asarray([srow]))[0])
            assert score == pytest.approx(cosine if w == 1.0 else coverage, abs=1e-6)
        picked[w] = {row: srow for row, (_, srow) in scores.items()}
    assert picked[0.0] != picked[1.0]  # the weight changes which sentence is best somewhere
    with pytest.raises(ConfigError, match="sentence_dense_weight"):
        Config(sentence_dense_weight=1.5)


def test_best_sentence_is_inside_its_chunk_and_holds_the_rare_terms(demo_kb: KnowledgeBase) -> None:
    retriever = demo_kb._snapshot.retriever
    q = "Article 406 of the Iraqi Penal Code"
    scores = retriever.sentence_scores(q, retriever.embed_query(q), list(range(len(retriever.data.chunks))))
    for row, (_, srow) in scores.items():
        lo, hi = retriever.data.chunk_sents[row]
        assert lo <= srow < hi
    hit = demo_kb.search(q, k=1, mode="bm25")[0]
    doc = demo_kb.document(hit.doc_id) if hasattr(demo_kb, "document") else None
    sentence = hit.text[hit.best_start - hit.start: hit.best_end - hit.start]
    assert "406" in sentence, sentence
    if doc is not None:
        assert doc.text[hit.best_start:hit.best_end] == sentence


def test_sentence_scoring_changes_the_ranking_when_on(demo_kb: KnowledgeBase, tmp_path: Path) -> None:
    on = demo_kb.search(QUESTIONS[1], k=5)
    assert all("sentence" in h.scores for h in on)
    off = KnowledgeBase.open(demo_kb.index_dir, sentence_scoring=False).search(QUESTIONS[1], k=5)
    assert [h.score for h in on] != [h.score for h in off]


def test_an_index_without_the_sentence_matrix_still_opens_and_ranks_the_same(demo_kb: KnowledgeBase,
                                                                              tmp_path: Path) -> None:
    data = load(demo_kb.index_dir)
    folder = tmp_path / "bm25"
    folder.mkdir()
    BM25Index(data.bm25.vocab, data.bm25.weights, data.bm25.k1, data.bm25.b).save(folder)
    old = BM25Index.load(folder)
    assert old.sentence_terms is None
    with pytest.raises(LookupError):
        old.sentence_coverage(np.arange(3), np.arange(2), np.ones(2))


# ---- acronyms ----------------------------------------------------------------------------------
def test_long_forms_are_found_by_their_letters() -> None:
    assert best_long_form("PMF", "supported by Iraq’s Popular Mobilization Forces".split()) == \
        "Popular Mobilization Forces"
    assert best_long_form("OFAC", "the Treasury’s Office of Foreign Assets Control".split()) is not None
    assert best_long_form("XYZ", "the quick brown fox".split()) is None
    text = ("Iraq's Popular Mobilization Forces (PMF) rallied. The NFL (National Football League) met. "
            "Prices rose (AP). He said (Reuters) that talks (in Geneva) failed.")
    assert acronym_definitions(text) == [("PMF", "Popular Mobilization Forces"),
                                         ("NFL", "National Football League")]


def test_an_acronym_and_its_long_form_join_and_a_contested_one_is_left_out() -> None:
    acronyms = Acronyms.from_texts([
        "The Popular Mobilization Forces (PMF) marched.", "Leaders of the Popular Mobilisation Forces (PMF) spoke.",
        "The Private Military Company (PMC) left.", "The Popular Mobilization Committee (PMC) met."])
    # Two spellings of one reading count together; PMC has two readings, so neither is kept.
    assert acronyms.forms == {"pmf": (("popular", "mobil", "forc"), ("popular", "mobilis", "forc"))}
    short = "The PMF numbers 124,000 fighters."
    assert set(acronyms.expand(short, tokenize(short))) >= {"pmf", "popular", "mobil", "mobilis", "forc"}
    long = "Popular Mobilization Forces fighters marched."
    assert "pmf" in acronyms.expand(long, tokenize(long))
    # Only a capitalised short form is read as the acronym; the tokens of other text are untouched.
    plain = "Tell us about the pmf figures and the popular forces."
    assert acronyms.expand(plain, tokenize(plain)) == tokenize(plain)


def test_bm25_finds_a_short_form_passage_from_a_long_form_question() -> None:
    texts = ["The Popular Mobilization Forces (PMF) were founded in 2014.",
             "The PMF is a 124,000-strong fighting force.",
             "Popular songs were sung at the rally of the security forces."]
    acronyms = Acronyms.from_texts(texts)
    plain, joined = BM25Index.build(texts), BM25Index.build(texts, acronyms=acronyms)
    question = "How many fighters make up the Popular Mobilization Forces?"
    assert int(np.argmax(plain.scores(question))) != 1
    assert int(np.argmax(joined.scores(question) * [0, 1, 1])) == 1  # beats the text that shares two words
    assert joined.scores("What did the PMF found?")[0] > 0 and plain.scores("What did the PMF found?")[0] > 0


# ---- diversity and reranking inside a search ---------------------------------------------------
@pytest.fixture(scope="module")
def syndicated_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """One wire story published three times under different ids, plus two other stories."""
    root = tmp_path_factory.mktemp("syndicated")
    story = ("Quollsby copper miners walked out on Monday over ventilation in the deep shafts, the union said. "
             "The strike at the Zanzibarite pit is the first in twenty years. Managers said talks would resume.")
    # Not byte-identical (exact copies are dropped at ingest): each paper adds its own byline.
    records = [{"id": f"wire-{i}", "source": f"Paper {i}", "text": f"{story} Reporting by desk {i}."}
               for i in range(3)]
    records.append({"id": "other-1", "text": "Quollsby council approved a new library budget on Tuesday. "
                                             "The miners' union welcomed the decision."})
    records.append({"id": "other-2", "text": "Ventilation engineers visited the Zanzibarite pit in Quollsby last "
                                             "year and warned about the shafts."})
    folder = root / "articles"
    folder.mkdir()
    (folder / "wires.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    return KnowledgeBase.build([folder], root / "index", Config(embedder="hash", near_duplicates="keep"))


def test_syndicated_copies_do_not_fill_the_top_k(syndicated_kb: KnowledgeBase) -> None:
    q = "Quollsby miners strike over ventilation in the shafts"
    deduped = syndicated_kb.search(q, k=3)
    copies = [h for h in deduped if h.doc_id.startswith("wire-")]
    assert len(copies) == 1 and len(deduped) == 3
    plain = KnowledgeBase.open(syndicated_kb.index_dir, diversity="none").search(q, k=3)
    assert sum(h.doc_id.startswith("wire-") for h in plain) == 3
    mmr = KnowledgeBase.open(syndicated_kb.index_dir, diversity="mmr", mmr_lambda=0.3).search(q, k=3)
    assert sum(h.doc_id.startswith("wire-") for h in mmr) < 3


class _ReverseReranker:
    """A stand-in cross-encoder that prefers what the retriever ranked last."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def scores(self, query: str, texts: list[str]) -> np.ndarray:
        self.calls.append((query, len(texts)))
        return np.arange(len(texts), dtype=np.float32)


def test_reranker_stage_reorders_the_head(demo_kb: KnowledgeBase) -> None:
    kb = KnowledgeBase.open(demo_kb.index_dir, diversity="none")
    before = kb.search(QUESTIONS[0], k=5)
    retriever = kb._snapshot.retriever
    retriever.reranker = _ReverseReranker()
    after = kb.search(QUESTIONS[0], k=5)
    assert retriever.reranker.calls and retriever.reranker.calls[0][1] >= 5
    assert [h.chunk_id for h in after] != [h.chunk_id for h in before]
    assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)


def test_reranker_folder_must_exist_when_used(demo_kb: KnowledgeBase, tmp_path: Path) -> None:
    kb = KnowledgeBase.open(demo_kb.index_dir, reranker=str(tmp_path / "no-such-model"))
    with pytest.raises(Exception):  # noqa: B017 - sentence-transformers' own error for a missing folder
        kb.search(QUESTIONS[0], k=3)


# ---- LangChain edge -----------------------------------------------------------------------------
def test_as_retriever_returns_langchain_documents_with_offsets(demo_kb: KnowledgeBase) -> None:
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever

    retriever = demo_kb.as_retriever(k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(QUESTIONS[0])
    hits = demo_kb.search(QUESTIONS[0], k=3)
    assert len(docs) == 3 and all(isinstance(d, LCDocument) for d in docs)
    assert [d.metadata["chunk_id"] for d in docs] == [h.chunk_id for h in hits]
    data = load(demo_kb.index_dir)
    for d in docs:
        text = data.documents[d.metadata["doc_id"]].text
        assert text[d.metadata["start"]:d.metadata["end"]] == d.page_content
        assert d.metadata["rank"] >= 1 and "score_sentence" in d.metadata
    filtered = demo_kb.as_retriever(k=2, mode="bm25").invoke("Article 406 of the Iraqi Penal Code")
    assert "406" in filtered[0].page_content
