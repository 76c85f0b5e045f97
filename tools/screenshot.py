"""Regenerate docs/screenshot.png from the running app (``make screenshot``).

Starts the app on the default index (built from data/articles when absent) on a free local port,
asks the app's first example question in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser download) and saves the page. What the picture shows is what the app answers
today, not a kept image.

    python tools/screenshot.py --out docs/screenshot.png
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    ap.add_argument("--index", default=None, help="index folder (default: index/default)")
    ap.add_argument("--question", default=None, help="question to ask (default: the app's first example)")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is not installed: run `make browser-deps`", file=sys.stderr)
        return 2
    from playwright.sync_api import expect, sync_playwright

    import app
    from rag.cli import open_or_build

    question = args.question or app.DEMO_QUESTIONS[0]
    kb = open_or_build(args.index)
    demo = app.build_app(kb)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#question textarea").fill(question)
            page.locator("#ask-button").click()
            expect(page.locator("#rag-answer .rag-question")).to_contain_text(question, timeout=60_000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out} ({question!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
