"""The Gradio app through its named API endpoints (gradio_client), on a small hash-embedder index.

One app per module: the demo articles indexed with the fast model-free embedder in a
temporary folder, served on a free local port, closed at the end. Tests that change the
index add and remove their own articles, so they do not depend on each other's order.
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")

from rag import Config, KnowledgeBase  # noqa: E402

import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase.build([ARTICLES], tmp_path_factory.mktemp("app_kb") / "index", Config(embedder="hash"))


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase):  # noqa: ANN201 - gradio_client.Client
    demo = app.build_app(kb)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def ask(client, question: str, **kw):  # noqa: ANN001, ANN201
    args = {"k": 5, "mode": "extractive", "search_mode": "hybrid", "source": "", "date_from": "", "date_to": ""}
    args.update(kw)
    return client.predict(question, args["k"], args["mode"], args["search_mode"], args["source"],
                          args["date_from"], args["date_to"], api_name="/ask")


def article_count(client) -> int:  # noqa: ANN001
    return client.predict(api_name="/index_info")[1]["documents"]


def test_endpoints_are_named(client) -> None:  # noqa: ANN001
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/ask", "/search", "/add_articles", "/list_articles", "/remove_articles", "/index_info"} <= names


def test_ask_cites_exact_document_text(client, kb: KnowledgeBase) -> None:  # noqa: ANN001
    page, answer = ask(client, "How many US troops remain in Iraq?")
    assert "error" not in answer
    assert not answer["abstained"]
    assert "2,500" in answer["text"]
    assert answer["citations"]
    for c in answer["citations"]:
        assert kb.document(c["doc_id"]).text[c["start"]:c["end"]] == c["quote"]
        n = c["marker"]
        assert f'href="#cite-{n}"' in page and f'id="cite-{n}"' in page
        assert f'id="cite-{n}-span"' in page  # the whole-article view marks the quote
    assert "<mark>" in page


def test_unanswerable_question_abstains_and_shows_closest_passages(client) -> None:  # noqa: ANN001
    page, answer = ask(client, "What is the recipe for banana bread?")
    assert answer["abstained"] and not answer["citations"]
    assert "No answer found" in page and "Closest passages" in page
    assert 'id="passage-1"' in page


def test_empty_question_is_a_message_not_a_trace(client) -> None:  # noqa: ANN001
    page, answer = ask(client, "   ")
    assert "empty" in answer["error"]
    assert "rag-error" in page and "Traceback" not in page


def test_bad_date_filter_is_a_message(client) -> None:  # noqa: ANN001
    page, answer = ask(client, "When was Soleimani killed?", date_from="January 2020")
    assert "YYYY-MM-DD" in answer["error"]
    assert "rag-error" in page


def test_date_filter_restricts_citations(client, kb: KnowledgeBase) -> None:  # noqa: ANN001
    _, hits = client.predict("Soleimani", 10, "hybrid", "", "2021-01-01", "2021-12-31", api_name="/search")
    assert hits and {h["doc_id"] for h in hits} == {d.doc_id for d in kb.documents()
                                                     if "2021-01-01" <= d.date <= "2021-12-31"}


def test_llm_mode_answers_or_shows_the_error(client) -> None:  # noqa: ANN001
    page, answer = ask(client, "When was Soleimani killed?", mode="llm")
    if "error" in answer:  # the optional LLM mode is not installed here
        assert "rag-error" in page and "Traceback" not in page
    else:
        assert answer["mode"] == "llm"


def test_concurrent_requests(client, kb: KnowledgeBase) -> None:  # noqa: ANN001
    questions = ["Who was killed alongside Soleimani?", "When was Soleimani killed?",
                 "How many US troops remain in Iraq?", "Who was killed alongside Soleimani?"]
    jobs = [client.submit(q, 5, "extractive", "hybrid", "", "", "", api_name="/ask") for q in questions]
    jobs.append(client.submit("Baghdad airport", 5, "hybrid", "", "", "", api_name="/search"))
    results = [job.result(timeout=120) for job in jobs]
    for q, (_, answer) in zip(questions, results):
        assert answer["question"] == q and "error" not in answer
    assert results[0][1]["citations"] == results[3][1]["citations"]
    assert results[-1][1] and all(h["doc_id"] in {d.doc_id for d in kb.documents()} for h in results[-1][1])


def test_search_returns_passages(client) -> None:  # noqa: ANN001
    page, hits = client.predict("drone strike Baghdad airport", 3, "bm25", "", "", "", api_name="/search")
    assert 1 <= len(hits) <= 3
    assert all(h["text"] for h in hits)
    assert 'id="passage-1"' in page


def test_added_article_is_answerable_at_once_then_removed(client, tmp_path: Path) -> None:  # noqa: ANN001
    before = article_count(client)
    path = tmp_path / "zorblatt.txt"
    path.write_text("The Zorblatt Festival\n\nThe Zorblatt Festival of lanterns was founded by the potter "
                    "Marisol Quintanilla in the harbour town of Vesterhavn. It now draws visitors every "
                    "autumn.\n", encoding="utf-8")
    page, report = client.predict([gradio_client.handle_file(str(path))], api_name="/add_articles")
    assert report["added"] == ["zorblatt"], report
    assert "rag-ok" in page
    assert article_count(client) == before + 1
    assert "zorblatt" in {a["doc_id"] for a in client.predict(api_name="/list_articles")}

    _, answer = ask(client, "Who founded the Zorblatt Festival?")
    assert "Quintanilla" in answer["text"]
    assert {c["doc_id"] for c in answer["citations"]} == {"zorblatt"}

    page, report = client.predict(["zorblatt"], api_name="/remove_articles")
    assert report["removed"] == ["zorblatt"]
    assert article_count(client) == before
    assert "zorblatt" not in {a["doc_id"] for a in client.predict(api_name="/list_articles")}


def test_bad_uploads_are_rejected_and_the_index_is_unharmed(client, tmp_path: Path) -> None:  # noqa: ANN001
    before = client.predict(api_name="/list_articles")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02\xff" * 500)
    program = tmp_path / "program.exe"
    program.write_bytes(b"MZ\x90\x00" * 10)
    page, report = client.predict([gradio_client.handle_file(str(binary)), gradio_client.handle_file(str(program))],
                                  api_name="/add_articles")
    assert not report["added"] and not report["updated"]
    reasons = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    assert "binary" in reasons["binary.txt"]
    assert "unsupported" in reasons["program.exe"]
    assert all("rag-upload-" not in s["source"] for s in report["skipped"])  # no temp paths shown
    assert "rag-error" in page
    assert client.predict(api_name="/list_articles") == before
    _, answer = ask(client, "Who was killed alongside Soleimani?")
    assert answer["citations"]


def test_empty_upload_and_remove_are_messages(client) -> None:  # noqa: ANN001
    page, report = client.predict([], api_name="/add_articles")
    assert "rag-error" in page and "error" in report
    page, report = client.predict([], api_name="/remove_articles")
    assert "rag-error" in page and "error" in report
    page, report = client.predict(["no-such-article"], api_name="/remove_articles")
    assert "no-such-article" in report["error"] and "rag-error" in page


def test_article_html_is_escaped(client, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "hostile.txt"
    path.write_text(f"{HOSTILE} Bridge report\n\nThe Glimmerfen Bridge was opened by the engineer Tobias "
                    f"Wrenfield in the town of Ostravel. {HOSTILE} Officials said it carries 4,000 cars a day.\n",
                    encoding="utf-8")
    client.predict([gradio_client.handle_file(str(path))], api_name="/add_articles")
    try:
        page, answer = ask(client, "Who opened the Glimmerfen Bridge?")
        assert "hostile" in {p["doc_id"] for p in answer["passages"]}
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
        assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
        search_page, _ = client.predict("Glimmerfen Bridge", 3, "hybrid", "", "", "", api_name="/search")
        assert "&lt;script&gt;" in search_page and "<script" not in search_page and "<img" not in search_page
    finally:
        client.predict(["hostile"], api_name="/remove_articles")


def test_index_info_and_list(client, kb: KnowledgeBase) -> None:  # noqa: ANN001
    page, info = client.predict(api_name="/index_info")
    assert info["documents"] == len(kb.documents()) and info["chunks"] > 0
    assert info["embedder"] and info["index_type"] and info["created_at"]
    assert "articles" in page
    listed = client.predict(api_name="/list_articles")
    assert [a["doc_id"] for a in listed] == [d.doc_id for d in kb.documents()]
    assert set(listed[0]) == {"doc_id", "title", "date", "source"}


# ---- pure helpers, no server -------------------------------------------------------------------------------------
def test_highlight_escapes_each_piece() -> None:
    text = "a <b>bold</b> & <script>x()</script> end"
    out = app.highlight(text, text.index("<script>"), text.index(" end"), mark_id="m-1")
    assert out == ('a &lt;b&gt;bold&lt;/b&gt; &amp; <mark id="m-1">&lt;script&gt;x()&lt;/script&gt;</mark> end')
    assert app.highlight("abc", 5, 9) == "abc"


def test_only_known_markers_become_links() -> None:
    out = app.linkify_markers('Abu Mahdi [1][2] and "[3]" <i>', {1, 2})
    assert out == ('Abu Mahdi <a class="rag-marker" href="#cite-1">[1]</a><a class="rag-marker" href="#cite-2">'
                   '[2]</a> and &quot;[3]&quot; &lt;i&gt;')


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.md", "evil.md"),
    (".hidden.json", "hidden.json"),
    ("a b<c>.html", "a_b_c_.html"),
    ("..", "upload"),
])
def test_safe_name_keeps_only_a_clean_basename(name: str, expected: str) -> None:
    assert app.safe_name(name, set()) == expected


def test_safe_name_makes_names_unique() -> None:
    taken: set[str] = set()
    assert [app.safe_name(n, taken) for n in ("a.txt", "dir/a.txt", "A.TXT")] == ["a.txt", "a-2.txt", "A-3.TXT"]


def test_app_imports_only_public_rag_names() -> None:
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag"):
            assert node.module == "rag", f"app.py imports the submodule {node.module}"
        if isinstance(node, ast.Import):
            assert all(not a.name.startswith("rag.") for a in node.names)


def test_main_reports_a_missing_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["--index", str(tmp_path / "missing"), "--port", str(free_port())]) == 2
    assert capsys.readouterr().err.startswith("error: ")
