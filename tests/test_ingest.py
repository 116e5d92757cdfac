"""Ingestion into the real Chroma + BM25 index: idempotent, replacing, atomic across stores."""

import json
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.ingest.pipeline import ingest
from assistant.store.index import Index
from assistant.settings import Settings

from .conftest import PAGE_000, SEEDS, run_cli


def _no_orphans(a: Assistant) -> None:
    """Every vector belongs to a passage in the catalog."""
    index = a._open()
    assert index.vectors.ids() <= {r[0] for r in index.db.execute("SELECT chunk_id FROM chunks")}


def test_reingesting_the_same_files_adds_nothing(tmp_path):
    a = Assistant(index_dir=tmp_path / "idx")
    first = a.ingest(SEEDS)
    before = a.status()
    second = a.ingest(SEEDS)
    after = a.status()
    assert len(first.added) == 2 and first.chunks_written == before.chunks
    assert second.added == [] and second.replaced == [] and len(second.unchanged) == 2
    assert second.chunks_written == 0
    assert before == after
    assert after.vectors == 0 and after.vectors_pending == after.chunks  # ingestion never waits for e5
    assert after.documents == 2 and after.articles == 9


def test_a_changed_file_replaces_its_old_chunks(tmp_path, seeds_copy):
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(seeds_copy)
    a.embed_pending()
    passages = "SELECT chunk_id FROM chunks WHERE doc_id=?"
    before = {r[0] for r in a._open().db.execute(passages, (PAGE_000.name,))}
    page = seeds_copy / PAGE_000.name
    page.write_text(page.read_text(encoding="utf-8").replace("394.179", "512.6"), encoding="utf-8")
    report = a.ingest(seeds_copy)
    assert report.replaced == [PAGE_000.name] and len(report.unchanged) == 1
    _no_orphans(a)
    changed = {r[0] for r in a._open().db.execute(passages, (PAGE_000.name,))} - before
    assert a.status().vectors_pending == len(changed) > 0  # only the changed passage waits for a new vector
    answer = a.ask("沁水县2024年处罚金额多少？")
    assert answer.answer == "512.6万元"
    texts = [p.text for p in a.retrieve("处罚金额共计", k=20)]
    assert not any("394.179" in t for t in texts)


def test_deleting_a_document_removes_its_chunks_from_every_store(tmp_path):
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(SEEDS)
    a.embed_pending()
    assert a.delete(PAGE_000.name)
    status = a.status()
    assert status.documents == 1 and status.vectors == status.chunks
    _no_orphans(a)
    assert all(p.doc_id != PAGE_000.name for p in a.retrieve("沁水县处罚金额", k=20))


def test_reconcile_repairs_a_crash_between_the_stores(tmp_path):
    settings = Settings(index_dir=tmp_path / "idx")
    index = Index.open(settings, create=True)
    ingest(index, [PAGE_000])
    index.embed_pending()
    # Simulate a crash: a vector written for a document whose catalog commit never happened,
    # and a vector lost after its catalog row was committed.
    import numpy as np

    lost = next(iter(index.vectors.ids()))
    index.vectors.delete([lost])
    index.vectors.upsert(["orphan-0"], np.ones((1, index.embedder.dim), dtype=np.float32), [{"doc_id": "x"}])
    result = index.reconcile()
    assert result == {"orphans_removed": 1, "vectors_added": 0}  # e5's vectors follow in the background
    assert index.pending_vectors() == [lost] and index.embed_pending() == 1
    assert index.vectors.ids() == {r[0] for r in index.db.execute("SELECT chunk_id FROM chunks")}


def test_jsonl_documents_carry_their_ids_and_metadata_into_citations(tmp_path):
    src = tmp_path / "news.jsonl"
    src.write_text(
        json.dumps({"id": "n-1", "title": "芮城县空气质量", "text": "2025年，芮城县优良天数达到312天，创历史新高。", "author": "张三"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(src)
    answer = a.ask("芮城县2025年优良天数是多少天？")
    assert answer.answered and answer.answer == "312天"
    cite = answer.citations[0]
    assert cite.doc_id == "n-1" and cite.title == "芮城县空气质量" and cite.metadata["author"] == "张三"


def test_a_repeated_jsonl_id_keeps_the_last_line_and_leaves_no_orphans(tmp_path):
    src = tmp_path / "dup.jsonl"
    src.write_text(
        json.dumps({"id": "d", "text": "2025年，甲县优良天数达到301天。"}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "d", "text": "2025年，甲县优良天数达到305天。"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(src)
    status = a.status()
    assert status.documents == 1 and status.chunks == 1 and a.embed_pending() == 1
    assert a.ask("甲县2025年优良天数多少天？").answer == "305天"


def test_markdown_headings_title_their_articles(tmp_path):
    src = tmp_path / "note.md"
    src.write_text("# 芮城县生态环境简报\n\n2025年，芮城县优良天数达到312天。\n\n全县PM2.5年均浓度为29微克/立方米。\n", encoding="utf-8")
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(src)
    answer = a.ask("芮城县PM2.5年均浓度是多少？")
    assert answer.answer == "29微克/立方米"
    assert answer.citations[0].title == "芮城县生态环境简报" and answer.citations[0].doc_id == "note.md"


def test_an_index_from_before_subtitles_is_upgraded_by_the_next_ingest(tmp_path):
    """An index written by the previous parser (no subtitle columns, titles taken from body sentences) opens,
    answers, and the next ingest of the same files re-reads them with the current parser."""
    import sqlite3

    idx = tmp_path / "idx"
    Assistant(index_dir=idx).ingest(SEEDS)
    db = sqlite3.connect(idx / "catalog.sqlite3")
    with db:
        db.execute("ALTER TABLE articles DROP COLUMN subtitle")
        db.execute("ALTER TABLE chunks DROP COLUMN subtitle")
        db.execute("UPDATE documents SET content_hash = substr(content_hash, instr(content_hash, ':') + 1)")
        db.execute("UPDATE articles SET title = '为深入贯彻落实全过程人民民主理念' WHERE title = ''")
    db.close()
    old = Assistant(index_dir=idx)
    assert old.ask("沁水县2024年处罚金额多少？").answer == "394.179万元"
    report = old.ingest(SEEDS)
    assert sorted(report.replaced) == sorted(p.name for p in SEEDS.glob("*.txt")) and not report.unchanged
    headings = [h for d in old.documents() for h in d.article_titles]
    assert "小记如画沁水的“生态守护神”" in headings
    assert not any(h.startswith("为深入贯彻") for h in headings)


def _catalog(index_dir) -> dict:
    import sqlite3

    db = sqlite3.connect(str(index_dir / "catalog.sqlite3"))
    try:
        return {
            "chunks": db.execute("SELECT chunk_id, doc_id, text, tokens, metadata FROM chunks ORDER BY chunk_id").fetchall(),
            "facts": db.execute("SELECT doc_id, chunk_id, subject, year, metric, value, unit, span FROM facts "
                                "ORDER BY doc_id, chunk_id, span, metric").fetchall(),
            "articles": db.execute("SELECT * FROM articles ORDER BY doc_id, idx").fetchall(),
        }
    finally:
        db.close()


@pytest.mark.parametrize("busy", [False, True], ids=["forked", "spawned"])
def test_documents_prepared_in_worker_processes_are_written_as_one_process_writes_them(tmp_path, monkeypatch, busy):
    """A large ingest prepares documents in worker processes (forked, or spawned when the process has other threads,
    as a server does): the catalog, facts and answers are those of a one-process ingest."""
    import threading

    from assistant.ingest import pipeline as pipeline

    corpus = Path(__file__).resolve().parents[1] / "evals" / "crud_news_sample_corpus.jsonl"
    one = Assistant(settings=Settings(index_dir=tmp_path / "one", ingest_workers=1))
    one.ingest(corpus)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    started = []
    real_pool = pipeline._in_order

    def watched(pool, groups, window):
        started.append(type(pool._mp_context).__name__)
        return real_pool(pool, groups, window)

    monkeypatch.setattr(pipeline, "_in_order", watched)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait) if busy else None
    if other:
        other.start()
    try:
        two = Assistant(settings=Settings(index_dir=tmp_path / "two", ingest_workers=2))
        report = two.ingest(corpus)
    finally:
        stop.set()
    assert started == ["SpawnContext" if busy else "ForkContext"], threading.enumerate()
    assert len(report.added) == 476 and report.answerable_seconds <= report.seconds
    assert _catalog(tmp_path / "two") == _catalog(tmp_path / "one")
    question = "上海市体育局联合美团、大众点评发放的体育消费券是如何进行发放的？"
    assert two.ask(question).to_dict()["citations"] == one.ask(question).to_dict()["citations"]


def test_an_ingest_killed_while_its_workers_prepare_leaves_the_index_free_for_the_next(tmp_path):
    """kill -9 of a large ingest while its forked workers run: the user's next ingest is not told that another one is
    writing (a worker's copy of the locked file would hold the lock), no worker is left behind, and the re-run
    holds every document."""
    import os
    import signal
    import subprocess
    import sys
    import time

    corpus = Path(__file__).resolve().parents[1] / "evals" / "crud_news_sample_corpus.jsonl"
    folder = tmp_path / "corpus"
    folder.mkdir()
    halves = [folder / "a.jsonl", folder / "b.jsonl"]
    lines = corpus.read_text(encoding="utf-8").splitlines()
    halves[0].write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    halves[1].write_text("\n".join(lines[200:]) + "\n", encoding="utf-8")
    index_dir, pids = tmp_path / "index", tmp_path / "workers"
    # The writer kills itself once its workers have started and the first file is read: mid-ingest.
    script = f"""
import os, signal
from pathlib import Path
from assistant.settings import Settings
from assistant.ingest import pipeline as m
from assistant.store.index import Index
m.PARALLEL_MIN_BYTES = 0
real = m._in_order
def watched(pool, groups, window):
    for item in real(pool, groups, window):
        Path({str(pids)!r}).write_text(" ".join(str(p) for p in pool._processes))
        os.kill(os.getpid(), signal.SIGKILL)
        yield item
m._in_order = watched
idx = Index.open(Settings(index_dir={str(index_dir)!r}, ingest_workers=2), create=True)
m.ingest(idx, [Path({str(folder)!r})])
"""
    log = tmp_path / "writer.log"  # not a pipe: a worker left behind would hold it open and hang the test
    with open(log, "w") as out:
        killed = subprocess.run([sys.executable, "-c", script], stdout=out, stderr=out, timeout=300)
    assert killed.returncode == -signal.SIGKILL, log.read_text()[-2000:]
    workers = [int(p) for p in pids.read_text().split()]
    assert len(workers) == 2

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
        except (FileNotFoundError, IndexError):
            return False

    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if alive(p)]
    for pid in left:  # a failing run must not leave them behind
        os.kill(pid, signal.SIGKILL)
    assert not left
    again = Assistant(settings=Settings(index_dir=index_dir))
    report = again.ingest(folder)  # would raise IndexBusy if a worker still held the lock
    assert again.status().documents == len(lines) and report.seconds > 0


def test_a_lexical_only_index_has_no_vector_store_and_answers_from_bm25(tmp_path, seeds_copy):
    """ASSISTANT_EMBEDDING=none: no Chroma folder, nothing pending, and ingest, ask, replace, delete and reconcile
    work as with vectors."""
    settings = Settings(index_dir=tmp_path / "idx", embedding="none")
    a = Assistant(settings=settings)
    a.ingest(seeds_copy)
    status = a.status()
    assert not (tmp_path / "idx" / "chroma").exists()
    assert status.vectors_pending == 0 and status.vector_store == "none" and status.chunks == 75
    answer = a.ask("沁水县2024年处罚金额多少？")
    assert answer.answer == "394.179万元" and answer.citations
    page = seeds_copy / PAGE_000.name
    page.write_text(page.read_text(encoding="utf-8").replace("394.179", "512.6"), encoding="utf-8")
    assert a.ingest(seeds_copy).replaced == [PAGE_000.name]
    assert a.ask("沁水县2024年处罚金额多少？").answer == "512.6万元"
    assert Index.open(settings).reconcile() == {"orphans_removed": 0, "vectors_added": 0}
    assert a.delete(PAGE_000.name) and a.status().documents == 1
    assert not (tmp_path / "idx" / "chroma").exists()


def test_the_cli_says_an_index_is_lexical_only(tmp_path):
    env = {"ASSISTANT_EMBEDDING": "none", "ASSISTANT_INDEX_DIR": str(tmp_path / "idx")}
    assert run_cli("ingest", str(SEEDS), env=env).returncode == 0
    shown = run_cli("status", env=env)
    assert shown.returncode == 0 and "仅按关键词检索" in shown.stdout and "等待计算向量" not in shown.stdout


def test_the_vectors_of_the_retired_hashing_embedder_are_dropped(tmp_path):
    """An index from before e5 was the default holds the feature-hashing vectors (most of its size on disk): the
    next embedding run drops them and keeps its own."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(tmp_path / "idx" / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
    client.get_or_create_collection("chunks_hashing-v2-4096-1", embedding_function=None).upsert(
        ids=["old-0"], embeddings=[[0.5] * 16])
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(PAGE_000)
    assert a.embed_pending() == a.status().chunks
    names = [c.name for c in client.list_collections()]
    assert names == [c for c in names if c.startswith("chunks_e5")] and len(names) == 1
