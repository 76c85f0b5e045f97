"""Answer verification: is the reader's best answer right, or do the articles not say?

The reader scores each span against its window's "no answer" logit, and that margin alone decides
poorly across passages: an unanswerable question read over five retrieved passages usually finds
some span that looks like an answer. The verifier is a logistic model over a few signals about the
best pooled candidate that the margin does not carry:

- ``margin``: the best span's score over no-answer; ``gap``: its lead over the next candidate;
- ``support``: how many retrieved passages state it within a few logits of the best;
- ``sentence_coverage`` / ``passage_coverage``: the share of the question's idf mass (BM25 terms,
  stemmed, stop words dropped) that the cited sentence / the passage holds, and ``missing_idf``:
  the rarest question term the passage lacks (a question about "injured" workers read against a
  passage that never says "injured"), idf scaled to [0, 1] by the index's largest possible idf;
- ``answer_words``: the answer's length in words (log).

It is fitted by ``tools/fit_verifier.py`` on the SQuAD **dev** split read as ``kb.ask`` reads it
(label: the answer is right, F1 >= 0.5 against a gold answer; unanswerable questions are never
right) and is written as plain JSON beside a reader (``verifier.json``: feature names,
standardisation, coefficients, the threshold and where they came from); a reader folder that holds
one is decided by it. The bundled reader ships without one: on SQuAD the verifier's gain came from
the retrieval rank of the answer's passage, which does not carry to news (docs/answering.md). The
maths here is pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelFormatError
from .lexical import tokenize

FEATURES = ("margin", "gap", "support", "sentence_coverage", "passage_coverage", "missing_idf", "answer_words")
VERIFIER = "verifier.json"
GAP_CAP = 10.0  # a candidate with no rival leads by this much


def features(*, margin: float, rival: float | None, support: int, idf: Mapping[str, float],
             max_idf: float, question: str, sentence: str, passage: str, answer: str) -> dict[str, float]:
    """The verifier's inputs for one answer (see the module docstring). ``idf`` maps BM25 terms to their
    idf in the index; a question term missing from it gets ``max_idf`` (no text in the index holds it). Pure."""
    terms = set(tokenize(question))
    weight = {t: idf.get(t, max_idf) for t in terms}
    total = sum(weight.values()) or 1.0
    in_sentence, in_passage = set(tokenize(sentence)), set(tokenize(passage))
    missing = [w for t, w in weight.items() if t not in in_passage]
    scale = max_idf or 1.0
    return {
        "margin": margin,
        "gap": GAP_CAP if rival is None else min(margin - rival, GAP_CAP),
        "support": float(support),
        "sentence_coverage": sum(w for t, w in weight.items() if t in in_sentence) / total,
        "passage_coverage": sum(w for t, w in weight.items() if t in in_passage) / total,
        "missing_idf": max(missing, default=0.0) / scale,
        "answer_words": math.log(1 + len(answer.split())),
    }


@dataclass(frozen=True)
class Verifier:
    """A fitted logistic model over :data:`FEATURES`; ``threshold`` is on its probability."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float

    def logit(self, x: Mapping[str, float]) -> float:
        return self.intercept + sum(c * (x[f] - m) / s for f, m, s, c in
                                    zip(self.features, self.mean, self.scale, self.coef))

    def probability(self, x: Mapping[str, float]) -> float:
        return sigmoid(self.logit(x))

    def confidence(self, x: Mapping[str, float]) -> float:
        """The probability moved on the logit scale so that the threshold sits at 0.5 (answers above it)."""
        return sigmoid(self.logit(x) - logit(self.threshold))

    def to_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: Mapping[str, object], where: str = "verifier") -> Verifier:
        try:
            names = tuple(str(f) for f in d["features"])  # type: ignore[union-attr]
            vecs = [tuple(float(v) for v in d[k]) for k in ("mean", "scale", "coef")]  # type: ignore[union-attr]
            intercept, threshold = float(d["intercept"]), float(d["threshold"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"{where} is malformed ({exc}); refit it with python tools/fit_verifier.py") from exc
        if set(names) - set(FEATURES) or any(len(v) != len(names) for v in vecs) or any(s <= 0 for s in vecs[1]) \
                or not 0.0 < threshold < 1.0 or not all(map(math.isfinite, [intercept, *vecs[0], *vecs[2]])):
            raise ModelFormatError(f"{where} does not fit this version's features {FEATURES} or has a threshold outside "
                             "(0, 1); refit it with python tools/fit_verifier.py")
        return cls(names, *vecs, intercept, threshold)  # type: ignore[arg-type]


def load_verifier(folder: Path) -> Verifier | None:
    """The verifier shipped beside a reader in ``folder``, or None when it has none."""
    path = folder / VERIFIER
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"cannot read {path} ({exc}); refit it with python tools/fit_verifier.py") from exc
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path} is not a JSON object; refit it with python tools/fit_verifier.py")
    return Verifier.from_dict(data, str(path))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def fit_logistic(rows: Sequence[Sequence[float]], labels: Sequence[int], l2: float = 1.0,
                 iterations: int = 50) -> tuple[list[float], float]:
    """L2-regularised logistic regression by Newton's method on standardised ``rows``: (coef, intercept). Pure."""
    import numpy as np

    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return [float(v) for v in w[:-1]], float(w[-1])
