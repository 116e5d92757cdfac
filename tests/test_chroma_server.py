"""Server mode against a real `chroma run` (the chromadb package's server): processes that share one Chroma server answer
alike, and a served process sees another's ingestion and deletion within seconds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from .conftest import SEEDS, run_cli
from .test_ui import CANONICAL, GBK_ARTICLE, _free_port, _log, _start, _stop

CHROMA = Path(sys.executable).parent / "chroma"
QUESTIONS = [CANONICAL, "晋中市2025年PM2.5年均浓度是多少？", "阳城县2030年处罚金额多少？"]
SEEN_WITHIN_S = 15  # how long a reader may take to see another process's write (it checks once a second)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A real Chroma server on a free loopback port: {"ASSISTANT_CHROMA_HOST": ..., "ASSISTANT_CHROMA_PORT": ...}."""
    proc, env = _own_chroma(tmp_path_factory.mktemp("chroma-server"))
    yield env
    proc.terminate()
    proc.wait(timeout=30)


def _own_chroma(folder: Path) -> tuple[subprocess.Popen, dict]:
    """A real Chroma server (`chroma run`) on a free loopback port, once it answers: the process and the settings that
    name it."""
    assert CHROMA.exists(), "the chroma command comes with the chromadb package"
    port = _free_port()
    log = (folder / "chroma.log").open("w")
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                return proc, {"ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(port)}
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"chroma run did not start: {(folder / 'chroma.log').read_text()}")
            time.sleep(0.3)


def _ask_json(question: str, index_dir: Path, env: dict) -> dict:
    done = run_cli("ask", question, "--json", "--index-dir", str(index_dir), env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    answer.pop("latency_ms"), answer.pop("timings", None)
    return answer


def test_a_second_process_with_nothing_local_answers_from_the_server_the_same_way(chroma_server, tmp_path):
    writer, reader = tmp_path / "writer", tmp_path / "reader"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(writer), env=chroma_server).returncode == 0
    embedded = run_cli("embed", "--index-dir", str(writer), env=chroma_server, timeout=300)
    assert embedded.returncode == 0 and "新计算 75 个段落的向量" in embedded.stdout, embedded.stdout + embedded.stderr
    for question in QUESTIONS:
        assert _ask_json(question, reader, chroma_server) == _ask_json(question, writer, chroma_server)
    english = _ask_json("How much were the environmental fines in Qinshui County in 2024?", reader, chroma_server)
    assert english["answer"] == "394.179万元"  # read through the vectors on the server
    status = json.loads(run_cli("status", "--json", "--index-dir", str(reader), env=chroma_server).stdout)
    assert status["documents"] == 2 and status["vectors"] == status["chunks"] == 75
    assert status["chroma_server"] == f"127.0.0.1:{chroma_server['ASSISTANT_CHROMA_PORT']}"
    assert not (reader / "chroma").exists()  # every vector is on the server


def test_a_served_process_sees_another_process_ingest_and_delete_within_seconds(chroma_server, tmp_path):
    writer = tmp_path / "writer"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(writer), env=chroma_server).returncode == 0
    proc, url = _start(tmp_path / "served", env=chroma_server)
    question = {"question": "襄汾县秸秆综合利用率是多少？"}
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            assert http.post("/v1/ask", json={"question": CANONICAL}).json()["answer"] == "394.179万元"
            assert not http.post("/v1/ask", json=question).json()["answered"]

            article = tmp_path / "new" / "襄汾秸秆.txt"
            article.parent.mkdir()
            article.write_bytes(GBK_ARTICLE.encode("gbk"))
            assert run_cli("ingest", str(article.parent), "--index-dir", str(writer), env=chroma_server).returncode == 0
            written = time.monotonic()
            while not (answer := http.post("/v1/ask", json=question).json())["answered"]:
                assert time.monotonic() - written < SEEN_WITHIN_S, "the served process never saw the new article"
                time.sleep(0.3)
            assert answer["answer"] == "93.5%" and answer["citations"][0]["doc_id"] == "襄汾秸秆.txt"

            assert run_cli("delete", "襄汾秸秆.txt", "--index-dir", str(writer), env=chroma_server).returncode == 0
            deleted = time.monotonic()
            while http.post("/v1/ask", json=question).json()["answered"]:
                assert time.monotonic() - deleted < SEEN_WITHIN_S, "the served process still answers from a deleted one"
                time.sleep(0.3)
            assert "襄汾秸秆.txt" not in {d["doc_id"] for d in http.get("/v1/documents").json()["documents"]}
    finally:
        _stop(proc)
    assert "Traceback" not in _log(proc)


def test_a_chroma_server_that_does_not_answer_is_named_in_one_sentence(tmp_path):
    env = {"ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(_free_port())}
    done = run_cli("ask", CANONICAL, "--index-dir", str(tmp_path / "index"), env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("错误：无法连接 Chroma 服务器 127.0.0.1:") and len(done.stderr.strip().splitlines()) == 1



def test_with_the_chroma_server_gone_questions_are_answered_from_the_local_index(tmp_path):
    """The Chroma server dies under a serving process: every seeds question is still answered as before (from the
    local copy of the catalog and its BM25), /healthz and /v1/status say degraded, /readyz answers 503, and nothing
    in the server's log is a traceback."""
    from .conftest import load_gold

    chroma, env = _own_chroma(tmp_path)
    env = {**env, "ASSISTANT_EMBEDDING": "none"}
    index_dir = tmp_path / "index"
    try:
        assert run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir), env=env).returncode == 0
        proc, url = _start(index_dir, env=env)
        url = url.rstrip("/")
        try:
            questions = [item["question"] for item in load_gold() if not item.get("history")]
            assert httpx.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
            before = [httpx.post(f"{url}/v1/ask", json={"question": q}, timeout=60).json()["answer"] for q in questions]
            chroma.terminate()
            chroma.wait(timeout=30)
            time.sleep(1.5)  # a reader asks the server once a second
            replies = [httpx.post(f"{url}/v1/ask", json={"question": q}, timeout=60) for q in questions]
            assert all(r.status_code == 200 for r in replies), [r.text for r in replies if r.status_code != 200][:3]
            same = sum(r.json()["answer"] == b for r, b in zip(replies, before))
            assert same >= 0.9 * len(questions), (same, len(questions))
            health = httpx.get(f"{url}/healthz", timeout=30).json()
            assert health["status"] == "degraded" and "Chroma" in health["reason"]
            assert httpx.get(f"{url}/readyz", timeout=30).status_code == 503
            assert "Chroma" in httpx.get(f"{url}/v1/status", timeout=30).json()["degraded"]
        finally:
            _stop(proc)
        log = _log(proc)
        assert "Traceback" not in log, log[-3000:]
    finally:
        if chroma.poll() is None:
            chroma.kill()


def test_a_change_whose_generation_never_moved_is_still_found_and_its_deletion_is_told_truly(tmp_path, monkeypatch):
    """A writer's records reach the Chroma server, then the server goes away before the generation is bumped. The
    write is reported as done; another process finds the documents by comparing hashes within VERIFY_INTERVAL_S,
    and a process that has not found them yet still answers a DELETE of one with what the server did."""
    from assistant.ingest.pipeline import ingest
    from assistant.settings import Settings
    from assistant.store import index as index_module
    from assistant.store.shared import SharedCatalog

    chroma, env = _own_chroma(tmp_path)
    try:
        settings = Settings(embedding="none", chroma_host=env["ASSISTANT_CHROMA_HOST"],
                            chroma_port=int(env["ASSISTANT_CHROMA_PORT"]))
        writer = index_module.Index.open(settings, tmp_path / "writer", create=True)
        ingest(writer, [SEEDS / "000_b6794b346518e693.txt"])
        reader = index_module.Index.open(settings, tmp_path / "reader", create=True)
        deleter = index_module.Index.open(settings, tmp_path / "deleter", create=True)
        assert len(reader.documents()) == len(deleter.documents()) == 1

        def server_gone(self):
            raise ConnectionError("the Chroma server went away")

        monkeypatch.setattr(SharedCatalog, "bump", server_gone)
        report = ingest(writer, [SEEDS / "001_86313f0a6bb92235.txt"])
        assert report.added == ["001_86313f0a6bb92235.txt"] and not report.skipped  # committed, and said so
        monkeypatch.undo()
        reader.sync(force=True)
        assert len(reader.documents()) == 1  # the generation did not move: only a comparison finds it

        monkeypatch.setattr(index_module, "VERIFY_INTERVAL_S", 1.0)
        deadline = time.monotonic() + SEEN_WITHIN_S
        while len(reader.documents()) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
            reader.sync(force=True)
        assert {d.doc_id for d in reader.documents()} == {"000_b6794b346518e693.txt", "001_86313f0a6bb92235.txt"}

        monkeypatch.setattr(index_module, "VERIFY_INTERVAL_S", 3600.0)
        deleter._verified_at = time.monotonic()  # it compared just now, before the records landed
        assert deleter.delete_document("001_86313f0a6bb92235.txt") is True  # the server held it: deleted, not 404
        reader.sync(force=True)
        assert [d.doc_id for d in reader.documents()] == ["000_b6794b346518e693.txt"]
        for index in (writer, reader, deleter):
            index.close()
    finally:
        chroma.kill()
