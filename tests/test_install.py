"""What a plain install (the package without its extras) can do.

A fresh virtual environment per test run would need the network and minutes; instead each check runs
in a child interpreter in which every module that only the extras install (Ray, Milvus, LangChain
community, Playwright, the eval libraries, pytest's plugins) cannot be imported, as in a core install.
The core dependencies must read every format the README lists; a missing package that one format
needs skips that file with a message naming the fix, and never crashes the batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = ["ray", "pymilvus", "milvus_lite", "langchain", "langchain_community", "langchain_text_splitters",
               "langchain_huggingface", "playwright", "ranx", "ir_measures", "matplotlib", "hypothesis", "psutil",
               "llama_cpp"]
BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def __init__(self, names): self.names = set(names)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names or name in self.names:
            raise ImportError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block(BLOCKED))
"""
HTML = ("<html><head><title>Bridge opens | Arnby Courier</title></head><body><article><h1>Bridge opens</h1>"
        "<p>The Kessel river bridge in Arnby was opened by the mayor, Tomas Ekdal, on 12 March 2023, the town "
        "said.</p><p>It cost 40 million euros and took three years to build, officials said.</p></article>"
        "</body></html>")


def _formats(folder: Path) -> None:
    def body(day: str) -> str:  # distinct texts: exact copies would be indexed once
        return f"The ferry across the Kessel river stopped running on {day} after the new bridge opened, the town said."

    (folder / "a.txt").write_text(body("Monday") + "\n", encoding="utf-8")
    (folder / "b.md").write_text(f"---\ntitle: Ferry ends\nsource: Arnby Courier\n---\n# Ferry ends\n\n"
                                 f"**{body('Tuesday')}**\n", encoding="utf-8")
    (folder / "c.html").write_text(HTML, encoding="utf-8")
    (folder / "d.json").write_text(json.dumps({"id": "d", "title": "Record", "text": body("Friday")}), encoding="utf-8")
    (folder / "e.jsonl").write_text(json.dumps({"id": "e", "text": body("Sunday")}) + "\n", encoding="utf-8")


def _run(blocked: list[str], code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{code}"
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)


BUILD = """
import json
from rag import Config, KnowledgeBase
kb = KnowledgeBase.build(["articles"], "index", Config(embedder="hash"))
print(json.dumps({"docs": sorted(d.doc_id for d in kb.documents()),
                  "skipped": [[s.source, s.reason] for s in kb.last_report.skipped]}))
"""


def test_a_core_install_reads_every_listed_format(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    _formats(tmp_path / "articles")
    result = _run(EXTRAS_ONLY, BUILD, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"docs": ["a", "b", "c", "d", "e"], "skipped": []}, out


def test_a_missing_package_skips_its_files_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    _formats(tmp_path / "articles")
    result = _run([*EXTRAS_ONLY, "lxml_html_clean", "markdown_it"], BUILD, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["docs"] == ["a", "d", "e"]
    reasons = dict(out["skipped"])
    assert set(reasons) == {str(Path("articles") / "b.md"), str(Path("articles") / "c.html")}, reasons
    assert all("not installed" in r and "make setup" in r for r in reasons.values()), reasons


def test_the_core_dependencies_name_what_html_and_markdown_need() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    core = text.split("[project.optional-dependencies]")[0]
    for package in ("trafilatura", "lxml_html_clean", "markdown-it-py", "PyYAML"):
        assert f'"{package}' in core, package
