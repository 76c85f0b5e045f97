"""Span ranking: which candidate answer span of the read sentences answers the question.

:func:`rag.answer.candidate_occurrences` finds every typed span (entities, noun phrases, quoted
names) in the best sentences and describes each by the :data:`FEATURES` below: the sentence's
retrieval and similarity scores, the span's entity label against the question's expected type,
its syntactic slot (subject or object of the question's verb, after the question's preposition,
an apposition to a question word, its dependency label), closeness to the question's words in
the text and in the parse tree, overlap with the question, informativeness, and the hand-built
score that combines them. :class:`SpanRanker` is a linear model over them, fitted by
``tools/train_span_ranker.py`` on SQuAD v1.1 dev questions (a listwise softmax loss: the gold
answer's occurrences should take the probability mass among all occurrences of a question),
standardised, shipped as plain JSON numbers in ``rag/span_model.json``. A candidate answer's
score is the share of the softmax its occurrences take, summed over them: the same string found
in several sentences or articles earns more.

What it does not do: no lexical features (no word identities: nothing to overfit to one
corpus's names), no model calls, no abstention (that is :mod:`rag.abstain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .linear import LinearModel, load_linear

MODEL_FORMAT = "rag-span-ranker"
MODEL_VERSION = 1
DEFAULT_MODEL = Path(__file__).with_name("span_model.json")

# The spaCy dependency labels each dep_* feature stands for (the label of the span's root token).
DEP_GROUPS: dict[str, tuple[str, ...]] = {
    "subject": ("nsubj", "nsubjpass", "csubj"), "object": ("dobj", "obj"), "pobj": ("pobj",), "appos": ("appos",),
    "attr": ("attr", "acomp", "oprd"), "conj": ("conj",), "modifier": ("compound", "amod", "nmod", "poss", "nummod"),
}
# The answer types of rag.answer's question classification, one q_* feature each.
QTYPES = ("person", "place", "date", "number", "org", "quote", "entity", "phrase", "norp")

# The order of the values in an occurrence's feature tuple; changing it needs a retrained model.
FEATURES: tuple[str, ...] = (
    "log_heuristic",    # log of the hand-built score
    "sent_score",       # the sentence's score (similarity, term coverage, passage rank)
    "sent_rel",         # ... relative to the best sentence's
    "sent_cov",         # idf-weighted share of question terms in the sentence
    "sent_dense",       # embedding similarity of sentence and question
    "sent_pos",         # 1 / (1 + position of the sentence among the scored ones)
    "passage_rank",     # 1 / rank of the passage the sentence comes from
    "type_fit",         # the span's label against the expected answer type, before the slot adjustments
    "fit",              # ... after them
    "subject_slot",     # subject of the question's verb ("who announced")
    "object_slot",      # object of the question's verb ("what did they burn")
    "frame_slot",       # after the question's preposition, or named by its head noun ("the city of ...")
    "text_proximity",   # closeness to the question's words in the sentence
    "tree_proximity",   # ... in the dependency tree
    "overlap",          # share of the span's words the question already uses
    "informative",      # idf of the span's new words against the question's rarest
    "modifier",         # the span modifies a larger noun phrase
    "n_words",          # log(1 + words)
    "is_np", "is_quote", "is_named", "is_when", "is_number",
    "label_first",      # the label is the question type's first choice
    "label_in",         # ... one of its labels
    "unit_match",       # a count of the noun a how-many question counts
    "counted_other",    # a count of something else
    "relative_date",    # a date without a number or month ("Saturday")
    "not_numeric",      # not a figure, for a how-many question
    "has_digit",
    "appos_question",   # in apposition to a word of the question ("X, the foreign arm of ...")
    *(f"dep_{d}" for d in DEP_GROUPS),  # dependency label of the span's root
    "open_np",          # a noun phrase for an open (what/which) question
    "open_named",       # a named entity for an open question
    *(f"q_{t}" for t in QTYPES),  # the question's expected answer type
    "is_coord",         # a coordination of noun phrases ("heat and pressure")
    "is_of",            # a noun phrase with its of-phrase ("two populations of rodents")
    "is_pp",            # ... with another prepositional phrase ("strikes inside Iran")
    "overlap_high",     # at least half the span's words are the question's
    "fit_low",          # type_fit below 0.5: a label the question does not ask for
    "number_off_type",  # a figure for a question that asks for no number
    "when_off_type",    # a date or time for a question that asks for no date
    "after_naming",     # right after a naming word ("dubbed ‘Operation ...’", "known as the ...")
    "naming_asked",     # ... and the question asks what something is called or named
    "verb_pp",          # object of a preposition on a verb the question uses ("stationed along the border")
    "verb_governed",    # a complement of a verb the question uses, through up to four arcs ("threatened to
                        # retaliate with strikes")
)


class SpanRanker:
    """Linear scores of span occurrences, turned into each occurrence's share of a softmax."""

    def __init__(self, model: LinearModel) -> None:
        self.model = model

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Linear scores of the rows of ``x`` (one occurrence per row, :data:`FEATURES` columns)."""
        return self.model.decision(x)

    def shares(self, x: np.ndarray) -> np.ndarray:
        """Softmax of the scores over all rows: the occurrences of one question compete."""
        return softmax(self.scores(x))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Shares of ``exp(score)`` summing to 1 (an empty array stays empty)."""
    s = np.asarray(scores, dtype=np.float64)
    if not len(s):
        return s
    e = np.exp(s - s.max())
    return e / e.sum()


def load_ranker(path: str | Path = DEFAULT_MODEL) -> SpanRanker:
    """Read a ranker file (the bundled one by default); errors name the file and the problem."""
    return SpanRanker(load_linear(path, MODEL_FORMAT, MODEL_VERSION, FEATURES, "span ranker",
                                  "tools/train_span_ranker.py"))


@lru_cache(maxsize=4)
def default_ranker(path: str = str(DEFAULT_MODEL)) -> SpanRanker:
    """The bundled ranker, read once."""
    return load_ranker(path)


def feature_matrix(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Occurrence feature tuples as a float64 matrix (``(0, len(FEATURES))`` when empty)."""
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
