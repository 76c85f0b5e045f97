"""The extractive reader: a question and passages in, scored answer spans with exact offsets out.

A transformer encoder with a span head (start and end logits per token), trained in this project by
``tools/train_reader.py`` on the train split of SQuAD v1.1 answerable and v2.0 unanswerable questions
(``eval/splits/squad.json``). "No answer" is a scored output too: the logits at the ``[CLS]``
position. A span's ``score`` is its start + end logit minus its window's no-answer logit, so scores
compare across passages and a reading can decline: the best span's score at or below the model's
calibrated ``threshold`` (from its card, chosen on the dev split) means the passages do not answer.

What it does not do: no retrieval, no question-type rules, no short-form trimming. The model is loaded
lazily (the first ``read``), offline, from a folder with a card ``reader.json`` whose sha256 of the
weights is checked before loading.

    reader = Reader()                      # the bundled model; nothing loads yet
    reading = reader.read("Who wrote it?", [ReaderPassage("doc1", "It was written by Ann Lee.")])
    reading.best.text, reading.answerable  # ('Ann Lee', True)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ModelFormatError, ModelNotFoundError, QueryError
from rag.verify import Verifier, load_verifier

BUNDLED = Path(__file__).resolve().parent / "models" / "reader"
WEIGHTS = "model.safetensors"
CARD = "reader.json"
MAX_ANSWER_TOKENS = 30
MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class ReaderPassage:
    """Text to read: ``text`` is ``document.text[offset:offset + len(text)]``."""

    doc_id: str
    text: str
    offset: int = 0
    key: str = ""  # the caller's id for the passage (a chunk id), carried to the spans


@dataclass(frozen=True)
class ReaderSpan:
    """An answer span: ``document.text[start:end] == text`` for the passage's document."""

    text: str
    doc_id: str
    start: int
    end: int
    score: float  # span logit minus the window's no-answer logit
    passage: int  # index of the passage it came from
    key: str = ""


@dataclass(frozen=True)
class Reading:
    """The reader's output: spans best first, the best no-answer margin, and the decision."""

    spans: tuple[ReaderSpan, ...]
    threshold: float

    @property
    def best(self) -> ReaderSpan | None:
        return self.spans[0] if self.spans else None

    @property
    def no_answer_score(self) -> float:
        """How far the passages lean to "no answer": minus the best span's score (inf with none)."""
        return -self.spans[0].score if self.spans else float("inf")

    @property
    def answerable(self) -> bool:
        return bool(self.spans) and self.spans[0].score > self.threshold


def best_spans(start_logits: Sequence[float], end_logits: Sequence[float], context_mask: Sequence[bool],
               top_k: int = 5, max_tokens: int = MAX_ANSWER_TOKENS) -> list[tuple[float, int, int]]:
    """The ``top_k`` (logit, start token, end token) spans within the context, end >= start.

    Pure: plain sequences in, sorted list out. A span's logit is start + end logit.
    """
    ctx = [i for i, m in enumerate(context_mask) if m]
    if not ctx:
        return []
    order_s = sorted(ctx, key=lambda i: -start_logits[i])[: top_k * 4]
    order_e = sorted(ctx, key=lambda i: -end_logits[i])[: top_k * 4]
    out = [(start_logits[s] + end_logits[e], s, e) for s in order_s for e in order_e
           if s <= e < s + max_tokens and all(context_mask[s:e + 1])]
    out.sort(key=lambda t: -t[0])
    return out[:top_k]


_JOINERS = "-‐‑"  # hyphens; not apostrophes (a possessive 's is not part of the answer)


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole words: a span that stops inside a word, or at a hyphen that
    joins it to more letters ("Ayn al" of "Ayn al-Asad"), takes the rest of it. Pure."""
    def inside(i: int) -> bool:  # text[i] continues the word that text[i - 1] is part of
        ch = text[i]
        if ch.isalnum():
            return text[i - 1].isalnum() or text[i - 1] in _JOINERS
        return ch in _JOINERS and i + 1 < len(text) and text[i + 1].isalnum() and text[i - 1].isalnum()

    while start > 0 and start < len(text) and inside(start):
        start -= 1
    while end < len(text) and end > 0 and inside(end):
        end += 1
    return start, end


def encode(tokenizer: Any, questions: Sequence[str], contexts: Sequence[str], max_length: int, stride: int,
           padding: bool | str = False) -> Any:
    """Tokenise (question, context) pairs into windows over the context, with offsets.

    Shared by inference and training so both see the same windows: ``overflow_to_sample_mapping``
    gives each window's pair, ``offset_mapping`` character offsets, ``sequence_ids`` which side.
    """
    clipped = {q: _clip_question(tokenizer, q) for q in set(questions)}  # a reading repeats one question
    questions = [clipped[q] for q in questions]
    return tokenizer(list(questions), list(contexts), truncation="only_second", max_length=max_length,
                     stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding=padding)


def _clip_question(tokenizer: Any, question: str) -> str:
    ids = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    offsets = ids["offset_mapping"]
    if len(offsets) <= MAX_QUESTION_TOKENS:
        return question
    return question[: offsets[MAX_QUESTION_TOKENS - 1][1]]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_card(folder: Path) -> dict[str, Any]:
    """The model card, checked for the fields loading needs; ModelNotFoundError/ModelFormatError."""
    card_path = folder / CARD
    if not (folder / WEIGHTS).is_file() or not card_path.is_file():
        raise ModelNotFoundError(f"no reader model in {folder} (needs {WEIGHTS} and {CARD}); "
                                 "reinstall the package or train one with `python tools/train_reader.py`")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"reader card {card_path} is unreadable: {e}") from e
    for key in ("sha256", "threshold", "max_length", "stride"):
        if key not in card:
            raise ModelFormatError(f"reader card {card_path} lacks '{key}'")
    return card


class Reader:
    """Extractive reader over a local model folder (default: the one bundled with the package).

    Cheap to construct; the model loads on the first :meth:`read` (or :meth:`warm_up`). Thread-safe.
    """

    def __init__(self, path: str | Path | None = None, threshold: float | None = None,
                 max_batch: int = 16) -> None:
        self.path = Path(path) if path is not None else BUNDLED
        self._threshold = threshold
        self.max_batch = max_batch
        self._model: Any = None
        self._tokenizer: Any = None
        self._card: dict[str, Any] | None = None
        self._verifier: tuple[Verifier | None] | None = None
        self._lock = threading.Lock()

    @property
    def card(self) -> dict[str, Any]:
        if self._card is None:
            self._card = read_card(self.path)
        return self._card

    @property
    def verifier(self) -> Verifier | None:
        """The answer verifier shipped beside the weights (``verifier.json``), or None (see rag.verify)."""
        if self._verifier is None:
            self._verifier = (load_verifier(self.path),)
        return self._verifier[0]

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"]) if self._threshold is None else self._threshold

    def warm_up(self) -> None:
        """Load the tokenizer and the weights (checked against the card's sha256)."""
        with self._lock:
            if self._model is not None:
                return
            card = self.card
            digest = file_sha256(self.path / WEIGHTS)
            if digest != card["sha256"]:
                raise ModelFormatError(f"reader weights {self.path / WEIGHTS} do not match their card "
                                       f"(sha256 {digest[:12]}..., card says {card['sha256'][:12]}...): "
                                       "the file is corrupt or from another model; reinstall the package")
            import torch
            from transformers import AutoModelForQuestionAnswering, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on a user's terminal
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
                model = AutoModelForQuestionAnswering.from_pretrained(
                    str(self.path), local_files_only=True, dtype=torch.float32)
            except (OSError, ValueError) as e:
                raise ModelFormatError(f"cannot load the reader from {self.path}: {e}") from e
            model.eval()
            self._tokenizer, self._model = tokenizer, model

    def read(self, question: str, passages: Sequence[ReaderPassage], top_k: int = 5) -> Reading:
        """Score answer spans for ``question`` in ``passages``; best first, at most ``top_k``."""
        if not question or not question.strip():
            raise QueryError("the question is empty: ask something")
        passages = [p for p in passages if p.text.strip()]
        if not passages:  # nothing to read: no answer, and no model to load for it
            return Reading((), self._threshold if self._threshold is not None else 0.0)
        self.warm_up()
        logits = self.logits([question] * len(passages), [p.text for p in passages])
        spans: list[ReaderSpan] = []
        for (start_l, end_l, offsets, sample, null) in logits:
            p = passages[sample]
            mask = [o is not None for o in offsets]
            for logit, s, e in best_spans(start_l, end_l, mask, top_k=top_k):
                a, b = whole_words(p.text, offsets[s][0], offsets[e][1])
                text = p.text[a:b]
                if not text.strip():
                    continue
                spans.append(ReaderSpan(text, p.doc_id, p.offset + a, p.offset + b, logit - null, sample, p.key))
        spans.sort(key=lambda s: -s.score)
        seen: set[tuple[str, int, int]] = set()
        unique = []
        for s in spans:  # overlapping windows can propose one span twice
            if (s.doc_id, s.start, s.end) not in seen:
                seen.add((s.doc_id, s.start, s.end))
                unique.append(s)
        return Reading(tuple(unique[:top_k]), self.threshold)

    def logits(self, questions: Sequence[str], contexts: Sequence[str]) -> list[tuple[list[float], list[float],
                                                                                    list[Any], int, float]]:
        """Per window: (start logits, end logits, context char offsets or None, pair index, null logit)."""
        import torch
        self.warm_up()
        card = self.card
        enc = encode(self._tokenizer, questions, contexts, int(card["max_length"]), int(card["stride"]))
        out = []
        n = len(enc["input_ids"])
        for lo in range(0, n, self.max_batch):
            batch = {k: enc[k][lo:lo + self.max_batch] for k in ("input_ids", "attention_mask", "token_type_ids")
                     if k in enc}
            padded = self._tokenizer.pad(batch, return_tensors="pt")
            with torch.inference_mode():
                res = self._model(**padded)
            starts, ends = res.start_logits.float().tolist(), res.end_logits.float().tolist()
            for i in range(len(starts)):
                w = lo + i
                seq = enc.sequence_ids(w)
                offsets = [tuple(o) if seq[j] == 1 else None for j, o in enumerate(enc["offset_mapping"][w])]
                length = len(offsets)
                s, e = starts[i][:length], ends[i][:length]
                out.append((s, e, offsets, enc["overflow_to_sample_mapping"][w], s[0] + e[0]))
        return out
