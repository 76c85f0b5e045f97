"""Architecture checks: data flows one way through the stages, heavy libraries load lazily, and
the app and the evaluation code use only the package's public names.

Import statements are read with ``ast`` (including imports inside functions), so a lazy
import that goes the wrong way is caught too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import rag

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rag"

# The stages in data-flow order. A module may import only modules of a lower rank. The shared
# foundations (errors, types, config, normalize) come first; wiring (kb) and the command line last.
RANK = {
    "errors": 0, "types": 0, "config": 1, "normalize": 1,
    "clean": 2, "ingest": 3, "dedup": 4, "chunk": 5, "encoder": 5.5, "embed": 6, "lexical": 7, "vectors": 8, "backends": 8.5,
    "tables": 8.75,  # chunk and sentence rows as memory-mapped integer columns (read by store)
    "store": 9,
    "fusion": 10, "retrieve": 11,
    "verify": 11.25,  # the answer verifier's features and model file (used by reader and answer)
    "reader": 11.5,  # the trained extractive reader: question and passages in, scored spans out
    "attribution": 11.75,  # who a sentence attributes a statement to (spaCy parse, lazily)
    "versions": 11.75,  # which candidates are versions of one answer (pure)
    "answer": 12,
    "sources": 12.5,  # per-source answers: the answer stage once per source
    "langchain_adapter": 13,  # duck-typed over a KnowledgeBase; kb.as_retriever builds it lazily
    "generate": 13.5,  # drafts with an LLM, verifies against answer's sentence tools, falls back to it
    "update": 13.75,  # the next IndexData from a base, new documents and removals (no disk)
    "kb": 14, "distributed": 15, "cli": 16, "__main__": 17, "__init__": 17,
}
WIRING_RANK = 14.5  # a module not listed above (being written now): may use the stages, not kb's users
# Heavy third-party packages and the only rag modules that may import them (all lazily, see below).
HEAVY_HOME = {
    "faiss": {"vectors"},
    "gradio": set(),  # the web app lives in app.py, outside the package
    "langchain": {"langchain_adapter"},
    "langchain_core": {"langchain_adapter"},
    "langchain_community": {"langchain_adapter"},
    "pymilvus": {"backends"},
    "ray": {"distributed"},
    "spacy": {"attribution"},
}
NOT_AT_IMPORT = ["torch", "sentence_transformers", "transformers", "faiss", "gradio", "langchain",
                 "langchain_core", "trafilatura", "llama_cpp", "ray", "pymilvus", "spacy"]
# Known, deliberate exceptions to "eval/ and app.py use public names only": (file, module).
PUBLIC_API_EXCEPTIONS = {
    # The gold-set checker is standard-library only: it loads rag/normalize.py by path when
    # the package cannot be imported, so it names the module directly.
    ("eval/check_gold.py", "rag.normalize"),
}


def rag_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def imports_of(path: Path, package: str | None) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every import in ``path``; relative ones resolved in ``package``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                assert package, f"relative import in {path}"
                base = package if node.level == 1 else package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if node.level and not node.module:  # from . import a, b: each name is a module
                found.extend((f"{module}.{n}", [], node.lineno) for n in names)
            else:
                found.append((module, names, node.lineno))
    return found


def internal_deps(stem: str) -> dict[str, int]:
    deps = {}
    for module, _, line in imports_of(PACKAGE / f"{stem}.py", "rag"):
        parts = module.split(".")
        if parts[0] == "rag" and len(parts) > 1:
            deps[parts[1]] = line
    return deps


def test_rank_table_covers_the_core_modules() -> None:
    present = set(rag_modules())
    core = {"errors", "types", "config", "normalize", "clean", "ingest", "dedup", "chunk", "embed", "lexical",
            "vectors", "store", "fusion", "retrieve", "kb", "cli", "__init__", "__main__"}
    assert core <= present, core - present


@pytest.mark.parametrize("stem", rag_modules())
def test_each_module_imports_only_upstream_stages(stem: str) -> None:
    rank = RANK.get(stem, WIRING_RANK)
    wrong = {dep: line for dep, line in internal_deps(stem).items()
             if dep != stem and RANK.get(dep, WIRING_RANK) >= rank}
    assert not wrong, (f"rag/{stem}.py (rank {rank}) imports downstream or same-level modules: "
                       + ", ".join(f"{d} (line {n}, rank {RANK.get(d, WIRING_RANK)})" for d, n in wrong.items()))


def test_foundations_import_nothing_but_each_other() -> None:
    assert set(internal_deps("errors")) == set()
    assert set(internal_deps("types")) == set()
    assert set(internal_deps("normalize")) == set()
    assert set(internal_deps("config")) <= {"errors"}
    for stem in ("chunk", "dedup", "fusion", "clean"):
        assert set(internal_deps(stem)) <= {"errors", "types", "config", "normalize"}, stem


@pytest.mark.parametrize("stem", rag_modules())
def test_heavy_libraries_stay_in_their_module_and_load_lazily(stem: str) -> None:
    path = PACKAGE / f"{stem}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(n) for n in tree.body}
    for module, _, line in imports_of(path, "rag"):
        top = module.split(".")[0]
        if top in HEAVY_HOME:
            assert stem in HEAVY_HOME[top], f"rag/{stem}.py line {line} imports {module}"
    lazy_only = {"torch", "sentence_transformers", "transformers", "faiss", "gradio", "trafilatura",
                 "llama_cpp", "ray", "pymilvus"}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) in top_level:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in lazy_only, f"rag/{stem}.py imports {name} at module level"


def test_import_rag_loads_no_heavy_library() -> None:
    code = ("import json, sys, rag, rag.cli, rag.kb, rag.ingest, rag.chunk, rag.embed, rag.retrieve; "
            f"print(json.dumps(sorted(m for m in {NOT_AT_IMPORT!r} if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_public_names_are_exported() -> None:
    for name in ("KnowledgeBase", "Config", "Filters", "Reader", "Answer", "Hit", "Document", "Chunk", "Citation",
                 "IngestReport", "Skipped", "RagError", "ConfigError", "QueryError", "IndexNotFoundError",
                 "IndexMismatchError", "EmptyCorpusError"):
        assert name in rag.__all__ and hasattr(rag, name), name
    assert all(hasattr(rag, name) for name in rag.__all__)


def top_layer_files() -> list[Path]:
    files = sorted(p for p in (ROOT / "eval").rglob("*.py") if "__pycache__" not in p.parts)
    if (ROOT / "app.py").is_file():
        files.append(ROOT / "app.py")
    return files


def test_app_and_eval_use_only_public_names() -> None:
    public = set(rag.__all__) | {"__version__"}
    problems = []
    for path in top_layer_files():
        rel = path.relative_to(ROOT).as_posix()
        package = ".".join(path.relative_to(ROOT).parent.parts) or None
        for module, names, line in imports_of(path, package):
            if module == "rag":
                bad = [n for n in names if n not in public]
                if bad:
                    problems.append(f"{rel}:{line} imports non-public {', '.join(bad)} from rag")
            elif module.startswith("rag.") and (rel, module) not in PUBLIC_API_EXCEPTIONS:
                problems.append(f"{rel}:{line} imports {module}; use `from rag import ...`")
    assert not problems, "\n".join(problems)


def test_the_import_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checks above would be vacuous if ``imports_of`` missed imports."""
    sample = tmp_path / "sample.py"
    sample.write_text("from . import store, vectors as vec\nfrom .kb import X\nimport rag.cli\n"
                      "def f():\n    from rag.chunk import chunk_document\n    import faiss\n", encoding="utf-8")
    found = {m for m, _, _ in imports_of(sample, "rag")}
    assert found == {"rag.store", "rag.vectors", "rag.kb", "rag.cli", "rag.chunk", "faiss"}
    assert {"kb", "config", "errors"} <= set(internal_deps("__init__"))
    assert "retrieve" in internal_deps("kb") and "chunk" in internal_deps("update")
    assert "faiss" in {m.split(".")[0] for m, _, _ in imports_of(PACKAGE / "vectors.py", "rag")}
