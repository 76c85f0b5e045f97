"""The extractive reader (rag.reader) and the answer stage's pure parts (rag.answer).

The pure functions are tested on plain values; the bundled model is read on small hand-written
passages (fictional names, so nothing is known in advance) and checked for exact offsets, declining,
and refusing weights that do not match their card.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import ModelFormatError, ModelNotFoundError, QueryError, Reader, ReaderPassage, ReaderSpan
from rag.answer import pool, sentence_bounds, supporting
from rag.versions import answer_key, numeric_value
from rag.reader import BUNDLED, CARD, WEIGHTS, best_spans, file_sha256, whole_words

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- pure parts


def test_best_spans_stay_in_the_context_and_in_order() -> None:
    start = [9.0, 1.0, 5.0, 0.0, 2.0, 8.0]
    end = [9.0, 0.0, 1.0, 6.0, 3.0, 7.0]
    mask = [False, True, True, True, True, False]  # [CLS] and a padding/separator position are not context
    spans = best_spans(start, end, mask, top_k=3, max_tokens=30)
    assert spans[0] == (11.0, 2, 3)  # best start 2, best end 3
    assert all(mask[s] and mask[e] and s <= e for _, s, e in spans)
    assert [x[0] for x in spans] == sorted((x[0] for x in spans), reverse=True)
    assert best_spans(start, end, mask, max_tokens=1)[0][1:] in {(2, 2), (4, 4), (3, 3), (1, 1)}
    assert all(e - s < 1 for _, s, e in best_spans(start, end, mask, max_tokens=1))
    assert best_spans(start, end, [False] * 6) == []


def test_spans_are_widened_to_whole_words() -> None:
    text = "hit the Ayn al-Asad air base, 2,500 troops; Abu Mahdi al-Muhandis’s car"

    def widened(part: str) -> str:
        a = text.index(part)
        s, e = whole_words(text, a, a + len(part))
        return text[s:e]

    assert widened("Ayn al") == "Ayn al-Asad"  # stopped at the hyphen inside a name
    assert widened("yn al-Asa") == "Ayn al-Asad"
    assert widened("2,5") == "2,500"
    assert widened("Abu Mahdi al-Muhandis") == "Abu Mahdi al-Muhandis"  # not the possessive ’s
    assert widened("air base") == "air base" and whole_words(text, 0, len(text)) == (0, len(text))


def test_answer_key_and_numeric_value() -> None:
    assert answer_key("The Kessel  Bridge,") == "kessel bridge"
    assert answer_key("“2,500”") == "2500"
    assert numeric_value("some 2,500 troops") == 2500
    assert numeric_value("2.5 million euros") == 2_500_000
    assert numeric_value("hundreds") is None


def _span(text: str, doc: str, score: float, start: int = 0) -> ReaderSpan:
    return ReaderSpan(text, doc, start, start + len(text), score, 0, f"{doc}#0")


def test_pool_merges_the_same_answer_and_keeps_every_article() -> None:
    cands = pool([_span("2,500", "a", 5.0), _span("some 2,500 troops", "b", 4.0), _span("Baghdad", "c", 3.0),
                  _span("2500", "c", 1.0)])
    assert [c.text for c in cands] == ["2,500", "Baghdad"]
    assert cands[0].docs == {"a", "b", "c"} and cands[0].score == 5.0
    assert [s.doc_id for s in supporting(cands[0])] == ["a", "b"]  # "c" scored 4 logits lower


def test_sentence_bounds() -> None:
    sentences = [(0, 10), (11, 30), (31, 50)]
    assert sentence_bounds(sentences, 12, 15) == (11, 30)
    assert sentence_bounds(sentences, 25, 35) == (11, 50)  # a span across two sentences cites both
    assert sentence_bounds([], 3, 7) == (3, 7)


# ---------------------------------------------------------------------------- the bundled model

TEXT = ("The Kessel river bridge in the town of Arnby was opened by the mayor, Tomas Ekdal, on 12 March 2023. "
        "It cost 40 million euros and took three years to build.")


@pytest.fixture(scope="module")
def reader() -> Reader:
    r = Reader()
    r.warm_up()
    return r


@pytest.mark.slow
def test_the_bundled_card_describes_its_weights() -> None:
    card = json.loads((BUNDLED / CARD).read_text(encoding="utf-8"))
    assert card["sha256"] == file_sha256(BUNDLED / WEIGHTS)
    for key in ("base_model", "data", "hyperparameters", "dev", "threshold", "max_length", "stride"):
        assert key in card, key
    assert "'train'" in card["data"]["split"] and card["hyperparameters"]["seed"] == 13


@pytest.mark.slow
@pytest.mark.parametrize(("question", "expected"), [
    ("Who opened the Kessel river bridge?", "Tomas Ekdal"),
    ("How much did the bridge cost?", "40 million euros"),
    ("When was the bridge opened?", "12 March 2023"),
])
def test_reader_finds_the_span_at_exact_document_offsets(reader: Reader, question: str, expected: str) -> None:
    offset = 1000  # the passage starts 1,000 characters into its document
    document = "x" * offset + TEXT
    reading = reader.read(question, [ReaderPassage("doc", TEXT, offset, "doc#0")])
    best = reading.best
    assert reading.answerable and expected in best.text, best
    assert document[best.start:best.end] == best.text and best.key == "doc#0" and best.doc_id == "doc"


@pytest.mark.slow
def test_reader_declines_a_passage_that_does_not_answer(reader: Reader) -> None:
    reading = reader.read("What is the melting point of tungsten carbide?", [ReaderPassage("doc", TEXT)])
    assert not reading.answerable
    assert reading.no_answer_score >= -reading.threshold


@pytest.mark.slow
def test_reader_ranks_spans_across_passages(reader: Reader) -> None:
    other = "Heavy rain fell over the northern hills on Sunday, and farmers said the harvest would be late."
    reading = reader.read("Who opened the Kessel river bridge?",
                          [ReaderPassage("rain", other), ReaderPassage("bridge", TEXT)])
    assert reading.best.doc_id == "bridge" and reading.best.passage == 1
    assert [s.score for s in reading.spans] == sorted((s.score for s in reading.spans), reverse=True)


def test_reader_input_errors(tmp_path: Path) -> None:
    with pytest.raises(QueryError):
        Reader(tmp_path).read("  ", [ReaderPassage("d", "text")])
    with pytest.raises(ModelNotFoundError, match="train_reader"):
        Reader(tmp_path).read("Who?", [ReaderPassage("d", "text")])
    assert Reader(tmp_path).read("Who?", []).spans == ()  # nothing to read loads nothing


@pytest.mark.slow
def test_weights_that_do_not_match_the_card_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "reader"
    shutil.copytree(BUNDLED, copy)
    with (copy / WEIGHTS).open("r+b") as f:  # flip one byte far into the tensors
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelFormatError, match="do not match their card"):
        Reader(copy).warm_up()
    (copy / CARD).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFormatError, match="unreadable"):
        Reader(copy).warm_up()


@pytest.mark.slow
def test_training_script_writes_a_loadable_model_with_its_card(tmp_path: Path) -> None:
    out, log = tmp_path / "reader", tmp_path / "log.jsonl"
    result = subprocess.run([sys.executable, "tools/train_reader.py", "--out", str(out), "--log", str(log),
                             "--epochs", "1", "--limit", "48", "--batch", "16", "--drop-share", "0.5"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((out / CARD).read_text(encoding="utf-8"))
    assert card["sha256"] == file_sha256(out / WEIGHTS) and card["hyperparameters"]["seed"] == 13
    assert card["data"]["answer_sentence_dropped_share"] == 0.5
    events = [json.loads(line)["event"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert events[0] == "start" and "dev" in events and events[-1] == "done"
    reading = Reader(out).read("Who opened the bridge?", [ReaderPassage("d", TEXT)])
    assert all(TEXT[s.start:s.end] == s.text for s in reading.spans)


def test_a_paragraph_without_the_answer_sentence_keeps_the_rest_and_never_the_answer() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from train_reader import without_answer

    text = "The bridge opened in May. It cost 40 million euros. The mayor, Tomas Ekdal, opened it. Crowds came."
    start = text.index("40 million")
    rest = without_answer(text, start, start + len("40 million"), ["40 million"])
    assert rest == "The bridge opened in May. The mayor, Tomas Ekdal, opened it. Crowds came."
    again = "It cost 40 million. Critics said 40 million was too much. Crowds came."
    assert without_answer(again, 8, 18, ["40 million"]) is None  # the answer is still in another sentence
    assert without_answer("Only one sentence here, with 40 million.", 29, 39, ["40 million"]) is None
