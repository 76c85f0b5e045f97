"""Concurrency: one KnowledgeBase shared by threads, and several writers on one index.

Searches and answers run in many threads while an article is added: every result must be
complete and correct (hits slice back to their documents, citations are verbatim), and
once the add returns the new article is found. Two KnowledgeBase objects on the same
folder must not lose each other's writes. Everything uses the model-free hash embedder.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import pytest

from rag import Answer, Config, Document, KnowledgeBase

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
HASH = Config(embedder="hash")
NEW_ID = "zz_new_article"
NEW_WORD = "quokkafestival"
NEW_TEXT = (f"The annual {NEW_WORD} opened in Perth on Saturday with a parade of marching bands, the organisers said. "
            f"Visitors to the {NEW_WORD} queued for hours to see the floats, according to local reporters. "
            "The city council said the event brought record numbers of tourists to the waterfront this year.")
QUESTIONS = [
    "Who was killed alongside Soleimani?",
    "Where did the drone strike take place?",
    "When was Qasem Soleimani killed?",
    "How many people were killed in the strike?",
    "What did Iraqi lawmakers vote for?",
    "Soleimani Baghdad airport",
    "Abu Mahdi al-Muhandis",
    "protest embassy",
]


def new_article(folder: Path) -> Path:
    path = folder / f"{NEW_ID}.txt"
    path.write_text(NEW_TEXT + "\n", encoding="utf-8")
    return path


def check_hits(kb: KnowledgeBase, hits: list, k: int) -> None:
    assert len(hits) == k, f"{len(hits)} hits instead of {k}"
    for rank, h in enumerate(hits, start=1):
        assert kb.document(h.doc_id).text[h.start:h.end] == h.text, "hit text differs from the document"
        assert h.rank == rank
    assert len({h.chunk_id for h in hits}) == len(hits)


def check_answer(answer: Answer) -> None:
    assert isinstance(answer, Answer) and answer.text
    passages = {h.chunk_id: h for h in answer.passages}
    for c in answer.citations:
        assert f"[{c.marker}]" in answer.text
        # The quote is a verbatim sentence of the passage it cites (from the snapshot the answer read).
        hit = passages.get(c.chunk_id)
        if hit is not None:
            assert hit.start <= c.start < c.end <= hit.end
            assert hit.text[c.start - hit.start:c.end - hit.start] == c.quote, "citation quote is not verbatim"
    if not answer.abstained:
        assert answer.citations and answer.short_answer


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase.build([ARTICLES], tmp_path / "index", HASH)


def test_threads_search_and_ask_while_an_article_is_added(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ask(QUESTIONS[0])  # load the reader once, outside the timed threads
    path = new_article(tmp_path)
    n_threads, calls, k = 8, 20, 4
    errors: list[BaseException] = []
    added = threading.Event()
    counts = {"search": 0, "ask": 0, "found_new": 0}
    lock = threading.Lock()
    start = threading.Barrier(n_threads + 1)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(calls):
                if i == calls // 2:  # the second half runs once the add has returned, however fast the first was
                    added.wait(timeout=300)
                after_add = added.is_set()
                q = QUESTIONS[(t + i) % len(QUESTIONS)]
                if i % 10 == 9:
                    check_answer(kb.ask(q, k=3))
                    kind = "ask"
                else:
                    hits = kb.search(q, k=k, mode=("hybrid", "dense", "bm25")[i % 3])
                    check_hits(kb, hits, k)
                    kind = "search"
                if after_add:  # the add has returned: its article must be found
                    hits = kb.search(f"{NEW_WORD} parade Perth", k=2)
                    assert hits[0].doc_id == NEW_ID, [h.doc_id for h in hits]
                    check_hits(kb, hits, 2)
                    with lock:
                        counts["found_new"] += 1
                with lock:
                    counts[kind] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    start.wait()
    time.sleep(0.3)  # let the readers get going, then write in the middle
    report = kb.add([path])
    added.set()
    for th in threads:
        th.join(timeout=300)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    if errors:
        raise errors[0]
    assert report.added == (NEW_ID,)
    assert counts["search"] + counts["ask"] == n_threads * calls
    assert counts["found_new"] > 0, "no call ran after the add; the test did not test it"
    assert NEW_ID in {d.doc_id for d in KnowledgeBase.open(kb.index_dir).documents()}


def test_writes_from_several_threads_are_serialised(kb: KnowledgeBase) -> None:
    """Concurrent add_documents and remove calls on one object: none is lost."""
    docs = [Document(doc_id=f"t{i}", text=f"Thread article {i} about the {NEW_WORD}{chr(97 + i)} event in town. "
                                            f"It was a quiet day number {i} in the city, residents said.")
            for i in range(6)]
    errors: list[BaseException] = []

    def add(doc: Document) -> None:
        try:
            kb.add_documents([doc])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def search() -> None:
        try:
            for _ in range(10):
                check_hits(kb, kb.search("Soleimani drone strike", k=3), 3)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=add, args=(d,)) for d in docs] + [threading.Thread(target=search)]

    def remove() -> None:
        try:
            kb.remove(["004_b4ef3569b39be01c"])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads.append(threading.Thread(target=remove))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    if errors:
        raise errors[0]
    expected = {p.stem for p in ARTICLES.glob("*.txt")} - {"004_b4ef3569b39be01c"} | {d.doc_id for d in docs}
    assert {d.doc_id for d in kb.documents()} == expected
    assert {d.doc_id for d in KnowledgeBase.open(kb.index_dir).documents()} == expected


def test_two_knowledge_bases_on_one_folder_keep_both_writes(kb: KnowledgeBase, tmp_path: Path) -> None:
    first = KnowledgeBase.open(kb.index_dir)
    second = KnowledgeBase.open(kb.index_dir)
    a = Document(doc_id="only_first", text="The first writer adds this article about a bridge opening in Basra. "
                                           "Engineers said the bridge took four years to build.")
    b = Document(doc_id="only_second", text="The second writer adds this article about a dam in Mosul. "
                                            "Officials said the dam needed urgent repairs this winter.")
    first.add_documents([a])
    second.add_documents([b])  # must start from the first one's generation, not its own stale one
    ids = {d.doc_id for d in KnowledgeBase.open(kb.index_dir).documents()}
    assert {"only_first", "only_second"} <= ids
    assert {"only_first", "only_second"} <= {d.doc_id for d in second.documents()}
    hits = second.search("bridge opening in Basra", k=1, mode="bm25")
    assert hits[0].doc_id == "only_first"
    # The same from two threads at once.
    c = Document(doc_id="third", text="A third article about a stadium in Najaf. Fans said the new stadium was full.")
    d = Document(doc_id="fourth", text="A fourth article about a library in Erbil. Readers said the library reopened.")
    t1 = threading.Thread(target=first.add_documents, args=([c],))
    t2 = threading.Thread(target=second.add_documents, args=([d],))
    t1.start(), t2.start()
    t1.join(60), t2.join(60)
    final = KnowledgeBase.open(kb.index_dir)
    assert {"only_first", "only_second", "third", "fourth"} <= {x.doc_id for x in final.documents()}
    check_hits(final, final.search("stadium Najaf library Erbil", k=2, mode="bm25"), 2)


def test_search_options_are_not_written_into_the_index(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Options given to open() are for this session; an add must not persist them (kb.py bug)."""
    session = KnowledgeBase.open(kb.index_dir, mode="bm25", candidates=7)
    session.add([new_article(tmp_path)])
    assert session.config.mode == "bm25" and session.config.candidates == 7
    plain = KnowledgeBase.open(kb.index_dir)
    assert plain.config.mode == "hybrid" and plain.config.candidates == 50


def test_search_options_survive_reloading_another_writers_generation(kb: KnowledgeBase, tmp_path: Path) -> None:
    """A KnowledgeBase opened with options keeps them after its write reloads another writer's state (kb.py bug)."""
    session = KnowledgeBase.open(kb.index_dir, mode="dense")
    other = KnowledgeBase.open(kb.index_dir)
    other.add_documents([Document(doc_id="other", text="Another writer wrote this article about rain in Basra. "
                                                       "Farmers said the rain came late this year.")])
    session.add([new_article(tmp_path)])
    assert session.config.mode == "dense"
    assert {"other", NEW_ID} <= {d.doc_id for d in session.documents()}


class _MidAnswerWriter:
    """A reader that lets another writer change the index while an answer is being built."""

    def __init__(self, real, kb: KnowledgeBase, change) -> None:  # noqa: ANN001
        self.real = real
        self.kb = kb
        self.change = change
        self.done = False
        self.threshold = real.threshold
        self.verifier = real.verifier

    def read(self, question, passages, top_k=5):  # noqa: ANN001, ANN201
        out = self.real.read(question, passages, top_k=top_k)
        if not self.done:
            self.done = True
            th = threading.Thread(target=self.change)  # another thread, as in a server
            th.start()
            th.join()
        return out


@pytest.mark.parametrize("change", ["remove", "update"])
def test_ask_reads_one_snapshot_while_the_index_changes(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch,
                                                        change: str) -> None:
    """An answer must use one snapshot from retrieval to citations (answer.py bug: it re-reads kb._snapshot)."""
    import rag.answer

    question = "Who was killed alongside Soleimani?"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = kb.ask(question)
    assert not baseline.abstained, "the question is answered from the demo articles"
    cited = sorted({c.doc_id for c in baseline.citations})

    def do_change() -> None:
        if change == "remove":
            kb.remove(cited)
        else:  # same ids, text shifted: stale offsets would quote the wrong characters
            kb.add_documents([Document(doc_id=d, text="UPDATED. " + kb.document(d).text, title=kb.document(d).title)
                              for d in cited])

    writer = _MidAnswerWriter(rag.answer.reader_for(""), kb, do_change)
    monkeypatch.setattr(rag.answer, "reader_for", lambda path: writer)
    answer = kb.ask(question)
    assert writer.done, "the index changed while the answer was being built"
    check_answer(answer)
    assert [c.quote for c in answer.citations] == [c.quote for c in baseline.citations]
