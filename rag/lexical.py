"""Lexical retrieval: a news-aware tokenizer and a BM25 index over chunks.

The tokenizer folds case, accents and curly quotes, keeps hyphenated names whole and
also as parts ("al-Muhandis" gives "al-muhandis" and "muhandis"), reads "2,500" as
"2500", drops possessive "'s" and English stop words, and stems with Snowball. BM25
(Lucene's variant, k1=1.5, b=0.75) is a sparse term-by-chunk weight matrix, so a query
is the sum of a few rows. Alongside it, an optional sentence-by-term incidence matrix says
which terms each sentence holds, so sentence-level lexical coverage needs no tokenizing at
query time. Acronyms the corpus defines ("Popular Mobilization Forces (PMF)") join their two
forms at index time: a text that says "PMF" also holds the terms of "Popular Mobilization
Forces", and one that spells it out also holds "pmf", so a question in either form finds
both. Both persist as ``.npz`` plus a JSON vocabulary: plain data, nothing executable.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+(?:['’\-][^\W\d_]+)*", re.UNICODE)
_ACRONYM = re.compile(r"\b(?:[^\W\d_]\.){2,}")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_POSSESSIVE = re.compile(r"'s$")
_WORD_JOINT = re.compile(r"['\-]")
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she should
so some such than that the their theirs them themselves then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves also said says did does many much one
""".split())


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - snowballstemmer has no type hints
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    if text.isascii():  # nothing to strip or replace (most English text)
        return text
    return "".join(ch for ch in text if not unicodedata.combining(ch)).replace("’", "'")


def tokenize(text: str) -> list[str]:
    """BM25 terms of ``text`` (see the module docstring)."""
    terms: list[str] = []
    folded = _ACRONYM.sub(lambda m: m.group().replace(".", ""), _fold(text))
    for raw in _TOKEN.findall(folded):
        terms.extend(_terms_of(raw))
    return terms


@lru_cache(maxsize=200_000)
def _terms_of(raw: str) -> tuple[str, ...]:
    """The terms of one folded token (a number, or a word with its hyphen/apostrophe parts)."""
    if raw[0].isdigit():
        number = raw.rstrip("%")
        if _GROUPED.fullmatch(number):
            number = number.replace(",", "")
        return (number,)
    terms: list[str] = []
    word = _POSSESSIVE.sub("", raw)
    parts = [p for p in _WORD_JOINT.split(word) if p]
    if len(parts) > 1:
        terms.append(word.replace("'", ""))
    for part in parts:
        if part not in STOP_WORDS and len(part) > 1:
            terms.append(_stem(part))
    return tuple(terms)


# ---- acronyms ------------------------------------------------------------------------------
_SHORT_FORM = r"[A-Z][A-Za-z0-9&]{1,9}"
_SHORT_IN_PARENS = re.compile(rf"\(\s*({_SHORT_FORM})\s*\)")
_LONG_IN_PARENS = re.compile(rf"\b({_SHORT_FORM})\s*\(([^()]{{3,120}})\)")
_SHORT_WORD = re.compile(rf"\b{_SHORT_FORM}\b")
_CLAUSE_BREAK = re.compile(r"[.;:!?()\[\]\n\u2013\u2014\"\u201c\u201d]")


def _looks_like_acronym(word: str) -> bool:
    return sum(ch.isupper() for ch in word) >= 2 and not word.isdigit()


def best_long_form(short: str, words: Sequence[str]) -> str | None:
    """The shortest tail of ``words`` whose letters spell ``short`` (Schwartz & Hearst, 2003).

    Walks the short form backwards, matching each of its letters to a letter of the candidate
    text, the first one at the start of a word; ``None`` when no tail spells it.
    """
    text = " ".join(words)
    s, i = len(short) - 1, len(text) - 1
    while s >= 0:
        ch = short[s].lower()
        if not ch.isalnum():
            s -= 1
            continue
        while i >= 0 and (text[i].lower() != ch or (s == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = text.rfind(" ", 0, i + 1) + 1
    return text[start:]


def acronym_definitions(text: str) -> list[tuple[str, str]]:
    """The ``(short, long)`` acronym definitions in ``text``: "Long Form (LF)" and "LF (Long Form)"."""
    found = []
    for m in _SHORT_IN_PARENS.finditer(text):
        short = m.group(1)
        if not _looks_like_acronym(short):
            continue
        before = _CLAUSE_BREAK.split(text[max(0, m.start() - 300):m.start()])[-1].split()
        long = best_long_form(short, before[-min(len(short) + 5, 2 * len(short)):])
        if long:
            found.append((short, long))
    for m in _LONG_IN_PARENS.finditer(text):
        short, inner = m.group(1), m.group(2).split()
        if _looks_like_acronym(short) and len(inner) >= 2:
            long = best_long_form(short, inner)
            if long is not None and long == " ".join(inner):
                found.append((short, long))
    return found


def _same_reading(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two long forms that differ only in spelling ("mobil" and "mobilis"): word by word, one
    term equals the other or both share their first four letters."""
    return len(a) == len(b) and all(x == y or x[:4] == y[:4] for x, y in zip(a, b))


@dataclass(frozen=True)
class Acronyms:
    """The acronyms a corpus defines, as BM25 terms: ``{"pmf": (("popular", "mobil", "forc"),)}``,
    each with the spellings of its long form ("Mobilization", "Mobilisation")."""

    forms: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    _by_first: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Acronyms:
        """Every acronym defined in ``texts`` whose reading is agreed on: one reading (in any
        spelling) holds more than half of its definitions; a short form defined two ways
        ("Private Military Company", "Popular Mobilization Committee") is left out."""
        seen: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
        for text in texts:
            for short, long in acronym_definitions(text):
                key, terms = tokenize(short), tuple(tokenize(long))
                if len(key) == 1 and len(terms) >= 2 and key[0] not in terms:
                    seen[key[0]][terms] += 1
        forms = {}
        for key, readings in seen.items():
            best = readings.most_common(1)[0][0]
            spellings = [r for r in readings if _same_reading(r, best)]
            if 2 * sum(readings[r] for r in spellings) > sum(readings.values()):
                forms[key] = tuple(sorted(spellings, key=lambda r: -readings[r]))
        by_first: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        for key, spellings in forms.items():
            for terms in spellings:
                by_first[terms[0]].append((terms, key))
        return cls(forms, dict(by_first))

    def expand(self, text: str, terms: list[str]) -> list[str]:
        """``terms`` (the tokens of ``text``) plus the other form of every defined acronym it uses:
        the long form's terms for each capitalised short form, the short form for each long one.
        Each added term is added once."""
        if not self.forms:
            return terms
        extra: dict[str, None] = {}  # in order of first use
        held = set(terms)
        for m in _SHORT_WORD.finditer(text):
            word = m.group()
            if _looks_like_acronym(word):
                key = tokenize(word)
                if len(key) == 1 and key[0] in self.forms:
                    extra.update(dict.fromkeys(t for r in self.forms[key[0]] for t in r if t not in held))
        for i, term in enumerate(terms):
            for long, key in self._by_first.get(term, ()):
                if key not in held and tuple(terms[i:i + len(long)]) == long:
                    extra[key] = None
        return terms + list(extra) if extra else terms


class BM25Index:
    """BM25 over a fixed list of texts; rows are chunk positions."""

    def __init__(self, vocab: dict[str, int], weights: sparse.csr_matrix, k1: float = 1.5, b: float = 0.75,
                 sentence_terms: sparse.csr_matrix | None = None) -> None:
        self.vocab = vocab
        self.weights = weights  # terms x chunks, BM25 term weight per (term, chunk)
        self.k1 = k1
        self.b = b
        self.sentence_terms = sentence_terms  # sentences x terms, 1 where the sentence holds the term

    @property
    def size(self) -> int:
        return int(self.weights.shape[1])

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (tokenized) term; 0 for unknown terms."""
        tid = self.vocab.get(term)
        if tid is None:
            return 0.0
        df = self.weights.indptr[tid + 1] - self.weights.indptr[tid]
        n = max(self.size, 1)
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    def term_ids(self, terms: Sequence[str]) -> np.ndarray:
        """Vocabulary ids of the known ``terms`` (unknown ones dropped)."""
        return np.asarray([self.vocab[t] for t in terms if t in self.vocab], dtype=np.int64)

    def idfs(self, ids: np.ndarray) -> np.ndarray:
        """Inverse document frequencies of vocabulary ``ids`` (same formula as :meth:`idf`)."""
        df = (self.weights.indptr[ids + 1] - self.weights.indptr[ids]).astype(np.float64)
        n = max(self.size, 1)
        return np.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def sentence_coverage(self, sentence_rows: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """For each sentence row, the sum of ``weights`` over the term ``ids`` it holds.

        Uses the stored incidence matrix; raises ``LookupError`` when this index has none
        (built before it existed), so the caller can tokenize instead.
        """
        if self.sentence_terms is None:
            raise LookupError("this BM25 index has no sentence-term matrix")
        if len(ids) == 0 or len(sentence_rows) == 0:
            return np.zeros(len(sentence_rows), dtype=np.float64)
        sub = self.sentence_terms[sentence_rows][:, ids]
        return np.asarray(sub @ np.asarray(weights, dtype=np.float64)).ravel()

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.5, b: float = 0.75,
              sentences: Sequence[str] | None = None, acronyms: Acronyms | None = None) -> BM25Index:
        """BM25 over ``texts``; with ``sentences``, also their term incidence matrix. With
        ``acronyms``, each text also holds the other form of the acronyms it uses."""
        acronyms = acronyms or Acronyms()
        index = cls.from_tokens([acronyms.expand(t, tokenize(t)) for t in texts], k1, b)
        if sentences is not None:
            index.sentence_terms = incidence([acronyms.expand(t, tokenize(t)) for t in sentences], index.vocab)
        return index

    @classmethod
    def from_tokens(cls, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> BM25Index:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for col, terms in enumerate(docs):
            lengths[col] = len(terms)
            tf: dict[int, int] = {}
            for term in terms:
                tid = vocab.setdefault(term, len(vocab))
                tf[tid] = tf.get(tid, 0) + 1
            rows.extend(tf)
            cols.extend([col] * len(tf))
            counts.extend(tf.values())
        n = max(len(docs), 1)
        tf_matrix = sparse.csr_matrix((np.asarray(counts, dtype=np.float32), (rows, cols)),
                                      shape=(len(vocab), len(docs)))
        df = np.diff(tf_matrix.indptr).astype(np.float32)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if len(docs) else 1.0
        norm = k1 * (1.0 - b + b * lengths / max(avgdl, 1e-9))
        coo = tf_matrix.tocoo()
        tf = coo.data
        data = idf[coo.row] * tf * (k1 + 1.0) / (tf + norm[coo.col])
        weights = sparse.csr_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=tf_matrix.shape)
        return cls(vocab, weights, k1, b)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (a dense array, zeros where no term matches)."""
        ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not ids or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        counts = np.bincount(ids)
        terms = np.nonzero(counts)[0]
        # A repeated query term counts once per occurrence, as in Lucene.
        return np.asarray(self.weights[terms].T @ counts[terms].astype(np.float32)).ravel()

    def save(self, folder: Path) -> list[str]:
        """Write ``bm25.npz`` and ``bm25_vocab.json``; return the file names."""
        w = self.weights
        extra = {}
        if self.sentence_terms is not None:
            extra = {"sent_indices": self.sentence_terms.indices.astype(np.int32),
                     "sent_indptr": self.sentence_terms.indptr.astype(np.int64)}
        with open(folder / "bm25.npz", "wb") as fh:
            np.savez(fh, data=w.data, indices=w.indices, indptr=w.indptr,
                     shape=np.asarray(w.shape, dtype=np.int64), params=np.asarray([self.k1, self.b]), **extra)
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "bm25_vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        return ["bm25.npz", "bm25_vocab.json"]

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        with np.load(folder / "bm25.npz", allow_pickle=False) as z:
            shape = tuple(int(x) for x in z["shape"])
            weights = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
            k1, b = (float(x) for x in z["params"])
            sentence_terms = None
            if "sent_indices" in z.files:
                indices, indptr = z["sent_indices"], z["sent_indptr"]
                sentence_terms = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                                   shape=(len(indptr) - 1, shape[0]))
        terms = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        return cls({t: i for i, t in enumerate(terms)}, weights, k1, b, sentence_terms)


def incidence(docs: Iterable[Sequence[str]], vocab: dict[str, int]) -> sparse.csr_matrix:
    """A docs-by-vocabulary 0/1 matrix: which known terms each token list holds."""
    indptr = [0]
    indices: list[int] = []
    for terms in docs:
        indices.extend(sorted({vocab[t] for t in terms if t in vocab}))
        indptr.append(len(indices))
    return sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int32),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(indptr) - 1, len(vocab)))
