"""Losing nothing: one writer at a time per index across processes, readers that never see an error while a writer
works, derived stores rebuilt from the catalog."""

import json
import subprocess
import sys
import threading
from pathlib import Path

from assistant import Assistant
from assistant.errors import IndexBusy
from assistant.store.index import Index

from .conftest import PAGE_000, ROOT, SEEDS, run_cli

NEWS = ROOT / "evals" / "crud_news_sample_corpus.jsonl"


def _consistent(index_dir: Path) -> dict:
    """The status as `assistant status` reads it: every passage has its vector or waits for it."""
    status = json.loads(run_cli("status", "--json", "--index-dir", str(index_dir)).stdout)
    assert status["vectors"] + status["vectors_pending"] == status["chunks"], status
    return status


def test_a_second_writer_is_told_another_is_at_work_and_nothing_is_written(tmp_path):
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(SEEDS)
    before = a.status()
    with a._open().writing():  # a writer at work (this process)
        refused = run_cli("ingest", str(NEWS), "--index-dir", str(tmp_path / "idx"))
        assert refused.returncode == 3 and "另一个导入或删除正在写入这个索引" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert a.status().documents == before.documents
    assert run_cli("ingest", str(NEWS), "--index-dir", str(tmp_path / "idx"), timeout=300).returncode == 0
    assert _consistent(tmp_path / "idx")["documents"] == before.documents + 476


def test_two_ingests_started_together_leave_one_consistent_index(tmp_path):
    index_dir = tmp_path / "idx"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir)).returncode == 0
    cmd = [sys.executable, "-m", "assistant.app.cli", "ingest", str(NEWS), "--index-dir", str(index_dir)]
    runs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in runs]
    assert all(code == 0 or (code == 3 and "另一个导入" in err) for code, err in outcomes), outcomes
    status = _consistent(index_dir)
    assert status["documents"] == 2 + 476
    answer = json.loads(run_cli("ask", "沁水县2024年处罚金额多少？", "--json", "--index-dir", str(index_dir)).stdout)
    assert answer["answer"] == "394.179万元"


def test_readers_never_see_an_error_while_a_writer_works(tmp_path):
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(SEEDS)
    errors: list[BaseException] = []
    answers: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                answers.append(a.ask("沁水县2024年处罚金额多少？").answer)
            except BaseException as exc:  # noqa: BLE001 - any error a reader sees fails the test
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        report = a.ingest(NEWS)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors and len(report.added) == 476
    assert answers and set(answers) == {"394.179万元"}


def _catalog_files_open(index_dir: Path) -> int:
    """Files this process holds open under the index's catalog (the database, its WAL and shared memory)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            target = fd.readlink()
        except OSError:  # closed while listed
            continue
        count += target.parent == index_dir.resolve() and target.name.startswith("catalog.sqlite3")
    return count


def test_questions_from_threads_that_come_and_go_leave_no_open_files_behind(tmp_path):
    """A server's worker threads end when idle and new ones start with the next burst of questions: each thread's
    catalog connection must be closed once its thread has ended, or the server runs out of file descriptors (and
    memory) after enough bursts."""
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(SEEDS)
    answers: list[str] = []
    for _ in range(60):
        thread = threading.Thread(target=lambda: answers.append(a.ask("沁水县2024年处罚金额多少？").answer))
        thread.start()
        thread.join()
    assert answers == ["394.179万元"] * 60
    assert _catalog_files_open(tmp_path / "idx") <= 3 * 3  # this thread's, the last reader's, the writer's at most
    a.close()
    assert _catalog_files_open(tmp_path / "idx") == 0


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    """flock, not a pid file: a writer killed with -9 leaves no lock behind."""
    Assistant(index_dir=tmp_path / "idx").ingest(SEEDS)
    code = (
        "import os, sys; from assistant.settings import Settings; from assistant.store.index import Index\n"
        f"ix = Index.open(Settings(index_dir={str(tmp_path / 'idx')!r}))\n"
        "with ix.writing():\n    print('held', flush=True); os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9 and "held" in proc.stdout
    from assistant.settings import Settings

    with Index.open(Settings(index_dir=tmp_path / "idx")).writing():
        pass  # taken at once
    try:
        with Index.open(Settings(index_dir=tmp_path / "idx")).writing():
            with Index.open(Settings(index_dir=tmp_path / "idx")).writing():
                raise AssertionError("two writers held the lock")
    except IndexBusy:
        pass


def test_a_vector_store_torn_by_a_killed_writer_is_rebuilt_from_the_catalog(tmp_path):
    """A writer killed mid-write leaves vectors.dirty; the next process checks the store in a child process (a torn
    chromadb segment can crash the process reading it) and rebuilds it from the catalog."""
    index_dir = tmp_path / "idx"
    assert run_cli("ingest", str(PAGE_000), "--index-dir", str(index_dir)).returncode == 0
    assert run_cli("embed", "--index-dir", str(index_dir)).returncode == 0
    (index_dir / "chroma" / "chroma.sqlite3").write_bytes(b"torn" * 1000)  # what a write cut short can leave
    (index_dir / "vectors.dirty").write_text("12345", encoding="ascii")
    english = "How much were the environmental fines in Qinshui County in 2024?"
    asked = run_cli("ask", english, "--json", "--index-dir", str(index_dir))  # a question in English reads the vectors
    assert asked.returncode == 0 and "Traceback" not in asked.stderr, asked.stderr
    assert json.loads(asked.stdout)["answer"] == "394.179万元"  # found by 沁水县, the name "Qinshui" reads as
    status = _consistent(index_dir)  # the store is rebuilt empty; its vectors follow as after an ingest
    assert status["vectors"] == 0 and status["chunks"] > 0 and not (index_dir / "vectors.dirty").exists()
    assert run_cli("embed", "--index-dir", str(index_dir)).returncode == 0
    assert _consistent(index_dir)["vectors_pending"] == 0
    assert json.loads(run_cli("ask", english, "--json", "--index-dir", str(index_dir)).stdout)["answer"] == "394.179万元"


def test_a_whole_store_with_a_stale_mark_is_kept(tmp_path):
    index_dir = tmp_path / "idx"
    assert run_cli("ingest", str(PAGE_000), "--index-dir", str(index_dir)).returncode == 0
    assert run_cli("embed", "--index-dir", str(index_dir)).returncode == 0
    before = sorted(p.name for p in (index_dir / "chroma").iterdir())
    (index_dir / "vectors.dirty").write_text("12345", encoding="ascii")
    assert _consistent(index_dir)["vectors_pending"] == 0
    assert sorted(p.name for p in (index_dir / "chroma").iterdir()) == before and not (index_dir / "vectors.dirty").exists()


def test_a_document_replaced_while_it_is_asked_is_read_old_or_new(tmp_path, seeds_copy):
    """A turn reads one view of the index (a read transaction, and its BM25 of that generation): asked while another
    thread replaces the document over and over, every answer is the old figure or the new one, never a decline and
    never another document's figure."""
    import threading
    import time
    from collections import Counter

    note = seeds_copy / "芮城简报.txt"
    versions = ["芮城县生态环境简报\n2024年芮城县新建污水管网12.5公里，完成投资3200万元。\n",
                "芮城县生态环境简报\n2024年芮城县新建污水管网18.6公里，完成投资3200万元。\n"]
    note.write_text(versions[0], encoding="utf-8")
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(seeds_copy)
    stop, answers, replaced, failures = threading.Event(), Counter(), [0], []

    def replace():
        while not stop.is_set():
            note.write_text(versions[(replaced[0] + 1) % 2], encoding="utf-8")
            a.ingest(note)
            replaced[0] += 1

    def ask():
        try:
            while not stop.is_set():
                answer = a.ask("2024年芮城县新建污水管网多少公里？")
                answers[answer.answer if answer.answered else "（拒答）" + answer.answer] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=replace), *(threading.Thread(target=ask) for _ in range(3))]
    for t in threads:
        t.start()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    assert replaced[0] > 5 and sum(answers.values()) > 50, (replaced, answers)
    assert set(answers) <= {"12.5公里", "18.6公里"}, answers


def test_an_ingest_that_would_fill_the_disk_stops_with_one_sentence_and_loses_nothing(tmp_path):
    """Below the disk reserve (ASSISTANT_MIN_FREE_MB; here larger than any disk), `assistant ingest` writes nothing,
    says so in one sentence with exit code 4, and the index answers as before."""
    index_dir = tmp_path / "idx"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir)).returncode == 0
    before = _consistent(index_dir)
    full = run_cli("ingest", str(NEWS), "--index-dir", str(index_dir), env={"ASSISTANT_MIN_FREE_MB": "1e12"})
    assert full.returncode == 4 and full.stderr.startswith("错误：磁盘空间不足") and "Traceback" not in full.stderr
    assert len(full.stderr.strip().splitlines()) == 1
    assert _consistent(index_dir)["documents"] == before["documents"]
    asked = json.loads(run_cli("ask", "沁水县2024年处罚金额多少？", "--json", "--index-dir", str(index_dir)).stdout)
    assert asked["answer"] == "394.179万元"


def test_a_disk_that_fills_mid_ingest_keeps_and_reports_what_was_committed(tmp_path, monkeypatch):
    """SQLite finds the disk full at the second batch: the first batch stays committed and is reported added, the
    rest is reported skipped for want of space, the index is consistent, and the next ingest brings in the rest."""
    import sqlite3

    from assistant.store import catalog

    real, calls = catalog.write_record, [0]

    def filling(db, record):
        calls[0] += 1
        if calls[0] > 150:  # the first batch (512 passages) holds fewer documents than this
            raise sqlite3.OperationalError("database or disk is full")
        real(db, record)

    a = Assistant(index_dir=tmp_path / "idx")
    monkeypatch.setattr(catalog, "write_record", filling)
    report = a.ingest(NEWS)
    assert 0 < len(report.added) < 476 and any("磁盘空间不足" in w for w in report.warnings)
    assert {s.reason for s in report.skipped} == {"磁盘空间不足，未导入"}
    assert a.status().documents == len(report.added)  # exactly what was reported committed
    monkeypatch.setattr(catalog, "write_record", real)
    rest = a.ingest(NEWS)
    assert len(rest.added) == 476 - len(report.added) and a.status().documents == 476
    assert _consistent(tmp_path / "idx")["documents"] == 476


def test_the_heap_is_handed_back_only_once_no_question_has_been_in_flight_for_a_while():
    """After a burst the server returns freed memory to the system; a question arriving meanwhile puts it off."""
    import asyncio

    from assistant.app.memory import HeapTrimmer

    async def scenario() -> tuple[int, int]:
        calls: list[int] = []
        quick = HeapTrimmer(idle_s=0.05)
        quick._trim = calls.append  # the C call, observed
        quick.settled()
        await asyncio.sleep(0.5)
        after_idle = len(calls)
        slow = HeapTrimmer(idle_s=0.3)
        slow._trim = calls.append
        for _ in range(5):  # a question every 0.1 s: never idle for 0.3 s
            slow.settled()
            await asyncio.sleep(0.1)
            slow.busy()
        await asyncio.sleep(0.5)
        return after_idle, len(calls) - after_idle

    after_idle, while_busy = asyncio.run(scenario())
    assert after_idle == 1 and while_busy == 0
