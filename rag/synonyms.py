"""Words that questions and news text use for one another ("start" / "began", "government" /
"administration"): a small hand-written thesaurus of common English synonyms, read as BM25 terms.

A question is often a paraphrase of the sentence that answers it. Where both use the same word, the
answerer's term coverage sees it; where one says "start cutting" and the other "began scaling down",
it does not. Each group below lists words (with irregular forms) that can stand for one another in
news and reference prose; words with several common senses are left out ("fire", "state", "pass",
"head"), so a match stays a match in meaning. The answerer credits a sentence that holds a synonym of a
question term with part of that term's weight (:data:`SYNONYM_WEIGHT`); retrieval does not use it.

A phrasal verb in a question ("set on fire", "carry on", "pull out") stands for one verb ("burn",
"continue", "withdraw"): :func:`phrasal_verbs` finds them, so the answerer can look for that verb too.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .lexical import tokenize

SYNONYM_WEIGHT = 0.8  # a synonym is weaker evidence than the question's own word

# One group per line; forms of one word (irregular past tenses) are listed like synonyms.
_GROUPS = """
begin began begun start commence
end ended finish conclude cease halt
continue persist
kill slay slew slain assassinate
die died perish
burn burnt torch ignite
destroy demolish wreck raze
government administration regime
soldier troop serviceman servicemen
lawmaker legislator parliamentarian
parliament legislature
adopt approve enact ratify
cut reduce decrease slash trim shrink
increase raise boost hike
claim allege assert contend
accuse blame
attack strike raid assault
protester protestor demonstrator
protest demonstration rally
leader chief
nation country
buy bought purchase acquire
build built construct erect
meet met gather assemble convene
choose chose chosen select pick
help assist aid
try tried attempt
ban prohibit forbid forbade outlaw
allow permit
arrest detain apprehend
warn caution
fight fought battle combat
defeat vanquish
leave depart
withdraw withdrew withdrawn withdrawal pullout
expel oust eject
hire employ recruit
rise rose risen climb soar
fall fell fallen drop decline plunge
announce declare proclaim
reveal disclose divulge
investigate probe
refuse reject
criticize criticise condemn denounce
praise commend
support endorse
oppose resist
demand urge
ask request
plan intend
explosion blast
missile rocket
car vehicle automobile
airport airfield
role capacity
job occupation profession
killing assassination murder slaying
responsible responsibility accountable liable
border frontier
ally allies partner
enemy foe adversary
photo photograph picture image
film movie
law legislation statute
company firm corporation
employee worker staff
home residence
repair fix mend
answer reply respond
marry married wed
move relocate
treaty accord pact agreement
talks negotiations
war conflict
militant insurgent rebel guerrilla
anger fury outrage
injure injured wound wounded hurt
victim casualty casualties
inform notify
display exhibit depict
use utilize utilise
need require
get got gotten obtain receive
grant award
create produce
famous renowned celebrated
important significant crucial vital
main principal primary
former previous
"""


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    """Each term to the terms of every group it belongs to (itself left out)."""
    table: dict[str, set[str]] = {}
    for line in _GROUPS.strip().splitlines():
        terms = {t for word in line.split() for t in tokenize(word)}
        for t in terms:
            table.setdefault(t, set()).update(terms - {t})
    return {t: frozenset(s) for t, s in table.items()}


def synonyms(term: str) -> frozenset[str]:
    """The BM25 terms that may stand for ``term`` (a term from :func:`rag.lexical.tokenize`); empty if none."""
    return _table().get(term, frozenset())


def with_synonyms(terms: set[str]) -> set[str]:
    """``terms`` and every synonym of each."""
    return set(terms).union(*(synonyms(t) for t in terms)) if terms else set()


# Phrasal verbs (any inflection) and the one verb each stands for.
_PHRASAL: tuple[tuple[str, str], ...] = (
    (r"set(?:s|ting)?\s+(?:\w+\s+){0,4}?(?:on\s+fire|ablaze|alight)\b|set(?:s|ting)?\s+fire\s+to\b", "burn"),
    (r"(?:carr(?:y|ies|ied|ying)|go(?:es|ing)?|went|keep(?:s|ing)?|kept)\s+on\b(?!\s+(?:the|a|an|his|her|its|their)\b)",
     "continue"),
    (r"pull(?:s|ed|ing)?\s+out\b", "withdraw"),
    (r"step(?:s|ped|ping)?\s+down\b", "resign"),
    (r"call(?:s|ed|ing)?\s+off\b", "cancel"),
    (r"(?:blow(?:s|n|ing)?|blew)\s+up\b", "explode"),
    (r"shut(?:s|ting)?\s+down\b", "close"),
    (r"look(?:s|ed|ing)?\s+into\b", "investigate"),
    (r"turn(?:s|ed|ing)?\s+down\b", "reject"),
    (r"(?:wipe[sd]?|wiping)\s+out\b", "destroy"),
    (r"put(?:s|ting)?\s+out\b", "extinguish"),
    (r"set(?:s|ting)?\s+up\b", "establish"),
    (r"(?:break(?:s|ing)?|broke|broken)\s+out\b", "erupt"),
    (r"(?:give[sn]?|gave|giving)\s+up\b", "surrender"),
    (r"(?:take[sn]?|took|taking)\s+over\b", "seize"),
    (r"hand(?:s|ed|ing)?\s+over\b", "transfer"),
    (r"(?:cut(?:s|ting)?|scal(?:e|es|ed|ing)|(?:draw(?:s|n|ing)?|drew))\s+(?:back|down)\b", "reduce"),
)
_PHRASAL_RE = tuple((re.compile(r"\b" + pattern, re.IGNORECASE), verb) for pattern, verb in _PHRASAL)


def phrasal_verbs(text: str) -> list[tuple[int, int, str]]:
    """The phrasal verbs in ``text`` as (start, end, the stem of the verb it stands for), in text order."""
    found = [(m.start(), m.end(), tokenize(verb)[0]) for pattern, verb in _PHRASAL_RE for m in pattern.finditer(text)]
    return sorted(found)
