"""Crash safety, locking and corruption of the on-disk index.

A writer process (tests/helpers/writer.py) builds, adds and removes articles in a loop and
is SIGKILLed at seeded random moments: every time, the index must open and hold exactly
the state before or after the interrupted operation, never a mix. Crashes are also
injected deterministically at every file-system step of a save. Two writers share the
lock; a damaged file is reported as corruption with advice to rebuild; no pickle anywhere.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag import Config, IndexCorruptError, IndexLockedError, IndexNotFoundError, KnowledgeBase
from rag import store

ROOT = Path(__file__).resolve().parents[1]
WRITER = Path(__file__).resolve().parent / "helpers" / "writer.py"
HASH = Config(embedder="hash")
KILLS = 10
TOPICS = ["embassy", "parliament", "airport", "pipeline", "election", "harbour", "museum", "railway",
          "festival", "reservoir"]


def unique_word(i: int) -> str:
    return "uniq" + chr(ord("a") + i) * 3 + "word"


def write_corpus(folder: Path, n: int = len(TOPICS)) -> dict[str, Path]:
    """``n`` distinct small articles, several chunks each; doc ids d00, d01, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    verbs = ["visited", "inspected", "described", "criticised", "praised", "opened", "closed", "rebuilt"]
    people = ["the mayor", "a minister", "local residents", "the governor", "engineers", "reporters"]
    files = {}
    for i, topic in enumerate(TOPICS[:n]):
        sentences = []
        for j in range(20):
            extra = f" The {unique_word(i)} was mentioned again." if j % 7 == 0 else ""
            sentences.append(f"On day {j + 1} {rng.choice(people)} {rng.choice(verbs)} the {topic} in district "
                             f"{rng.randint(1, 90)}, officials said.{extra}")
        paragraphs = [" ".join(sentences[k:k + 5]) for k in range(0, len(sentences), 5)]
        path = folder / f"d{i:02d}.txt"
        path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        files[f"d{i:02d}"] = path
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("crash_corpus"))


@pytest.fixture(scope="module")
def reference(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Per document: its cleaned text and its chunk and sentence counts (chunking is per document)."""
    kb = KnowledgeBase.build(list(corpus.values()), tmp_path_factory.mktemp("ref") / "index", HASH)
    data = kb._snapshot.data  # noqa: SLF001 - counting sentences per document
    out = {}
    for d in kb.documents():
        out[d.doc_id] = {"text": d.text,
                         "chunks": sum(1 for c in data.chunks if c.doc_id == d.doc_id),
                         "sentences": sum(1 for s in data.sentences if s[0] == d.doc_id)}
    assert len(out) == len(corpus) and all(v["chunks"] >= 2 for v in out.values())
    return out


def check_state(index_dir: Path, reference: dict[str, dict],
                allowed: list[frozenset[str] | None]) -> frozenset[str] | None:
    """Open the index and check it is exactly one of the ``allowed`` states (None: no index yet)."""
    try:
        kb = KnowledgeBase.open(index_dir)
    except IndexNotFoundError:
        assert None in allowed, f"the index is gone, but one of {allowed} was complete"
        return None
    docs = frozenset(d.doc_id for d in kb.documents())
    assert docs in allowed, f"index holds {sorted(docs)}, expected one of {[sorted(a) for a in allowed if a]}"
    stats = kb.stats()
    assert stats["chunks"] == sum(reference[d]["chunks"] for d in docs), "chunks of another state mixed in"
    assert stats["sentences"] == sum(reference[d]["sentences"] for d in docs)
    for d in docs:
        assert kb.document(d).text == reference[d]["text"]
    for d in sorted(docs)[:2]:
        hits = kb.search(unique_word(int(d[1:])), k=3, mode="bm25")
        assert hits and {h.doc_id for h in hits} == {d}
        for h in hits:
            assert kb.document(h.doc_id).text[h.start:h.end] == h.text
    return docs


def read_log(path: Path) -> list[dict]:
    events = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by the kill
                pass
    return events


def start_writer(*args: str, stderr: Path | None = None) -> subprocess.Popen:
    """Run tests/helpers/writer.py; its stderr goes to a file (a full pipe would block it)."""
    import rag

    env = {**os.environ, "PYTHONPATH": str(Path(rag.__file__).resolve().parents[1])}  # the rag under test
    err = open(stderr, "w", encoding="utf-8") if stderr else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        return subprocess.Popen([sys.executable, str(WRITER), *args], stdout=subprocess.PIPE, stderr=err,
                                text=True, env=env, cwd=ROOT)
    finally:
        if stderr:
            err.close()  # the child has its own copy


def wait_for(proc: subprocess.Popen, word: str, stderr: Path) -> None:
    """Wait for ``word`` on the writer's stdout (imports done, lock held...)."""
    for line in proc.stdout:
        if line.strip() == word:
            return
    proc.wait(timeout=30)
    raise AssertionError(f"writer exited ({proc.returncode}) before {word!r}: {stderr.read_text(encoding='utf-8')}")


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if ".tmp" in p.name)


def test_sigkill_at_random_moments_leaves_a_whole_state(tmp_path: Path, corpus: dict[str, Path],
                                                         reference: dict[str, dict]) -> None:
    index_dir = tmp_path / "index"
    rng = random.Random(20200103)
    verified: frozenset[str] | None = None
    outcomes = {"absent": 0, "before": 0, "after": 0, "tmp_left": 0}
    total_ops = 0
    for kill in range(KILLS):
        log = tmp_path / f"log-{kill}.jsonl"
        err = tmp_path / f"stderr-{kill}.txt"
        proc = start_writer("loop", str(index_dir), str(next(iter(corpus.values())).parent), str(log), str(kill),
                            stderr=err)
        try:
            wait_for(proc, "ready", err)
            # The first kill lands in the first build; later ones after a few operations.
            time.sleep(rng.uniform(0.0, 0.12) if kill == 0 else rng.uniform(0.05, 1.2))
        finally:
            proc.kill()
            proc.wait(timeout=30)
            proc.stdout.close()
        events = read_log(log)
        start = next((e for e in events if e["event"] == "start"), None)
        before = verified if start is None else (None if start["docs"] is None else frozenset(start["docs"]))
        assert before == verified, "the writer found the state the last check saw"
        ends = [e for e in events if e["event"] == "end"]
        begins = [e for e in events if e["event"] == "begin"]
        total_ops += len(ends)
        last_complete = frozenset(ends[-1]["docs"]) if ends else before
        pending = None
        if begins and (not ends or begins[-1]["op"] > ends[-1]["op"]):
            pending = frozenset(begins[-1]["docs"])
        allowed = [last_complete] + ([pending] if pending is not None else [])
        if leftovers(index_dir) if index_dir.exists() else []:
            outcomes["tmp_left"] += 1
        verified = check_state(index_dir, reference, allowed)
        key = "absent" if verified is None else ("after" if pending is not None and verified == pending
                                                and verified != last_complete else "before")
        outcomes[key] += 1
    assert verified is not None, "the writer never finished an operation"
    assert total_ops >= 6, f"only {total_ops} operations completed in {KILLS} runs: {outcomes}"
    # The next write removes what the killed writers left behind.
    (index_dir / "gen-999999.tmp-424242").mkdir()
    (index_dir / "CURRENT.tmp-424242").write_text("gen-999999", encoding="utf-8")
    kb = KnowledgeBase.open(index_dir)
    missing = sorted(set(corpus) - verified)
    kb.add([corpus[missing[0]]]) if missing else kb.remove([sorted(verified)[0]])
    assert leftovers(index_dir) == []
    gens = sorted(p.name for p in index_dir.glob("gen-*"))
    assert len(gens) <= 2 and (index_dir / "CURRENT").read_text(encoding="utf-8") == gens[-1]
    check_state(index_dir, reference, [frozenset(d.doc_id for d in kb.documents())])


class Crash(BaseException):
    """Stands for the process dying (not an Exception, so nothing catches it)."""


STEPS = [("store", "_write_sqlite"), ("store", "_save_array"), ("vec", "write"), ("bm25", "save"),
         ("os", "fsync"), ("store", "_fsync_dir"), ("os", "replace"), ("store", "_collect_garbage")]


def crash_at(monkeypatch: pytest.MonkeyPatch, n: int) -> list[str]:
    """Make the ``n``-th file-system step of a save raise :class:`Crash`; return the steps seen."""
    from rag import lexical
    from rag import vectors

    seen: list[str] = []
    owners = {"store": store, "vec": vectors, "bm25": lexical.BM25Index, "os": os}

    def wrap(name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            seen.append(name)
            if len(seen) == n:
                raise Crash(name)
            return fn(*args, **kwargs)
        return step

    for owner, attr in STEPS:
        target = owners[owner]
        monkeypatch.setattr(target, attr, wrap(f"{owner}.{attr}", getattr(target, attr)))
    return seen


@pytest.mark.parametrize("operation", ["add", "remove", "build"])
def test_crash_at_every_step_of_a_save(tmp_path: Path, corpus: dict[str, Path], reference: dict[str, dict],
                                       operation: str) -> None:
    index_dir = tmp_path / "index"
    ids = sorted(corpus)
    old = frozenset(ids[:3])
    new = {"add": old | {ids[3]}, "remove": old - {ids[0]}, "build": frozenset(ids[4:6])}[operation]
    KnowledgeBase.build([corpus[d] for d in sorted(old)], index_dir, HASH)
    n, crashed_after_swap = 1, 0
    while True:
        with pytest.MonkeyPatch.context() as mp:
            seen = crash_at(mp, n)
            kb = KnowledgeBase.open(index_dir)
            try:
                if operation == "add":
                    kb.add([corpus[ids[3]]])
                elif operation == "remove":
                    kb.remove([ids[0]])
                else:
                    KnowledgeBase.build([corpus[d] for d in sorted(new)], index_dir, HASH)
                done = True
            except Crash:
                done = False
        if done:
            break
        state = check_state(index_dir, reference, [old, new])
        crashed_after_swap += state == new
        # Start again from the old state, as a fresh process would after the crash.
        if state == new:
            KnowledgeBase.build([corpus[d] for d in sorted(old)], index_dir, HASH)
        n += 1
    assert n > 10, f"only {n - 1} crash points: {seen}"
    assert crashed_after_swap >= 1, "some crash points come after the CURRENT swap"
    assert check_state(index_dir, reference, [new]) == new
    assert leftovers(index_dir) == [], "the completed write removed the crashed writers' leftovers"


def test_a_held_lock_makes_writers_wait_then_fail_clearly(tmp_path: Path, corpus: dict[str, Path],
                                                          reference: dict[str, dict],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir = tmp_path / "index"
    ids = sorted(corpus)
    kb = KnowledgeBase.build([corpus[ids[0]], corpus[ids[1]]], index_dir, HASH)
    err = tmp_path / "stderr.txt"
    holder = start_writer("hold", str(index_dir), "60", stderr=err)
    try:
        wait_for(holder, "locked", err)
        t0 = time.monotonic()
        with pytest.raises(IndexLockedError, match=r"another process is writing the index .*waited"):
            with store.write_lock(index_dir, timeout=0.3):
                pass
        assert 0.25 <= time.monotonic() - t0 < 5
        monkeypatch.setattr(store, "write_lock", functools.partial(store.write_lock, timeout=0.3))
        with pytest.raises(IndexLockedError, match=str(index_dir)):
            kb.add([corpus[ids[2]]])
        with pytest.raises(IndexLockedError):
            KnowledgeBase.build([corpus[ids[3]]], index_dir, HASH)
        assert {d.doc_id for d in kb.documents()} == {ids[0], ids[1]}, "a failed write changes nothing"
        check_state(index_dir, reference, [frozenset(ids[:2])])
    finally:
        holder.send_signal(signal.SIGKILL)  # a dead holder's lock is released by the kernel
        holder.wait(timeout=30)
        holder.stdout.close()
    kb.add([corpus[ids[2]]])
    check_state(index_dir, reference, [frozenset(ids[:3])])


def test_two_writer_processes_both_land(tmp_path: Path, corpus: dict[str, Path], reference: dict[str, dict]) -> None:
    index_dir = tmp_path / "index"
    ids = sorted(corpus)
    KnowledgeBase.build([corpus[ids[0]]], index_dir, HASH)
    log = tmp_path / "log.jsonl"
    errs = [tmp_path / "stderr-1.txt", tmp_path / "stderr-2.txt"]
    first = start_writer("add", str(index_dir), str(log), *(str(corpus[d]) for d in ids[1:4]), stderr=errs[0])
    second = start_writer("add", str(index_dir), str(log), *(str(corpus[d]) for d in ids[4:7]), stderr=errs[1])
    for proc, err in zip((first, second), errs):
        proc.communicate(timeout=120)
        assert proc.returncode == 0, err.read_text(encoding="utf-8")
    events = read_log(log)
    assert sorted(d for e in events for d in e["added"]) == ids[1:7]
    assert len({e["pid"] for e in events}) == 2
    check_state(index_dir, reference, [frozenset(ids[:7])])


def test_reader_survives_writers_removing_the_generation_it_is_reading(
        tmp_path: Path, corpus: dict[str, Path], reference: dict[str, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two saves while a reader is between reading CURRENT and the files: the generation it
    started on is garbage-collected. That is not corruption; the reader reads the new one."""
    index_dir = tmp_path / "index"
    ids = sorted(corpus)
    KnowledgeBase.build([corpus[ids[0]]], index_dir, HASH)
    writer = KnowledgeBase.open(index_dir)
    real = store.read_manifest
    calls = []

    def slow_reader(gen: Path) -> dict:
        calls.append(gen.name)
        if len(calls) == 1:  # another process writes twice while this reader is slow
            writer.add([corpus[ids[1]]])
            writer.add([corpus[ids[2]]])
            assert not gen.exists(), "the old generation was collected"
        return real(gen)

    monkeypatch.setattr(store, "read_manifest", slow_reader)
    kb = KnowledgeBase.open(index_dir)
    assert {d.doc_id for d in kb.documents()} == set(ids[:3])
    assert len(calls) == 2


# ---- corruption --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built_index(tmp_path_factory: pytest.TempPathFactory, corpus: dict[str, Path]) -> Path:
    index_dir = tmp_path_factory.mktemp("corrupt") / "index"
    ids = sorted(corpus)
    KnowledgeBase.build([corpus[ids[0]], corpus[ids[1]]], index_dir, HASH)
    return index_dir


def fresh_copy(built: Path, tmp_path: Path) -> tuple[Path, Path]:
    index_dir = tmp_path / "index"
    shutil.copytree(built, index_dir)
    return index_dir, index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


INDEX_FILES = ["store.sqlite", "chunk_table.npy", "sentence_table.npy", "chunk_vectors.npy", "sentence_vectors.npy", "vectors.faiss", "bm25.npz",
               "bm25_vocab.json", "manifest.json"]


def test_every_index_file_is_listed(built_index: Path) -> None:
    gen = built_index / (built_index / "CURRENT").read_text(encoding="utf-8")
    assert sorted(p.name for p in gen.iterdir()) == sorted(INDEX_FILES)


@pytest.mark.parametrize("name", INDEX_FILES)
@pytest.mark.parametrize("damage", ["truncate", "empty", "flip_middle", "flip_first", "flip_last", "delete"])
def test_damaged_file_is_reported_as_corrupt(built_index: Path, tmp_path: Path, name: str, damage: str) -> None:
    index_dir, gen = fresh_copy(built_index, tmp_path)
    path = gen / name
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "delete":
        path.unlink()
    else:
        i = {"flip_middle": len(data) // 2, "flip_first": 0, "flip_last": len(data) - 1}[damage]
        if name == "manifest.json" and damage == "flip_last":
            i = data.rstrip().rfind(b'"')  # the last byte is a brace; flip inside the last value instead
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
    with pytest.raises(IndexCorruptError, match="rebuild the index"):
        KnowledgeBase.open(index_dir)


# SQLite reads a database cut at a page boundary without complaint: only the checksum notices.
@pytest.mark.parametrize("name", [n for n in INDEX_FILES if n != "store.sqlite"])
def test_truncated_file_is_corrupt_even_without_checksums(built_index: Path, tmp_path: Path, name: str) -> None:
    index_dir, gen = fresh_copy(built_index, tmp_path)
    for cut in (lambda d: d[: len(d) // 2], lambda d: b""):
        path = gen / name
        original = path.read_bytes()
        path.write_bytes(cut(original))
        with pytest.raises(IndexCorruptError, match="rebuild"):
            KnowledgeBase.open(index_dir, verify=False)
        path.write_bytes(original)


def test_manifest_flips_anywhere_are_caught(built_index: Path, tmp_path: Path) -> None:
    """Every byte of the manifest is protected (its own checksum), not only the files it lists."""
    index_dir, gen = fresh_copy(built_index, tmp_path)
    path = gen / "manifest.json"
    original = path.read_bytes()
    positions = [i for i in range(len(original)) if not chr(original[i]).isspace()]
    for i in random.Random(3).sample(positions, 40):
        path.write_bytes(original[:i] + bytes([original[i] ^ 0x01]) + original[i + 1:])
        with pytest.raises(IndexCorruptError, match="rebuild"):
            store.load(index_dir)
    path.write_bytes(original)
    store.load(index_dir)


def test_quick_fingerprint_reads_the_ends_and_spread_blocks_and_rag_verify_reads_everything(tmp_path: Path) -> None:
    """Opening checks sizes and quick fingerprints (a large file is sampled, not read whole); the
    explicit check reads every byte. Damage the sample misses is caught by `rag verify`."""
    big = tmp_path / "big.bin"
    data = bytes(random.Random(5).getrandbits(8) for _ in range(3 << 20))
    big.write_bytes(data)
    digest = store.sample_sha256(big)

    def flipped(i: int) -> str:
        big.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
        try:
            return store.sample_sha256(big)
        finally:
            big.write_bytes(data)

    assert flipped(0) != digest and flipped(len(data) - 1) != digest and flipped(store.SAMPLE_EDGE) != digest
    between = store.SAMPLE_EDGE + store.SAMPLE_BLOCK + 10  # after the first spread block, before the second
    assert flipped(between) == digest  # the quick check's blind spot: what `rag verify` is for
    big.write_bytes(data[: len(data) - 1])
    assert store.sample_sha256(big) != digest  # a cut file
    small = tmp_path / "small.bin"
    small.write_bytes(data[:1000])
    whole = store.sample_sha256(small)
    small.write_bytes(data[:500] + bytes([data[500] ^ 1]) + data[501:1000])
    assert store.sample_sha256(small) != whole  # a small file is read whole


def test_rag_verify_reads_every_byte_of_a_large_file(built_index: Path, tmp_path: Path) -> None:
    from rag.cli import main as rag_main

    index_dir, gen = fresh_copy(built_index, tmp_path)
    assert rag_main(["verify", "--index", str(index_dir)]) == 0
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert all("sample_sha256" in meta for meta in manifest["files"].values())
    # Make the vector file large enough to be sampled, with damage between two sampled blocks, and
    # record its true checksums: as if the disk flipped a byte after a correct write.
    path = gen / "chunk_vectors.npy"
    vectors = np.load(path)
    big = np.repeat(vectors, 1 + (3 << 20) // max(1, vectors.nbytes), axis=0)
    np.save(path, big)
    meta = manifest["files"]["chunk_vectors.npy"]
    meta.update(sha256=store._sha256(path), sample_sha256=store.sample_sha256(path), bytes=path.stat().st_size)
    manifest["manifest_sha256"] = store._manifest_digest(manifest)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert rag_main(["verify", "--index", str(index_dir)]) == 0
    raw = path.read_bytes()
    i = store.SAMPLE_EDGE + store.SAMPLE_BLOCK + 10
    path.write_bytes(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:])
    assert rag_main(["verify", "--index", str(index_dir)]) == 2
    with pytest.raises(IndexCorruptError, match="chunk_vectors.npy is truncated or altered"):
        KnowledgeBase.verify(index_dir)


def test_an_index_written_before_quick_fingerprints_is_checked_in_full_at_open(built_index: Path,
                                                                               tmp_path: Path) -> None:
    index_dir, gen = fresh_copy(built_index, tmp_path)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    for meta in manifest["files"].values():
        del meta["sample_sha256"]
    manifest["manifest_sha256"] = store._manifest_digest(manifest)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    KnowledgeBase.open(index_dir)
    path = gen / "sentence_vectors.npy"
    raw = path.read_bytes()
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0x01]))
    with pytest.raises(IndexCorruptError, match="sentence_vectors.npy"):
        KnowledgeBase.open(index_dir)


@pytest.mark.parametrize("pointer", [None, "gen-000099", "", "garbage", "../../etc", "gen-000001/../../x",
                                     "gen-000001\x00", b"\xff\xfe\x00"])
def test_bad_current_pointer(built_index: Path, tmp_path: Path, pointer: str | bytes | None) -> None:
    index_dir, gen = fresh_copy(built_index, tmp_path)
    current = index_dir / "CURRENT"
    if pointer is None:
        current.unlink()
        with pytest.raises(IndexNotFoundError, match="no index"):
            KnowledgeBase.open(index_dir)
        return
    current.write_bytes(pointer if isinstance(pointer, bytes) else pointer.encode())
    with pytest.raises(IndexCorruptError, match="rebuild the index"):
        KnowledgeBase.open(index_dir)


def test_missing_index_folder(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="build one"):
        KnowledgeBase.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists(), "opening does not create the folder"


# ---- no pickle ---------------------------------------------------------------------------------
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def test_index_files_are_not_pickles(built_index: Path) -> None:
    gen = built_index / (built_index / "CURRENT").read_text(encoding="utf-8")
    for path in gen.iterdir():
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and 2 <= head[1] <= 5), f"{path.name} starts like a pickle"
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            assert arr.dtype in (np.float32, np.float16, np.int64) and arr.dtype != object
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                for key in z.files:
                    assert z[key].dtype != object, key
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


def test_library_source_has_no_pickle() -> None:
    """No pickle-like module is imported, and every ``np.load`` refuses pickles."""
    for path in sorted((ROOT / "rag").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.Name | ast.Attribute):
                names = {node.id if isinstance(node, ast.Name) else node.attr}
            else:
                names = set()
            assert not names & PICKLE_MODULES, f"{path.name}:{node.lineno} uses {names & PICKLE_MODULES}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy"):
                kw = {k.arg: k.value for k in node.keywords}
                refused = isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False
                assert refused, f"{path.name}:{node.lineno} np.load without allow_pickle=False"
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                assert isinstance(node.value, ast.Constant) and node.value.value is False
        # Any other mention of "pickle" is a comment or docstring saying there is none.
        for line in path.read_text(encoding="utf-8").splitlines():
            rest = line.replace("allow_pickle=False", "")
            if "pickle" in rest.lower():
                assert re.search(r"(no|never|not|without) pickle", rest, re.I), f"{path.name}: {line.strip()}"


def test_loader_refuses_a_planted_pickle(built_index: Path, tmp_path: Path) -> None:
    """An attacker who replaces a vector file (and fixes the checksums) gets an error, not code execution."""
    import pickle  # noqa: S403 - building the hostile file

    index_dir, gen = fresh_copy(built_index, tmp_path)
    with open(gen / "chunk_vectors.npy", "wb") as fh:
        np.save(fh, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    (gen / "bm25.npz").write_bytes(pickle.dumps({"evil": 1}))
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    for name in ("chunk_vectors.npy", "bm25.npz"):
        digest = store._sha256(gen / name)  # noqa: SLF001
        manifest["files"][name] = {"sha256": digest, "bytes": (gen / name).stat().st_size}
    manifest["manifest_sha256"] = store._manifest_digest(manifest)  # noqa: SLF001
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="rebuild"):
        KnowledgeBase.open(index_dir)
