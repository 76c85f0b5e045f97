"""Chunking: exact spans, sentence alignment, token budgets, overlap and deterministic ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunk import chunk_document, chunk_id_for, sentence_spans, split_long_span
from rag.ingest import load_documents
from rag.types import Document


def ws_count(texts):  # noqa: ANN001, ANN201 - a TokenCounter
    """A simple token counter: whitespace-separated words."""
    return [len(t.split()) for t in texts]


def doc(text: str, doc_id: str = "d1") -> Document:
    return Document(doc_id=doc_id, text=text)


# ---- random article-like texts -------------------------------------------------------------
WORDS = ["Baghdad", "troops", "the", "protest", "Soleimani", "al-Muhandis", "2,500", "U.S.", "Dr.", "said",
         "“quoted”", "(PMF)", "café", "Ирак", "北京", "naïve", "e.g.", "3.5", "—", "killed", "a", "drone"]
word = st.one_of(st.sampled_from(WORDS), st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12))
sentence = st.builds(lambda ws, end: " ".join(ws) + end, st.lists(word, min_size=1, max_size=30),
                     st.sampled_from([".", "!", "?", ".”", "", "…", "?!"]))
paragraph = st.lists(sentence, min_size=1, max_size=6).map(" ".join)


@st.composite
def article_texts(draw: st.DrawFn) -> str:
    paras = draw(st.lists(paragraph, min_size=1, max_size=6))
    if draw(st.booleans()):  # the same sentence many times over (syndicated boilerplate, lists)
        repeated = draw(sentence)
        paras.append(" ".join([repeated] * draw(st.integers(2, 8))))
        paras.insert(0, repeated)
    sep = draw(st.sampled_from(["\n\n", "\n"]))
    return sep.join(p.strip() for p in paras if p.strip()) or "x"


def check_chunks(d: Document, max_tokens: int, overlap: int) -> None:
    chunks, spans = chunk_document(d, ws_count, max_tokens, overlap)
    text = d.text
    assert chunks, "a non-empty text gives at least one chunk"
    # Sentence spans (after splitting long ones) slice back, are ordered, disjoint and never cross a newline.
    for a, b in spans:
        assert 0 <= a < b <= len(text)
        piece = text[a:b]
        assert piece == piece.strip() and "\n" not in piece
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))
    covered = set()
    for i, c in enumerate(chunks):
        assert text[c.start:c.end] == c.text
        assert c.ordinal == i and c.doc_id == d.doc_id
        assert c.chunk_id == chunk_id_for(d.doc_id, i, c.text)
        assert c.sentences and c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
        for s in c.sentences:
            assert s in spans
        covered.update(c.sentences)
        n = ws_count([c.text])[0]
        single_piece = len(c.sentences) == 1 and len(c.text.split()) == 1
        assert n <= max_tokens or single_piece, (n, c.text)
    assert covered == set(spans), "every sentence is in some chunk"
    for prev, nxt in zip(chunks, chunks[1:]):
        assert prev.start < nxt.start and prev.end < nxt.end, "chunks are in document order"
        # Each chunk brings at least one sentence its predecessor did not have.
        assert set(nxt.sentences) - set(prev.sentences)
        shared = [s for s in nxt.sentences if s in prev.sentences]
        assert len(shared) <= overlap
        if overlap == 0:
            assert prev.end <= nxt.start


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=article_texts(), max_tokens=st.integers(8, 60), overlap=st.integers(0, 2))
def test_chunk_properties_on_random_articles(text: str, max_tokens: int, overlap: int) -> None:
    check_chunks(doc(text), max_tokens, overlap)


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1).filter(lambda t: t.strip()))
def test_spans_slice_back_on_arbitrary_unicode(text: str) -> None:
    chunks, spans = chunk_document(doc(text), ws_count, 8, 1)
    for a, b in spans:
        assert text[a:b] == text[a:b].strip() and "\n" not in text[a:b] and a < b
    for c in chunks:
        assert text[c.start:c.end] == c.text
    assert {s for c in chunks for s in c.sentences} == set(spans)


def test_sentence_spans_split_sentences_and_paragraphs() -> None:
    text = "Dr. Smith went to Baghdad. He met U.S. officials there!\n\nWas it safe? Nobody knew.\nA new line."
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == [
        "Dr. Smith went to Baghdad.", "He met U.S. officials there!", "Was it safe?", "Nobody knew.", "A new line."]


def test_closing_quote_stays_with_its_sentence() -> None:
    text = "He said: “We will not leave.” Then he left."
    pieces = [text[a:b] for a, b in sentence_spans(text)]
    assert pieces[-1] == "Then he left."
    assert "“We will not leave.”" in pieces[0] or "“We will not leave.”" in pieces


def test_overlap_is_one_sentence() -> None:
    sentences = [f"Sentence number {w} has exactly six words." for w in
                 ["one", "two", "three", "four", "five", "six", "seven", "eight"]]
    text = " ".join(sentences)
    chunks, spans = chunk_document(doc(text), ws_count, 14, overlap=1)  # two sentences of 7 tokens fit
    assert len(spans) == 8
    assert [c.text for c in chunks[:2]] == [" ".join(sentences[0:2]), " ".join(sentences[1:3])]
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.sentences[0] == prev.sentences[-1]
    no_overlap, _ = chunk_document(doc(text), ws_count, 14, overlap=0)
    assert [c.text for c in no_overlap] == [" ".join(sentences[i:i + 2]) for i in range(0, 8, 2)]


def test_no_chunk_is_only_the_overlap_sentence() -> None:
    # 5 + 5 fill the budget; the next sentence (8) cannot join the overlapped one (5 + 8 > 10).
    text = "One two three four five. Six seven eight nine ten. A b c d e f g h."
    chunks, _ = chunk_document(doc(text), ws_count, 10, overlap=1)
    assert [c.text for c in chunks] == ["One two three four five. Six seven eight nine ten.", "A b c d e f g h."]


def test_long_sentence_is_split_at_word_boundaries() -> None:
    words = ["The"] + [f"word{i}" for i in range(49)]
    text = "Intro sentence here. " + " ".join(words) + ". Outro sentence here."
    chunks, spans = chunk_document(doc(text), ws_count, 10, overlap=0)
    assert text[spans[0][0]:spans[0][1]] == "Intro sentence here."
    long_pieces = [text[a:b] for a, b in spans[1:-1]]
    assert len(long_pieces) == 5
    assert " ".join(long_pieces) == " ".join(words) + "."
    assert all(len(p.split()) <= 10 for p in long_pieces)
    for c in chunks:
        assert ws_count([c.text])[0] <= 10
        assert text[c.start:c.end] == c.text
        assert c.start == 0 or text[c.start - 1] == " ", "a piece starts at a word start"
        assert c.end == len(text) or text[c.end] == " ", "a piece ends at a word end"


def test_split_long_span_cuts_a_single_huge_word_by_characters() -> None:
    text = "x" * 100

    def chars_per_token(texts):  # noqa: ANN001, ANN202 - 1 token per 4 characters
        return [max(1, len(t) // 4) for t in texts]

    pieces = split_long_span(text, (0, 100), 10, chars_per_token)
    assert pieces[0][0] == 0 and pieces[-1][1] == 100
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(pieces, pieces[1:])), "contiguous"
    assert all(chars_per_token([text[a:b]])[0] <= 10 for a, b in pieces)


def test_chunk_ids_are_deterministic_and_content_based() -> None:
    text = "The first sentence is here. The second one follows it. A third closes the paragraph."
    a, _ = chunk_document(doc(text), ws_count, 12, 1)
    b, _ = chunk_document(doc(text), ws_count, 12, 1)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert all(c.chunk_id.startswith("d1#") for c in a)
    changed, _ = chunk_document(doc(text.replace("third", "fourth")), ws_count, 12, 1)
    assert changed[0].chunk_id == a[0].chunk_id
    assert changed[-1].chunk_id != a[-1].chunk_id
    other, _ = chunk_document(doc(text, doc_id="d2"), ws_count, 12, 1)
    assert not {c.chunk_id for c in other} & {c.chunk_id for c in a}
    assert len({c.chunk_id for c in a}) == len(a)


def test_reserved_tokens_shrink_the_budget() -> None:
    text = " ".join(f"Sentence {i} has five words." for i in range(10))
    full, _ = chunk_document(doc(text), ws_count, 20, 0)
    reserved, _ = chunk_document(doc(text), ws_count, 20, 0, reserved=10)
    assert max(ws_count([c.text])[0] for c in full) == 20
    assert max(ws_count([c.text])[0] for c in reserved) <= 10
    assert len(reserved) > len(full)


def test_demo_articles_chunk_exactly(articles_dir: Path) -> None:
    docs, skipped = load_documents([articles_dir])
    assert not skipped
    for d in docs:
        check_chunks(d, 60, 1)


@pytest.mark.slow
def test_demo_chunks_fit_the_real_model_with_title(articles_dir: Path, real_embedder) -> None:  # noqa: ANN001
    """Every chunk plus its title prefix fits the model's 256 word pieces: nothing is truncated."""
    from rag import Config
    from rag.update import embed_text

    cfg = Config()
    docs, _ = load_documents([articles_dir])
    limit = real_embedder.max_tokens
    assert limit == 256
    max_tokens = min(cfg.chunk_tokens, limit)
    longest = 0
    for d in docs:
        reserved = 3 + (real_embedder.count_tokens([d.title])[0] if d.title else 0)
        chunks, _ = chunk_document(d, real_embedder.count_tokens, max_tokens, cfg.overlap_sentences,
                                   reserved=min(reserved, max_tokens // 2))
        texts = [embed_text(d, c.text, cfg.embed_title) for c in chunks]
        counts = real_embedder.count_tokens(texts)
        longest = max(longest, *counts)
        assert all(n + 2 <= limit for n in counts), (d.doc_id, counts)  # + [CLS] and [SEP]
        assert all(n <= max_tokens for n in counts), (d.doc_id, counts)
    assert longest > max_tokens // 2, "chunks use a good part of their budget"
