"""The ``rag`` command line, run in-process with the hash embedder (and once as ``python -m rag``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main

ROOT = Path(__file__).resolve().parents[1]
NEW_ARTICLE = ("Zanzibarite miners in the fictional town of Quollsby went on strike on Monday, demanding better "
               "ventilation in the shafts. The union said the strike would continue until the owners agreed.")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def index(tmp_path: Path, articles_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    index_dir = tmp_path / "index"
    code, out, err = run(capsys, "index", str(articles_dir), "--index", str(index_dir), "--embedder", "hash",
                         "--quiet")
    assert code == 0, err
    assert "added 5" in out and "5 documents" in out and "hash-256" in out
    return index_dir


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only hash index of the demo articles, built once for this module."""
    from rag import Config, KnowledgeBase

    index_dir = tmp_path_factory.mktemp("cli") / "index"
    KnowledgeBase.build([ROOT / "data" / "articles"], index_dir, Config(embedder="hash"))
    return index_dir


def test_index_then_info(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "--index", str(index))
    assert code == 0
    info = json.loads(out)
    assert info["documents"] == 5 and info["embedder"] == "hash-256" and info["chunks"] > 5
    listed = {d["doc_id"]: d for d in info["documents_list"]}
    assert listed["003_b9c30966dad3dc9a"]["date"] == "2021-01-18"
    assert listed["002_7275bfeef6728449"]["title"].startswith("Watch Iraqi Protesters")


def test_search_text_and_json(shared_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = shared_index
    code, out, _ = run(capsys, "search", "arrest warrant Article 406", "--index", str(index), "-k", "2")
    assert code == 0
    assert "[1]" in out and "[2]" in out and "[3]" not in out and "003_b9c30966dad3dc9a" in out
    code, out, _ = run(capsys, "search", "arrest warrant Article 406", "--index", str(index), "-k", "3",
                       "--mode", "bm25", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 3 and hits[0]["doc_id"] == "003_b9c30966dad3dc9a"
    assert "Article 406" in hits[0]["text"] and [h["rank"] for h in hits] == [1, 2, 3]


def test_search_filters(shared_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = shared_index
    code, out, _ = run(capsys, "search", "Soleimani", "--index", str(index), "--doc-id", "000_c910e4cd2b89c5f5",
                       "--json")
    assert code == 0 and {h["doc_id"] for h in json.loads(out)} == {"000_c910e4cd2b89c5f5"}
    code, out, _ = run(capsys, "search", "Soleimani", "--index", str(index), "--date-from", "2022-01-01", "--json")
    assert code == 0 and {h["doc_id"] for h in json.loads(out)} == {"001_a746e7c7017f5148", "002_7275bfeef6728449"}
    code, out, _ = run(capsys, "search", "troops", "--index", str(index), "--source", "AFP", "--json")
    assert code == 0 and {h["doc_id"] for h in json.loads(out)} == {"004_b4ef3569b39be01c"}  # the README's example
    code, out, _ = run(capsys, "search", "Soleimani", "--index", str(index), "--source", "Nobody")
    assert code == 0 and "no passages found" in out


def test_add_and_remove(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    article = tmp_path / "miners.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01" * 100)
    code, out, _ = run(capsys, "add", str(article), str(bad), "--index", str(index), "--quiet")
    assert code == 0 and "added 1" in out and f"skipped {bad}" in out and "binary" in out
    code, out, _ = run(capsys, "search", "Zanzibarite miners", "--index", str(index), "-k", "1", "--json")
    assert json.loads(out)[0]["doc_id"] == "miners"
    code, out, _ = run(capsys, "add", str(article), "--index", str(index), "--quiet")
    assert code == 0 and "added 0" in out and "unchanged 1" in out
    code, out, _ = run(capsys, "remove", "miners", "--index", str(index))
    assert code == 0 and "removed 1" in out
    code, out, _ = run(capsys, "info", "--index", str(index))
    assert "miners" not in [d["doc_id"] for d in json.loads(out)["documents_list"]]
    code, _, err = run(capsys, "remove", "miners", "--index", str(index))
    assert code == 2 and err.startswith("error:") and "miners" in err


def test_index_with_config_file_and_set(tmp_path: Path, articles_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"embedder": "hash", "chunk_tokens": 64}), encoding="utf-8")
    index_dir = tmp_path / "idx"
    code, out, err = run(capsys, "index", str(articles_dir), "--index", str(index_dir), "--config", str(config),
                         "--set", "overlap_sentences=0", "--set", "mode=bm25", "--quiet")
    assert code == 0, err
    manifest_cfg = None
    for gen in index_dir.glob("gen-*"):
        manifest_cfg = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))["config"]
    assert manifest_cfg is not None
    assert (manifest_cfg["chunk_tokens"], manifest_cfg["overlap_sentences"], manifest_cfg["mode"]) == (64, 0, "bm25")


@pytest.mark.parametrize(("argv", "needle"), [
    (["search", "", "--index", "{index}"], "empty"),
    (["search", "   ", "--index", "{index}"], "empty"),
    (["search", "Soleimani", "--index", "{tmp}/no-index"], "no index"),
    (["info", "--index", "{tmp}/no-index"], "no index"),
    (["add", "{tmp}/x.txt", "--index", "{tmp}/no-index"], "no index"),
    (["search", "Soleimani", "--index", "{index}", "--date-from", "yesterday"], "date_from"),
    (["index", "{articles}", "--index", "{tmp}/i2", "--embedder", "hash", "--set", "colour=red"], "colour"),
    (["index", "{articles}", "--index", "{tmp}/i2", "--embedder", "hash", "--set", "chunk_tokens=5"], "chunk_tokens"),
    (["index", "{articles}", "--index", "{tmp}/i2", "--embedder", "hash", "--set", "oops"], "name=value"),
    (["index", "{articles}", "--index", "{tmp}/i2", "--config", "{tmp}/bad.json"], "not valid JSON"),
    (["index", "{articles}", "--index", "{tmp}/i2", "--config", "{tmp}/missing.json"], "does not exist"),
    (["index", "{tmp}/nothing-here", "--index", "{tmp}/i2", "--embedder", "hash"], "no such file"),
])
def test_errors_exit_2_with_a_message(argv: list[str], needle: str, shared_index: Path, tmp_path: Path,
                                      articles_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text('{"embedder": "hash",', encoding="utf-8")
    args = [a.format(index=shared_index, tmp=tmp_path, articles=articles_dir) for a in argv]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "i2" / "CURRENT").exists()


@pytest.mark.parametrize("command", ["index", "add", "remove", "info", "search", "ask", "app"])
def test_help_for_each_subcommand(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: rag {command}") and "--index" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["frobnicate"], ["search"], ["search", "q", "--mode", "fuzzy"], ["search", "q", "-k", "x"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_python_m_rag_help() -> None:
    result = subprocess.run([sys.executable, "-m", "rag", "--help"], capture_output=True, text=True, cwd=ROOT,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: rag")
    for command in ("index", "add", "remove", "info", "search", "ask", "eval", "app"):
        assert command in result.stdout


def test_a_closed_output_pipe_is_no_error(shared_index: Path) -> None:
    """`rag info | head` ends quietly: no traceback, no `error:` line, status 0 (as the pipeline reports)."""
    import subprocess
    import sys

    cmd = f"{sys.executable} -m rag info --index {shared_index} | head -c 20"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.stdout.startswith("{") and out.stderr == "" and out.returncode in (0, 141), out.stderr
