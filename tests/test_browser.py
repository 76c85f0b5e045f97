"""The Gradio app in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

One app per module on a free port: the demo articles plus a hostile article, indexed with
the fast hash embedder. Playwright never downloads a browser here; the tests are skipped
when Chromium is not installed. Waits use Playwright's expectations, never fixed sleeps.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from rag import Config, KnowledgeBase  # noqa: E402

import app  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
TIMEOUT = 30_000  # ms; the first answer loads the reader
expect.set_options(timeout=15_000)  # two cores shared with the server: allow for a slow moment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    folder = tmp_path_factory.mktemp("browser_articles")
    hostile = folder / "hostile.txt"
    hostile.write_text(f"{HOSTILE} Bridge report\n\nThe Glimmerfen Bridge was opened by the engineer Tobias "
                       f"Wrenfield in the town of Ostravel. {HOSTILE} Local officials said the bridge carries "
                       f"about 4,000 cars a day.\n", encoding="utf-8")
    record = {"id": "hostile-meta", "title": '<img src=x onerror="window.__pwned=3">Tower report',
              "source": '<b onmouseover="window.__pwned=4">Evil Wire</b>', "date": "2020-01-05",
              "text": "The Quarnel Tower was designed by the architect Elsbeth Normark for the city of Dunmere."}
    (folder / "hostile-meta.json").write_text(json.dumps(record), encoding="utf-8")
    return KnowledgeBase.build([ARTICLES, folder], tmp_path_factory.mktemp("browser_kb") / "index",
                               Config(embedder="hash"))


@pytest.fixture(scope="module")
def url(kb: KnowledgeBase) -> Iterator[str]:
    demo = app.build_app(kb)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is not installed: run `make browser-deps` (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, url: str) -> Iterator[Page]:  # noqa: ANN001
    page = browser_context.new_page()
    page.goto(url)
    expect(page.locator("#question textarea")).to_be_visible(timeout=TIMEOUT)
    try:
        yield page
    finally:
        page.close()


def ask(page: Page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask-button").click()
    expect(page.locator("#rag-answer .rag-question")).to_contain_text(question, timeout=TIMEOUT)


def in_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and size is not None and 0 <= box["y"] and box["y"] + box["height"] <= size["height"]


def test_answer_marker_links_to_its_highlighted_passage(page: Page, kb: KnowledgeBase) -> None:
    question = "How many US troops remain in Iraq?"
    expected = kb.ask(question)  # what the page must show (its correctness: tests/test_examples.py)
    quote = expected.citations[0].quote
    page.locator("button", has_text=question).first.click()  # an example question fills the box
    expect(page.locator("#question textarea")).to_have_value(question)
    page.locator("#ask-button").click()
    answer = page.locator("#rag-answer .rag-answer-text")
    expect(answer).to_contain_text(expected.short_answer, timeout=TIMEOUT)
    expect(answer).to_contain_text("[1]")

    page.locator("#rag-answer .rag-answer-text a.rag-marker", has_text="[1]").click()
    expect(page).to_have_url(re.compile(r"#cite-1$"))
    mark = page.locator("#cite-1 .rag-passage mark")
    expect(mark).to_be_visible()
    expect(mark).to_have_text(quote)
    expect(mark).to_be_in_viewport()


def test_whole_article_view_scrolls_the_quote_into_view(page: Page, kb: KnowledgeBase) -> None:
    question = "How many US troops remain in Iraq?"
    answer = kb.ask(question)
    ask(page, question)
    last = answer.citations[-1]
    details = page.locator(f"#cite-{last.marker} details.rag-article")
    expect(details).not_to_have_attribute("open", "")
    page.locator(f"#cite-{last.marker} a.rag-open").click()
    expect(details).to_have_attribute("open", "")
    mark = page.locator(f"#cite-{last.marker}-span")
    expect(mark).to_have_text(last.quote)
    expect(mark).to_be_in_viewport()
    assert in_viewport(page, f"#cite-{last.marker}-span")
    # The article is the whole document text, around the quote.
    text = kb.document(last.doc_id).text
    expect(details.locator(".rag-article-text")).to_have_text(text)


def test_uploaded_article_is_answerable(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "zorblatt festival.txt"
    path.write_text("The Zorblatt Festival\n\nThe Zorblatt Festival of lanterns was founded by the potter "
                    "Marisol Quintanilla in the harbour town of Vesterhavn.\n", encoding="utf-8")
    page.get_by_role("tab", name="Add articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    # The preview table appears when the upload has finished (while uploading only the name shows).
    expect(page.locator('#upload .file-preview td.filename[aria-label="zorblatt festival.txt"]')).to_be_visible()
    page.locator("#add-button").click()
    expect(page.locator("#add-report")).to_contain_text("added zorblatt_festival", timeout=TIMEOUT)

    page.get_by_role("tab", name="Index").click()
    expect(page.locator("#articles")).to_contain_text("zorblatt_festival")

    page.get_by_role("tab", name="Ask").click()
    ask(page, "Who founded the Zorblatt Festival?")
    expect(page.locator("#rag-answer .rag-answer-text")).to_contain_text("Quintanilla")
    expect(page.locator("#cite-1 .rag-meta")).to_contain_text("zorblatt_festival")


def test_hostile_article_shows_as_text_and_runs_nothing(page: Page) -> None:
    ask(page, "Who opened the Glimmerfen Bridge?")
    expect(page.locator("#rag-answer .rag-answer-text")).to_contain_text("Wrenfield")
    card = page.locator("#cite-1")
    expect(card.locator(".rag-passage")).to_contain_text("<script>window.__pwned=1</script>")
    expect(card.locator(".rag-passage")).to_contain_text('onerror="window.__pwned=2"')
    page.locator("#cite-1 a.rag-open").click()
    expect(card.locator(".rag-article-text")).to_contain_text("<script>window.__pwned=1</script>")
    assert card.locator("script, img").count() == 0
    assert page.evaluate("() => window.__pwned") is None

    # Markup in a title and a source (cards, the article table, the source filter) is text too.
    ask(page, "Who designed the Quarnel Tower?")
    expect(page.locator("#cite-1 .rag-title")).to_have_text('<img src=x onerror="window.__pwned=3">Tower report')
    expect(page.locator("#cite-1 .rag-meta")).to_contain_text('<b onmouseover="window.__pwned=4">Evil Wire</b>')
    page.locator("#cite-1").hover()
    page.get_by_role("tab", name="Index").click()
    expect(page.locator("#articles")).to_contain_text('onerror="window.__pwned=3"')
    page.get_by_role("tab", name="Ask").click()
    page.get_by_label("Source", exact=True).click()
    expect(page.get_by_role("option", name=re.compile("Evil Wire"))).to_contain_text("<b onmouseover")
    page.keyboard.press("Escape")
    assert page.locator("img[src=x], b[onmouseover]").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    ask(page, "Who opened the Glimmerfen Bridge?")

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#cite-1").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
    assert (ARTIFACTS / "app.png").stat().st_size > 10_000


def test_errors_show_in_the_page(page: Page) -> None:
    page.locator("#ask-button").click()  # empty question
    expect(page.locator("#answer .rag-error")).to_contain_text("empty", timeout=TIMEOUT)
    page.locator("#question textarea").fill("What is the recipe for banana bread?")
    page.locator("#ask-button").click()
    expect(page.locator("#rag-answer")).to_contain_text("No answer found", timeout=TIMEOUT)
    expect(page.locator("#passage-1 .rag-passage mark")).to_be_visible()


def test_per_source_answers_show_side_by_side(page: Page, kb: KnowledgeBase) -> None:
    question = "How many people rallied in Baghdad on Saturday?"
    expected = kb.ask(question, by_source=True)  # what the page must show
    assert expected.versions and expected.unanswered_sources, expected
    page.locator("#by-source input").check()
    ask(page, question)
    rows = page.locator("#rag-versions tbody tr")
    expect(rows).to_have_count(len(expected.versions))
    for i, v in enumerate(expected.versions):
        expect(rows.nth(i).locator("td").nth(0)).to_have_text(v.value)
        expect(rows.nth(i).locator("td").nth(2)).to_have_text(", ".join(v.sources))
    silent = page.locator("#rag-answer .rag-silent")
    for name in expected.unanswered_sources:  # a source named in markup ("Evil Wire") is shown as text
        expect(silent).to_contain_text(name)
    assert page.locator("#rag-answer b[onmouseover]").count() == 0
    last = expected.versions[-1]
    rows.last.locator("a.rag-marker").first.click()  # a version's marker opens its citation
    expect(page).to_have_url(re.compile(rf"#cite-{last.markers[0]}$"))
    expect(page.locator(f"#cite-{last.markers[0]} .rag-meta")).to_contain_text(last.doc_ids[0])
    assert page.evaluate("() => window.__pwned") is None
