"""Answer verification for abstention: does the evidence state what the question asks?

An extractive answer can be well typed and well retrieved and still be wrong because the
articles never state the asked relation ("Who *succeeded* Soleimani ...", "How *old* was ...":
the passages name Soleimani but never a successor or an age). :func:`verification_features`
measures that from plain values the answerer already has: idf-weighted coverage of the
question's terms by the supporting sentence, its passage and all retrieved passages, split
into the terms that name things (entities, capitalised words) and the relation terms (the
rest, minus the answer-frame words such as "which *city*"); whether the rarest relation term
occurs at all; the answer's entity-type fit; sentence similarity; the margin to the second
candidate; cross-article agreement. A logistic regression over them (:class:`VerifierModel`,
weights fitted on SQuAD v2.0 by ``tools/train_abstain.py``, each weight's sign fixed by its
feature's meaning) gives the probability that the answer is supported; the answerer abstains
below ``Config.abstain_threshold``. The weights ship as plain JSON numbers, nothing executable.
On SQuAD the relation-term features earned no weight: its negatives rarely lack the relation
words, so the shipped model leans on coverage, similarity, extraction score and margin.

What it does not do: no QA model, no parsing beyond the spans the answerer already computed,
no threshold choice (that is ``eval/calibrate.py``'s job on a gold set).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .lexical import tokenize
from .linear import LinearModel, linear_from_dict, read_model_json

MODEL_FORMAT = "rag-abstain-logreg"
MODEL_VERSION = 1
DEFAULT_MODEL = Path(__file__).with_name("abstain_model.json")

# The order is the weights' order in the JSON file; changing it needs a retrained model.
FEATURES: tuple[str, ...] = (
    "sent_cov",       # idf-weighted share of question terms in the supporting sentence
    "passage_cov",    # ... in the supporting passage (the sentence's chunk)
    "all_cov",        # ... anywhere in the retrieved passages
    "rel_sent",       # idf-weighted share of relation terms (not entity, not frame) in the sentence
    "rel_local",      # ... within eight words of the answer in the supporting sentence
    "rel_passage",    # ... in the supporting passage
    "rel_max",        # the best relation-term coverage of any scored sentence
    "rel_all",        # share of relation terms found anywhere in the retrieved passages
    "ent_sent",       # idf-weighted share of entity terms in the supporting sentence
    "ent_passage",    # ... in the supporting passage
    "miss_idf",       # idf of the rarest relation term missing from the passage / the question's top idf
    "key_passage",    # the rarest relation term occurs in the supporting passage (0/1)
    "key_all",        # ... in any retrieved passage (0/1)
    "key_sents",      # ... in any scored sentence (0/1)
    "unseen",         # share of question terms the corpus never uses
    "type_fit",       # the answer span's label against the expected answer type
    "dense",          # embedding similarity of the supporting sentence to the question
    "max_cov",        # the best term coverage of any scored sentence
    "sent_rank",      # 1 / (1 + position of the supporting sentence among the scored ones)
    "passage_rank",   # 1 / retrieval rank of the supporting passage
    "score",          # the best candidate's extraction score
    "margin",         # relative lead over the second candidate
    "agree",          # other articles supporting the same answer (0, 0.5, 1)
    "heuristic",      # the answerer's hand-weighted confidence
    "rank_logit",     # the span ranker's linear score of the answer's best occurrence (absolute, not a share)
    "off_type",       # that occurrence's label is not one the question asks for (0/1)
    "counted_other",  # it counts another noun than a how-many question's (0/1)
    "strict_off_type",  # off_type for a question that asks for a figure or a date, whose answer has one form (0/1)
    "figure_unasked",   # a figure or date answers an open what/which question (not "how long"/"how often") (0/1)
)
# Features whose larger values mean *less* support; every other one means more. The fit keeps each
# weight on its feature's side of zero, so correlated features cannot flip a sign out of domain.
LOWER_IS_SUPPORTED = frozenset({"miss_idf", "unseen", "off_type", "counted_other", "strict_off_type",
                                "figure_unasked"})
# Question types whose answers have one form: a figure, a date; and the entity labels of that form.
STRICT_TYPES = frozenset({"number", "date"})
FIGURE_LABELS = frozenset({"DATE", "TIME", "CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL"})

_OPEN_TYPES = frozenset({"entity", "phrase", "quote"})
_CAPITALISED = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w’'-]*")


# ---- term matching ---------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def _terms_of(text: str) -> frozenset[str]:
    """The BM25 terms of a passage or sentence; cached, as the same passages come back for many questions."""
    return frozenset(tokenize(text))


class TermSet:
    """The terms of a text, matched exactly or by a shared stem prefix ("succeed" ~ "successor")."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = set(terms)
        self._prefix: dict[str, list[str]] = {}
        for t in self.terms:
            if len(t) >= 5 and not t[0].isdigit():
                self._prefix.setdefault(t[:5], []).append(t)

    @classmethod
    def of(cls, texts: Iterable[str]) -> TermSet:
        terms: set[str] = set()
        for text in texts:
            terms |= _terms_of(text)
        return cls(terms)

    def __contains__(self, term: str) -> bool:
        if term in self.terms:
            return True
        if len(term) < 5 or term[0].isdigit():
            return False
        for other in self._prefix.get(term[:5], ()):
            shared = len(_common_prefix(term, other))
            if shared >= min(len(term), len(other)) - 2:
                return True
        return False


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def weighted_coverage(weights: Mapping[str, float], found: TermSet) -> float:
    """The idf-weighted share of ``weights``' terms in ``found``; 1.0 when there are no terms."""
    total = sum(weights.values())
    if total <= 0:
        return 1.0
    return sum(w for t, w in weights.items() if t in found) / total


def split_terms(question: str, weights: Mapping[str, float], entity_texts: Iterable[str],
                heads: Iterable[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(entity terms, relation terms) of the question with their weights.

    Entity terms come from the question's named entities and capitalised words; relation terms
    are the other content terms minus the answer-frame ``heads`` ("which *base*").
    """
    named = set()
    for text in entity_texts:
        named.update(tokenize(text))
    for m in _CAPITALISED.finditer(question):
        named.update(tokenize(m.group()))
    head_set = set(heads)
    entities = {t: w for t, w in weights.items() if t in named}
    relations = {t: w for t, w in weights.items() if t not in named and t not in head_set}
    return entities, relations


def type_fit(label: str | None, qtype_name: str, qtype_labels: Sequence[str]) -> float:
    """1 for the question's first label, 0.75 for another of its labels, 0.5 for a noun phrase or
    quote where any phrase may answer, 0.25 for an untyped span of a typed question, 0 for a clash."""
    if label is None:
        return 0.25
    if qtype_labels and label == qtype_labels[0]:
        return 1.0
    if label in qtype_labels:
        return 0.75
    if label in ("NP", "QUOTE"):
        return 0.5 if qtype_name in _OPEN_TYPES else 0.25
    return 0.5 if qtype_name in _OPEN_TYPES else 0.0


def answer_label(key: str, spans: Sequence[tuple[str, int, int, str]], key_of: Callable[[str], str]) -> str | None:
    """The label of the shortest span of the supporting sentence holding the answer, entities first."""
    best: tuple[int, int, str] | None = None
    for label, _, _, raw in spans:
        k = key_of(raw)
        if k == key or key and f" {key} " in f" {k} ":
            rank = (1 if label == "NP" else 0, len(k), label)
            if best is None or rank < best:
                best = rank
    return best[2] if best else None


LOCAL_WORDS = 8
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def near_terms(sentence: str, answer: str, n: int) -> list[str]:
    """The terms of the ``n`` words either side of ``answer`` in ``sentence`` (all of it if not found)."""
    at = sentence.find(answer) if answer else -1
    if at < 0:
        return tokenize(sentence)
    before = _WORD.findall(sentence[:at])[-n:]
    after = _WORD.findall(sentence[at + len(answer):])[:n]
    return tokenize(" ".join(before + after))


# ---- features -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """What the answerer knows when it decides whether to answer (plain values, duck-typed objects).

    ``best``/``second``: candidates with ``key``, ``score``, ``docs``, ``support`` (score, doc, start,
    end, chunk); ``sentence``: the supporting sentence with ``text``, ``coverage``, ``dense``;
    ``passages``: the retrieved hits (``chunk_id``, ``text``); ``weights``: question term -> idf.
    """

    question: str
    qtype_name: str
    qtype_labels: tuple[str, ...]
    best: Any
    second: Any
    sentence: Any
    sentences: Sequence[Any]  # the scored sentences, best first (``coverage``, ``doc_id``, ``start``)
    passages: Sequence[Any]
    weights: Mapping[str, float]
    vocab: Any  # the corpus vocabulary (membership test), or None
    heads: frozenset[str]
    question_entities: tuple[str, ...]
    sentence_spans: tuple[tuple[str, int, int, str], ...]
    key_of: Callable[[str], str]
    heuristic: float


def verification_features(ev: Evidence) -> dict[str, float]:
    """The features of :data:`FEATURES` for one answer (see the module docstring)."""
    weights = dict(ev.weights)
    entities, relations = split_terms(ev.question, weights, ev.question_entities, ev.heads)
    chunk_id = ev.best.support[0][4]
    own = [p.text for p in ev.passages if p.chunk_id == chunk_id]
    sent_terms = TermSet.of([ev.sentence.text])
    passage_terms = TermSet.of(own or [ev.sentence.text])
    all_terms = TermSet.of([p.text for p in ev.passages] + [ev.sentence.text])
    key = max(relations or weights or {"": 0.0}, key=lambda t: (relations or weights or {"": 0.0})[t])
    in_vocab = [t for t in weights if ev.vocab is None or t in ev.vocab]
    label = answer_label(ev.best.key, ev.sentence_spans, ev.key_of)
    second = ev.second.score if ev.second is not None else 0.0
    top_idf = max(weights.values(), default=1.0) or 1.0
    missing = [w for t, w in relations.items() if t not in passage_terms]
    local_terms = TermSet(near_terms(ev.sentence.text, ev.best.text, LOCAL_WORDS))
    sentence_terms = [TermSet.of([s.text]) for s in ev.sentences]
    position = next((i for i, s in enumerate(ev.sentences)
                     if (s.doc_id, s.start) == (ev.sentence.doc_id, ev.sentence.start)), len(ev.sentences))
    return {
        "sent_cov": weighted_coverage(weights, sent_terms),
        "passage_cov": weighted_coverage(weights, passage_terms),
        "all_cov": weighted_coverage(weights, all_terms),
        "rel_sent": weighted_coverage(relations, sent_terms),
        "rel_local": weighted_coverage(relations, local_terms),
        "rel_passage": weighted_coverage(relations, passage_terms),
        "rel_max": max((weighted_coverage(relations, t) for t in sentence_terms), default=0.0),
        "rel_all": (sum(t in all_terms for t in relations) / len(relations)) if relations else 1.0,
        "ent_sent": weighted_coverage(entities, sent_terms),
        "ent_passage": weighted_coverage(entities, passage_terms),
        "miss_idf": max(missing, default=0.0) / top_idf,
        "key_passage": float(not key or key in passage_terms),
        "key_all": float(not key or key in all_terms),
        "key_sents": float(not key or any(key in t for t in sentence_terms)),
        "unseen": (1.0 - len(in_vocab) / len(weights)) if weights else 0.0,
        "type_fit": type_fit(label, ev.qtype_name, ev.qtype_labels),
        "dense": float(ev.sentence.dense),
        "max_cov": max((float(s.coverage) for s in ev.sentences), default=0.0),
        "sent_rank": 1.0 / (1.0 + position),
        "passage_rank": 1.0 / max(int(getattr(ev.sentence, "passage_rank", 1) or 1), 1),
        "score": float(ev.best.score),
        "margin": (1.0 - second / ev.best.score) if ev.best.score > 0 else 0.0,
        "agree": min(len(ev.best.docs) - 1, 2) / 2.0,
        "heuristic": float(ev.heuristic),
        "rank_logit": float(getattr(ev.best, "logit", 0.0)),
        "off_type": float(getattr(ev.best, "off_type", 0.0)),
        "counted_other": float(getattr(ev.best, "counted_other", 0.0)),
        "strict_off_type": float(getattr(ev.best, "off_type", 0.0)) if ev.qtype_name in STRICT_TYPES else 0.0,
        "figure_unasked": float(label in FIGURE_LABELS and ev.qtype_name in _OPEN_TYPES
                                and not re.search(r"\bhow\b", ev.question, re.IGNORECASE)),
    }


# ---- the model ------------------------------------------------------------------------------
TRAINER = "tools/train_abstain.py"


class VerifierModel(LinearModel):
    """A logistic regression over standardised :data:`FEATURES`, loaded from plain JSON."""

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return super().to_dict(MODEL_FORMAT, MODEL_VERSION)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> VerifierModel:
        """Validate and build; :class:`~rag.errors.ModelFormatError` names what is wrong."""
        return cls(**linear_from_dict(data, source, MODEL_FORMAT, MODEL_VERSION, FEATURES, "abstention model",
                                      TRAINER))


def load_model(path: str | Path = DEFAULT_MODEL) -> VerifierModel:
    """Read a model file (the bundled one by default)."""
    return VerifierModel.from_dict(read_model_json(path, "abstention model", TRAINER), str(path))


@lru_cache(maxsize=4)
def default_model(path: str = str(DEFAULT_MODEL)) -> VerifierModel:
    """The bundled model, read once."""
    return load_model(path)


def verify(ev: Evidence, model: VerifierModel | None = None) -> float:
    """The probability that ``ev``'s answer is supported by the passages."""
    return (model or default_model()).probability(verification_features(ev))
