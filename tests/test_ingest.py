"""Ingestion: every supported format, stable ids, encodings, and bad files reported, never fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rag.errors import EmptyCorpusError, IngestError
from rag.ingest import decode_bytes, load_documents, read_file

BODY = ("Thousands of people rallied in Baghdad on Saturday to mark the anniversary of the killing of the Iranian "
        "general. The crowd demanded that the remaining foreign troops leave the country.")
BODY2 = ("A court in Baghdad issued an arrest warrant for the former US president over the drone strike near the "
         "airport. The warrant was issued under Article 406 of the Iraqi Penal Code.")


def load_one(path: Path, max_bytes: int = 1_000_000):  # noqa: ANN201 - Document
    docs, skipped = load_documents([path], max_bytes=max_bytes)
    assert not skipped, skipped
    assert len(docs) == 1
    return docs[0]


def skipped_only(path: Path | str, max_bytes: int = 1_000_000):  # noqa: ANN201 - Skipped
    docs, skipped = load_documents([path], max_bytes=max_bytes, require_any=False)
    assert docs == [] and len(skipped) == 1, (docs, skipped)
    return skipped[0]


def test_demo_articles_load_with_stem_ids(articles_dir: Path) -> None:
    docs, skipped = load_documents([articles_dir])
    assert skipped == []
    assert [d.doc_id for d in docs] == sorted(p.stem for p in articles_dir.glob("*.txt"))
    assert all(d.path.endswith(".txt") and d.text for d in docs)
    again, _ = load_documents([articles_dir])
    assert [(d.doc_id, d.text) for d in again] == [(d.doc_id, d.text) for d in docs]


def test_txt_and_md(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text(f"Source link\n\n{BODY}\n", encoding="utf-8")
    (tmp_path / "story.md").write_text(f"{BODY2}\n", encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert skipped == []
    by_id = {d.doc_id: d for d in docs}
    assert by_id["note"].text == BODY and by_id["story"].text == BODY2
    assert by_id["note"].path == str(tmp_path / "note.txt")


MARKDOWN = """---
title: "Council approves the river bridge"
date: 2024-03-12
source: Arnby Courier
author: Lena Holm
url: https://example.org/bridge
---
# Council approves the river bridge

Sign up for our morning briefing

The **town council** of Arnby approved the [new bridge](https://example.org/x) on *Tuesday*, after a vote of 9 to 2.
It will be 240 metres long.

Related: Ferry timetable changes

- The mayor, Tomas Ekdal, said work starts in May. ![a photo](pic.jpg)
"""


def test_markdown_front_matter_is_metadata_and_the_markup_goes(tmp_path: Path) -> None:
    (tmp_path / "post.md").write_text(MARKDOWN, encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert skipped == []
    doc = docs[0]
    assert (doc.title, doc.date, doc.source, doc.author, doc.url) == (
        "Council approves the river bridge", "2024-03-12", "Arnby Courier", "Lena Holm", "https://example.org/bridge")
    assert doc.text == ("The town council of Arnby approved the new bridge on Tuesday, after a vote of 9 to 2. "
                        "It will be 240 metres long.\n\nThe mayor, Tomas Ekdal, said work starts in May.")
    for gone in ("---", "title:", "**", "](", "#", "Sign up", "Related:", "photo"):
        assert gone not in doc.text, gone


def test_markdown_heading_is_the_title_without_front_matter(tmp_path: Path) -> None:
    (tmp_path / "plain.md").write_text("# Floods close the ring road\n\nWater covered the ring road of Arnby on "
                                       "Monday, the police said, and it stays closed until Friday.\n", encoding="utf-8")
    (tmp_path / "bad.md").write_text("---\ntitle: [unclosed\n---\nSome text that is long enough to be kept.\n",
                                     encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert [d.title for d in docs] == ["Floods close the ring road"]
    assert docs[0].text.startswith("Water covered the ring road")
    assert len(skipped) == 1 and "front matter" in skipped[0].reason


HTML = """<!DOCTYPE html>
<html><head><title>Iraqi Protesters Rally in Baghdad | Example News</title>
<meta name="author" content="Jane Doe">
<meta property="og:title" content="Iraqi Protesters Rally in Baghdad">
<meta property="article:published_time" content="2022-01-02T10:00:00Z">
<meta property="og:site_name" content="Example News">
<style>.ad { color: red; } body { font-family: STYLESECRET; }</style>
<script>var trackingSecret = "SCRIPTSECRET"; console.log("hello");</script>
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article>
<h1>Iraqi Protesters Rally in Baghdad</h1>
<p>Thousands of supporters of Iraqi armed factions rallied in central Baghdad on Saturday to mark the second
anniversary of the killing of Iranian general Qassem Soleimani.</p>
<p>The demonstrators called for the withdrawal of the remaining US troops from Iraq and carried portraits of
Soleimani and Abu Mahdi al-Muhandis, who was killed alongside him.</p>
<p>Faleh al-Fayyad, a senior official of the Popular Mobilization Forces, said the killings were a crime against
the sovereignty of Iraq.</p>
<script>document.write("INLINESCRIPT");</script>
</article>
<footer>Copyright 2022 Example News. All rights reserved.</footer>
</body></html>
"""


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "rally.html"
    path.write_text(HTML, encoding="utf-8")
    d = load_one(path)
    assert d.doc_id == "rally"
    assert "Abu Mahdi al-Muhandis, who was killed alongside him." in d.text
    assert "Faleh al-Fayyad" in d.text
    for leaked in ("SCRIPTSECRET", "STYLESECRET", "INLINESCRIPT", "console.log", "font-family", "<p>", "Home"):
        assert leaked not in d.text, leaked
    assert d.title == "Iraqi Protesters Rally in Baghdad"
    assert d.author == "Jane Doe"
    assert d.date == "2022-01-02"
    assert d.source == "Example News"


def test_html_without_article_text_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.htm"
    path.write_text("<html><head><script>var x = 1;</script></head><body></body></html>", encoding="utf-8")
    s = skipped_only(path)
    assert s.source == str(path) and "no article text" in s.reason


def test_json_single_object_with_metadata(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"id": "rec/1 ", "title": "A Title", "published_at": "2022-01-03T10:00:00Z",
                                "source": "Wire", "url": "https://example.org/a", "author": "Jane Doe",
                                "text": BODY}), encoding="utf-8")
    d = load_one(path)
    assert (d.doc_id, d.title, d.date, d.source, d.url, d.author) == (
        "rec_1", "A Title", "2022-01-03", "Wire", "https://example.org/a", "Jane Doe")
    assert d.text == BODY
    titled = tmp_path / "titled.json"
    titled.write_text(json.dumps({"title": "Crowds rally in Baghdad", "text": f"Crowds rally in Baghdad\n\n{BODY}"}),
                      encoding="utf-8")
    assert load_one(titled).text == BODY, "the title is not repeated in the body"
    no_id = tmp_path / "plain.json"
    no_id.write_text(json.dumps({"body": BODY2, "date": "January 5, 2022"}), encoding="utf-8")
    d2 = load_one(no_id)
    assert (d2.doc_id, d2.date, d2.text) == ("plain", "2022-01-05", BODY2)


def test_json_list_and_wrapped_list(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([{"text": BODY}, {"id": "b", "body": BODY2}, {"id": "c", "text": ""}, 7]),
                    encoding="utf-8")
    docs, skipped = load_documents([path])
    assert [d.doc_id for d in docs] == ["batch-1", "b"]
    assert sorted(s.source for s in skipped) == [f"{path} record 3", f"{path} record 4"]
    assert "no non-empty 'text'" in skipped[0].reason or "no non-empty 'text'" in skipped[1].reason
    wrapped = tmp_path / "feed.json"
    wrapped.write_text(json.dumps({"articles": [{"id": "w1", "text": BODY}, {"id": "w2", "text": BODY2}]}),
                       encoding="utf-8")
    assert [d.doc_id for d in load_documents([wrapped])[0]] == ["w1", "w2"]


def test_jsonl_malformed_line_is_skipped_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "recs.jsonl"
    lines = [json.dumps({"id": "a", "text": BODY, "source": "Wire"}), "", "{not json",
             json.dumps({"text": BODY2, "date": "2021-01-18"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs, skipped = load_documents([path])
    assert [(d.doc_id, d.source) for d in docs] == [("a", "Wire"), ("recs-4", "")]
    assert docs[1].date == "2021-01-18" and docs[1].text == BODY2
    assert len(skipped) == 1 and skipped[0].source == f"{path} line 3"
    assert "malformed JSON" in skipped[0].reason


def test_malformed_json_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"text": "unterminated', encoding="utf-8")
    s = skipped_only(path)
    assert "malformed JSON" in s.reason and "column 10" in s.reason


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    s = skipped_only(path)
    assert "nested deeper" in s.reason


def test_binary_file_with_txt_extension(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    s = skipped_only(path)
    assert s.source == str(path) and "binary" in s.reason
    controls = tmp_path / "controls.txt"
    controls.write_bytes(bytes(range(1, 32)) * 50)
    assert "binary" in skipped_only(controls).reason


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_western_8bit_files_are_decoded(tmp_path: Path, encoding: str) -> None:
    text = ("Le café était plein à Montréal samedi soir, où des centaines de personnes s'étaient réunies. "
            "Die Demonstranten forderten den Abzug der Truppen, während Tausende auf den Straßen waren.")
    if encoding == "cp1252":
        text += " “Smart quotes” — and a euro sign: 5 €."
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    assert load_one(path).text == text


def test_short_latin1_text_and_other_8bit_encodings() -> None:
    assert decode_bytes("Über Straßen.".encode("latin-1"), "x") == "Über Straßen."
    ru = "Тысячи человек собрались в Багдаде в субботу, чтобы отметить годовщину гибели генерала."
    assert decode_bytes(ru.encode("cp1251"), "x") == ru


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_unicode_with_bom(tmp_path: Path, encoding: str) -> None:
    text = "Le café était plein à Montréal samedi soir, où des centaines de personnes s'étaient réunies — “ok”."
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path = tmp_path / "bom.txt"
    path.write_bytes(data)
    d = load_one(path)
    assert d.text == text and not d.text.startswith("\ufeff")


def test_empty_corpus(tmp_path: Path) -> None:
    with pytest.raises(EmptyCorpusError, match="no readable article"):
        load_documents([tmp_path])
    (tmp_path / "blank.txt").write_text("   \n\n", encoding="utf-8")
    (tmp_path / "chrome.txt").write_text("Source link\n\nLeave a Reply\n", encoding="utf-8")
    with pytest.raises(EmptyCorpusError) as info:
        load_documents([tmp_path])
    assert "blank.txt" in str(info.value) and "no article text left" in str(info.value)
    assert load_documents([tmp_path], require_any=False)[0] == []


def test_missing_path_and_unsupported_extension(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "zzz.txt"
    s = skipped_only(missing)
    assert s.source == str(missing) and "no such file" in s.reason
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "ok.txt").write_text(BODY, encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["ok"]
    assert [(s.source, "unsupported file type .pdf" in s.reason) for s in skipped] == [
        (str(tmp_path / "slides.pdf"), True)]
    explicit = list(read_file(tmp_path / "slides.pdf", 1000))
    assert len(explicit) == 1 and ".pdf" in explicit[0].reason and ".txt" in explicit[0].reason


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / ".hidden.txt").write_text(BODY2, encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text(BODY2, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "visible.txt").write_text(BODY, encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["visible"] and skipped == []


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(BODY * 20, encoding="utf-8")
    s = skipped_only(path, max_bytes=1000)
    assert s.source == str(path) and "1,000-byte limit" in s.reason
    assert load_one(path, max_bytes=100_000).doc_id == "big"


def test_symlink_pointing_outside_the_folder_is_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    corpus = tmp_path / "corpus"
    outside.mkdir()
    corpus.mkdir()
    (outside / "secret.txt").write_text(BODY2, encoding="utf-8")
    (corpus / "ok.txt").write_text(BODY, encoding="utf-8")
    (corpus / "inside.txt").symlink_to(corpus / "ok.txt")
    os.symlink(outside / "secret.txt", corpus / "link.txt")
    docs, skipped = load_documents([corpus])
    assert sorted(d.doc_id for d in docs) == ["inside", "ok"]
    assert all("Article 406" not in d.text for d in docs)
    assert [(s.source, "outside the folder" in s.reason) for s in skipped] == [(str(corpus / "link.txt"), True)]


def test_unsafe_ids_are_sanitised(tmp_path: Path) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "text": BODY + f" Number {n}."}) for n, i in
                              enumerate(["../../etc/passwd", "a b#c", 42])), encoding="utf-8")
    docs, skipped = load_documents([path])
    assert [d.doc_id for d in docs] == [".._.._etc_passwd", "a_b_c", "42"]
    bad = tmp_path / "bad_id.json"
    bad.write_text(json.dumps({"id": "###", "text": BODY}), encoding="utf-8")
    assert "empty after removing unsafe characters" in skipped_only(bad).reason


def test_ingest_error_carries_source_and_reason() -> None:
    with pytest.raises(IngestError) as info:
        decode_bytes(b"\x00\x01binary", "blob.txt")
    assert info.value.source == "blob.txt" and "binary" in info.value.reason
    assert str(info.value).startswith("blob.txt: ")


def test_sidecar_metadata_wins_and_is_not_an_article(tmp_path: Path) -> None:
    (tmp_path / "story.txt").write_text(f"{BODY}\n", encoding="utf-8")
    (tmp_path / "story.meta.json").write_text(json.dumps({"source": "AFP", "date": "2 January 2022",
                                                          "url": "https://example.org/s", "extra": 1}),
                                              encoding="utf-8")
    (tmp_path / "other.txt").write_text(f"{BODY2}\n", encoding="utf-8")
    (tmp_path / "other.meta.json").write_text("[1, 2]", encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["story"]
    assert (docs[0].source, docs[0].date, docs[0].url) == ("AFP", "2022-01-02", "https://example.org/s")
    assert docs[0].text == BODY  # metadata never enters the text
    assert len(skipped) == 1 and "sidecar" in skipped[0].reason and skipped[0].source.endswith("other.meta.json")


def test_an_article_without_headline_is_titled_by_its_lead(tmp_path: Path) -> None:
    (tmp_path / "lead.txt").write_text("Water covered the ring road of Arnby on Monday after two days of heavy rain, "
                                       "the police said.\n", encoding="utf-8")
    (doc,), _ = load_documents([tmp_path])
    assert doc.title == "Water covered the ring road of Arnby on Monday after …"


def test_demo_articles_carry_their_outlets(articles_dir: Path) -> None:
    docs, _ = load_documents([articles_dir])
    by_id = {d.doc_id[:3]: d for d in docs}
    assert by_id["004"].source == "AFP" and by_id["002"].source == "Sputnik International"
    assert by_id["002"].date == "2022-01-02" and by_id["003"].source == "New Eastern Outlook"
    assert all(d.title and d.title != d.doc_id for d in docs)
