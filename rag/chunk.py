"""Chunking: sentence-aligned chunks sized in the embedder's own tokens.

Sentences come from syntok and never cross a paragraph. Chunks pack whole sentences up to
a token budget, with an overlap of whole sentences; a sentence longer than the budget is
split at word boundaries. Every chunk records its ``[start, end)`` span in the document
text, so ``doc.text[start:end] == chunk.text`` always holds. It does not embed anything.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

from .types import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]
_PARAGRAPH = re.compile(r"[^\n]+")
_WORD_SPAN = re.compile(r"\S+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` spans of the sentences of ``text``, whitespace trimmed, in order."""
    import syntok.segmenter as segmenter

    spans: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        block = para.group()
        starts: list[int] = []
        for paragraph in segmenter.analyze(block):
            for sentence in paragraph:
                tokens = list(sentence)
                if tokens:
                    starts.append(tokens[0].offset)
        if not starts:
            starts = [0]
        starts[0] = 0
        bounds = starts + [len(block)]
        first = len(spans)
        for a, b in zip(bounds, bounds[1:]):
            piece = block[a:b]
            left = len(piece) - len(piece.lstrip())
            right = len(piece.rstrip())
            if right <= left:
                continue
            span = (para.start() + a + left, para.start() + a + right)
            # A lone closing quote or bracket belongs to the sentence before it.
            if len(spans) > first and not any(ch.isalnum() for ch in piece):
                spans[-1] = (spans[-1][0], span[1])
            else:
                spans.append(span)
    return spans


def split_long_span(text: str, span: tuple[int, int], limit: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Split one over-long span at word boundaries into pieces of at most ``limit`` tokens."""
    start, end = span
    words = [(start + m.start(), start + m.end()) for m in _WORD_SPAN.finditer(text[start:end])]
    lengths = count([text[a:b] for a, b in words])
    pieces: list[tuple[int, int]] = []
    piece_start: int | None = None  # where the piece being filled starts (None: it is empty)
    used, last_end = 0, start
    for (a, b), n in zip(words, lengths):
        if piece_start is not None and used + n > limit:
            pieces.append((piece_start, last_end))
            piece_start, used = None, 0
        if n > limit:  # a single "word" longer than the budget: cut it by characters
            step = max(1, (b - a) * limit // max(n, 1))
            pieces.extend((cut, min(b, cut + step)) for cut in range(a, b, step))
            continue
        if piece_start is None:  # a piece starts at a word, never at the space after a cut word
            piece_start = a
        used += n  # a word of no tokens (a lone combining mark) still belongs to the piece
        last_end = b
    if piece_start is not None:
        pieces.append((piece_start, last_end))
    return [p for p in pieces if p[1] > p[0]]


def chunk_id_for(doc_id: str, ordinal: int, text: str) -> str:
    """Deterministic chunk id from the document id, ordinal and content."""
    digest = hashlib.sha1(f"{doc_id}\x00{ordinal}\x00{text}".encode()).hexdigest()[:10]
    return f"{doc_id}#{ordinal}-{digest}"


def chunk_document(doc: Document, count: TokenCounter, max_tokens: int, overlap: int = 1,
                   reserved: int = 0) -> tuple[list[Chunk], list[tuple[int, int]]]:
    """Chunk ``doc``; return the chunks and the document's sentence spans.

    ``reserved`` tokens (special tokens, a prepended title) are kept free in each chunk.
    """
    budget = max(8, max_tokens - reserved)
    spans = sentence_spans(doc.text)
    lengths = count([doc.text[a:b] for a, b in spans]) if spans else []
    sentences: list[tuple[int, int]] = []
    sizes: list[int] = []
    for span, n in zip(spans, lengths):
        if n > budget:
            pieces = split_long_span(doc.text, span, budget, count)
            sentences.extend(pieces)
            sizes.extend(count([doc.text[a:b] for a, b in pieces]))
        else:
            sentences.append(span)
            sizes.append(n)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j, used = i, 0
        while j < len(sentences) and (j == i or used + sizes[j] <= budget):
            used += sizes[j]
            j += 1
        start, end = sentences[i][0], sentences[j - 1][1]
        text = doc.text[start:end]
        ordinal = len(chunks)
        chunks.append(Chunk(chunk_id=chunk_id_for(doc.doc_id, ordinal, text), doc_id=doc.doc_id,
                            ordinal=ordinal, start=start, end=end, text=text,
                            sentences=tuple(sentences[i:j])))
        if j >= len(sentences):
            break
        # Overlap only as many sentences as leave room for the next new one: a chunk that is
        # nothing but the previous chunk's tail adds no text.
        nxt = max(i + 1, j - overlap)
        while nxt < j and sum(sizes[nxt:j + 1]) > budget:
            nxt += 1
        i = nxt
    return chunks, sentences
