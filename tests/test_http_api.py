"""The HTTP API of `assistant serve`, through real HTTP: the `openai` client against /v1/chat/completions and /v1/models,
httpx against the JSON routes, with ingestion and 50 concurrent questions at once."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, SEEDS, load_gold, run_cli
from .fake_openai import FakeOpenAI, passage_number
from .test_ui import CANONICAL, GBK_ARTICLE, _log, _shot, _start, _stop, browser  # noqa: F401 (a fixture)

SAMPLE_CORPUS = ROOT / "evals" / "crud_news_sample_corpus.jsonl"  # 476 news articles, about 1 MB


@contextmanager
def served_seeds(folder: Path, env: dict | None = None, secret: str | None = None):
    """The seeds ingested into a new index under `folder` and served: (base url, index dir). When the server stops,
    its log must hold no traceback (nor the secret, when one is given)."""
    index_dir = folder / "index"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir)).returncode == 0
    proc, url = _start(index_dir, env=env)
    try:
        yield url.rstrip("/"), index_dir
    finally:
        _stop(proc)
    log = _log(proc)
    assert "Traceback" not in log, f"the server logged a traceback:\n{log}"
    assert secret is None or secret not in log


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A served copy of the seeds index: (base url, index dir)."""
    with served_seeds(tmp_path_factory.mktemp("api")) as served:
        yield served


def _openai(url: str, key: str = "unused"):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


def _chat(url: str, key: str = "unused", stream: bool = False, question: str = CANONICAL):
    """The canonical question through the openai client."""
    return _openai(url, key).chat.completions.create(
        model="news-qa-assistant", messages=[{"role": "user", "content": question}], stream=stream)


def test_an_openai_client_lists_the_model_and_gets_a_cited_answer(api):
    url, _ = api
    client = _openai(url)
    models = [m.id for m in client.models.list()]
    assert models == ["news-qa-assistant"]
    reply = _chat(url)
    text = reply.choices[0].message.content
    assert text.startswith("394.179万元 [1]") and "来源：\n[1] " in text
    citations = reply.model_extra["citations"]
    assert citations[0]["marker"] == 1 and "394.179万元" in citations[0]["text"]  # the figure is in the cited passage


def test_an_answer_read_from_two_passages_marks_both(api):
    # A comparison answers from each side's passage: the chat text marks both, as its 来源 list names both.
    url, _ = api
    text = _chat(url, question="阳城县和晋中市，哪个地方的PM2.5浓度更低？").choices[0].message.content
    answer, sources = text.split("来源：")
    assert answer.startswith("晋中") and "[1][2]" in answer
    assert sources.strip().startswith("[1] ") and "\n[2] " in sources


def test_a_follow_up_in_the_message_list_is_read_with_the_earlier_questions(api):
    url, _ = api
    reply = _openai(url).chat.completions.create(model="any-name", messages=[
        {"role": "system", "content": "你是助手"},
        {"role": "user", "content": CANONICAL},
        {"role": "assistant", "content": "394.179万元 [1]"},
        {"role": "user", "content": [{"type": "text", "text": "立案查处了多少件？"}]},
    ])
    assert reply.choices[0].message.content.startswith("24件") and reply.model == "any-name"


def test_a_streamed_answer_arrives_in_chunks_with_its_citations_at_the_end(api):
    url, _ = api
    chunks = list(_chat(url, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 3 and text.startswith("394.179万元 [1]")
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]


def test_replies_count_their_tokens_streamed_or_not(api):
    # Clients read `usage` (llm's OpenAI plugin fails on a reply without it); a stream carries it in one last chunk
    # when the client asks for it (stream_options.include_usage), as OpenAI's own API does.
    import tiktoken

    url, _ = api
    reply = _chat(url)
    usage = reply.usage
    enc = tiktoken.get_encoding("cl100k_base")
    assert usage.completion_tokens == len(enc.encode(reply.choices[0].message.content))
    assert 0 < usage.prompt_tokens and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    chunks = list(_openai(url).chat.completions.create(
        model="m", messages=[{"role": "user", "content": CANONICAL}], stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == usage.total_tokens
    assert all(c.usage is None for c in chunks[:-1])
    plain = list(_chat(url, stream=True))  # not asked for: no usage chunk
    assert all(c.usage is None and c.choices for c in plain)


@pytest.mark.parametrize("streamed", [True, False])
def test_the_llm_command_line_tool_gets_a_cited_answer(api, tmp_path, streamed):
    # simonw/llm, set up as its docs say for an OpenAI-compatible server (extra-openai-models.yaml), in both modes.
    import os
    import subprocess
    import sys

    url, _ = api
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: news-qa\n  model_name: news-qa-assistant\n  api_base: {url}/v1\n", encoding="utf-8")
    env = {**os.environ, "LLM_USER_PATH": str(tmp_path), "OPENAI_API_KEY": "unused"}
    args = [str(Path(sys.executable).with_name("llm")), "-m", "news-qa", CANONICAL, "--no-log"]
    done = subprocess.run(args if streamed else [*args, "--no-stream"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("394.179万元 [1]") and "来源：" in done.stdout


@pytest.mark.parametrize("streamed", [True, False])
def test_llama_index_openailike_gets_a_cited_answer(api, streamed):
    # llama-index's OpenAILike, as its docs set it up for an OpenAI-compatible server: a chat model at api_base.
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    url, _ = api
    llm = OpenAILike(model="news-qa-assistant", api_base=f"{url}/v1", api_key="unused", is_chat_model=True,
                     context_window=8192, max_retries=0, timeout=120)
    messages = [ChatMessage(role="user", content=CANONICAL)]
    if streamed:
        text = "".join(r.delta or "" for r in llm.stream_chat(messages))
    else:
        text = llm.chat(messages).message.content
    assert text.startswith("394.179万元 [1]") and "来源：" in text
    follow_up = llm.chat([*messages, ChatMessage(role="assistant", content=text),
                          ChatMessage(role="user", content="立案查处了多少件？")])
    assert follow_up.message.content.startswith("24件")


def test_replies_name_documents_without_the_servers_folders(api):
    # The seeds were ingested by their absolute path: a client is told the document's name, not where the server
    # keeps its files, in an answer's citations, in the chat reply's and in the documents list.
    url, _ = api
    folder = str(SEEDS.resolve().parent)
    asked = httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60).json()
    chat = _chat(url).model_extra["citations"]
    listed = httpx.get(f"{url}/v1/documents", timeout=60).json()["documents"]
    sources = [c["source"] for c in asked["citations"] + chat] + [d["source"] for d in listed]
    assert asked["citations"] and listed and all(s.endswith(".txt") for s in sources)
    assert not any(folder in s or Path(s).is_absolute() for s in sources), sources


def test_a_question_that_names_its_own_subject_does_not_inherit_the_last_turns_year(api):
    # It was answered as "2023年沅水特大桥主跨多少米？" (and declined) in the UI, in chat and here; a follow-up that
    # names nothing still borrows the last turn's place and year.
    url, _ = api
    history = ["2023年7月江苏全省共有多少人被终生禁驾？"]
    alone = httpx.post(f"{url}/v1/ask", json={"question": "沅水特大桥主跨多少米？", "history": history}, timeout=60).json()
    assert alone["standalone_question"] == "沅水特大桥主跨多少米？"
    follow = httpx.post(f"{url}/v1/ask", json={"question": "立案查处了多少件？", "history": [CANONICAL]}, timeout=60).json()
    assert follow["standalone_question"] == "沁水县2024年立案查处了多少件？" and follow["answer"].startswith("24件")


def test_ask_returns_the_same_object_as_ask_json(api):
    url, index_dir = api
    over_http = httpx.post(f"{url}/v1/ask", json={"question": "那阳城县呢？", "history": ["晋中市2025年PM2.5年均浓度是多少？"]},
                           timeout=60).json()
    cli = run_cli("ask", "那阳城县呢？", "--history", "晋中市2025年PM2.5年均浓度是多少？", "--json", "--index-dir",
                  str(index_dir))
    assert cli.returncode == 0, cli.stderr
    local = json.loads(cli.stdout)
    for volatile in ("latency_ms", "timings"):
        over_http.pop(volatile, None), local.pop(volatile, None)
    assert over_http == local and over_http["standalone_question"].startswith("阳城")


def test_errors_are_one_json_sentence_with_the_right_status(api):
    url, _ = api
    empty = httpx.post(f"{url}/v1/ask", json={"question": "   "}, timeout=30)
    assert empty.status_code == 400 and empty.json()["error"]["message"] == "问题不能为空。"
    broken = httpx.post(f"{url}/v1/ask", content=b"{not json", headers={"content-type": "application/json"}, timeout=30)
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]["message"]
    missing = httpx.post(f"{url}/v1/ask", json={"history": []}, timeout=30)
    assert missing.status_code == 422 and missing.json()["error"]["message"] == "请求格式不对：缺少字段 question。"
    year = httpx.get(f"{url}/v1/facts", params={"year": "去年"}, timeout=30)
    assert year.status_code == 422 and year.json()["error"]["message"] == "请求格式不对：字段 year 应为整数。"
    gone = httpx.delete(f"{url}/v1/documents/no-such.txt", timeout=30)
    assert gone.status_code == 404 and "no-such.txt" in gone.json()["error"]["message"]
    # A wrong method or an unknown route under /v1 is answered in the same shape, not with the web UI's English 404.
    wrong = httpx.get(f"{url}/v1/ask", timeout=30)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["message"] == "/v1/ask 不接受 GET 请求，请用 POST。"
    nowhere = httpx.post(f"{url}/v1/nothing", json={}, timeout=30)
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
    from openai import BadRequestError

    with pytest.raises(BadRequestError, match="对话中没有用户问题"):
        _openai(url).chat.completions.create(model="m", messages=[{"role": "user", "content": " "}])


def test_upload_ask_list_and_delete_over_http(api, tmp_path):
    url, index_dir = api
    article = tmp_path / "襄汾秸秆.txt"
    article.write_bytes(GBK_ARTICLE.encode("gbk"))
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    refused = httpx.post(f"{url}/v1/ingest", files=[("files", (pdf.name, pdf.read_bytes()))], timeout=60)
    assert refused.status_code == 415 and "scan.pdf" in refused.json()["error"]["message"]

    done = httpx.post(f"{url}/v1/ingest", files=[("files", (article.name, article.read_bytes())),
                                                ("files", (pdf.name, pdf.read_bytes()))], timeout=120)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["report"]["added"] == 1 and any("scan.pdf" in m for m in body["messages"])
    listed = {d["doc_id"]: d for d in httpx.get(f"{url}/v1/documents", timeout=30).json()["documents"]}
    assert "襄汾秸秆.txt" in listed and listed["襄汾秸秆.txt"]["article_titles"] == ["临汾市襄汾县扎实推进秸秆综合利用"]
    answer = httpx.post(f"{url}/v1/ask", json={"question": "襄汾县秸秆综合利用率是多少？"}, timeout=60).json()
    assert answer["answer"] == "93.5%" and answer["citations"][0]["doc_id"] == "襄汾秸秆.txt"
    facts = httpx.get(f"{url}/v1/facts", params={"subject": "襄汾", "year": 2025}, timeout=30).json()["facts"]
    assert {"93.5%", "42.6万亩"} <= {f["display"] for f in facts}

    uploaded = index_dir / "uploads" / "襄汾秸秆.txt"
    assert uploaded.exists()
    assert httpx.delete(f"{url}/v1/documents/襄汾秸秆.txt", timeout=60).json() == {"deleted": "襄汾秸秆.txt"}
    assert not uploaded.exists()  # the upload goes with its document
    after = httpx.post(f"{url}/v1/ask", json={"question": "襄汾县秸秆综合利用率是多少？"}, timeout=60).json()
    assert not after["answered"] and "93.5%" not in after["answer"]
    status = httpx.get(f"{url}/v1/status", timeout=30).json()
    assert status["documents"] == 2 and status["backend"] == "extractive"


def test_the_openapi_page_renders_offline_in_a_browser(api, browser):
    url, _ = api
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    assert {"/v1/ask", "/v1/chat/completions", "/v1/models", "/v1/ingest", "/healthz"} <= set(spec["paths"])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        failed = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(f"{url}/docs")
        page.get_by_text("/v1/chat/completions", exact=True).first.wait_for(timeout=60_000)
        _shot(page, "api-docs")
        assert not failed, f"the docs page could not load: {failed}"
    finally:
        context.close()


def test_a_token_guards_the_api_but_not_the_health_check(tmp_path):
    with served_seeds(tmp_path, env={"ASSISTANT_API_TOKENS": "team-token-1,team-token-2"}, secret="team-token") as (url, _):
        assert httpx.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
        refused = httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=30)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = httpx.get(f"{url}/v1/status", headers={"Authorization": "Bearer guess"}, timeout=30)
        assert wrong.status_code == 401 and "令牌" in wrong.json()["error"]["message"]
        from openai import AuthenticationError

        with pytest.raises(AuthenticationError):
            _openai(url, "guess").models.list()
        reply = _chat(url, "team-token-2")
        assert reply.choices[0].message.content.startswith("394.179万元")


def test_an_llm_answer_through_the_api_is_checked_before_any_of_it_is_sent(tmp_path):
    def wrong_figure(payload):
        return f"沁水县2024年处罚金额共计999万元[{passage_number(payload, '394.179万元')}]。"

    def right(payload):
        return f"沁水县2024年处罚金额共计394.179万元[{passage_number(payload, '394.179万元')}]。"

    with FakeOpenAI(script=[{"content": wrong_figure}, {"content": right}]) as llm, served_seeds(
            tmp_path, env={"ASSISTANT_LLM_BASE_URL": llm.base_url, "ASSISTANT_LLM_API_KEY": "sk-api"}, secret="sk-api",
    ) as (url, _):
        text = "".join(c.choices[0].delta.content or "" for c in _chat(url, stream=True) if c.choices)
        answer_line = text.splitlines()[0]
        assert answer_line == "394.179万元 [1]" and "999万元" not in answer_line  # the extractive fallback
        assert "不在引用段落中" in text  # and the reader is told why
        reply = _chat(url)
        assert reply.choices[0].message.content.startswith("沁水县2024年处罚金额共计394.179万元[1]")


def test_fifty_questions_during_an_ingestion_all_answer_and_never_see_half_a_document(tmp_path):
    with served_seeds(tmp_path) as (url, _):
        with httpx.Client(timeout=120) as http:
            gold = [g for g in load_gold() if g.get("answerable", True)][:25]
            before = {g["question"]: http.post(f"{url}/v1/ask", json={"question": g["question"]}).json()["answer"]
                      for g in gold}
            corpus = tmp_path / "news.jsonl"
            shutil.copyfile(SAMPLE_CORPUS, corpus)
            result: dict = {}

            def ingest():
                with httpx.Client(timeout=600) as c:
                    result["response"] = c.post(f"{url}/v1/ingest", files=[("files", (corpus.name, corpus.read_bytes()))])

            writer = threading.Thread(target=ingest)
            writer.start()
            seen: dict[str, int] = {}

            def watch():
                while writer.is_alive():
                    for d in http.get(f"{url}/v1/documents").json()["documents"]:
                        seen.setdefault(d["doc_id"], d["chunks"])

            watcher = threading.Thread(target=watch)
            watcher.start()

            def ask(question: str) -> tuple[str, httpx.Response]:
                with httpx.Client(timeout=120) as c:
                    return question, c.post(f"{url}/v1/ask", json={"question": question})

            questions = [g["question"] for g in gold] * 2
            with ThreadPoolExecutor(max_workers=50) as pool:
                replies = list(pool.map(ask, questions))
            during = writer.is_alive()
            writer.join()
            watcher.join()
            assert result["response"].status_code == 200, result["response"].text
            assert during, "the ingestion ended before the questions did: the test proved nothing"
            after = {q: http.post(f"{url}/v1/ask", json={"question": q}).json()["answer"] for q in before}
            final = {d["doc_id"]: d["chunks"] for d in http.get(f"{url}/v1/documents").json()["documents"]}
    assert [r.status_code for _, r in replies] == [200] * len(questions)
    wrong = [(q, r.json()["answer"]) for q, r in replies if r.json()["answer"] not in (before[q], after[q])]
    assert not wrong, f"answers that were neither the one before nor the one after the ingestion: {wrong}"
    partial = {d: n for d, n in seen.items() if final.get(d) != n}
    assert not partial, f"documents seen with fewer passages than they have: {partial}"
    assert len(final) > 400


def test_beyond_loopback_the_api_refuses_every_request_until_tokens_are_set():
    import asyncio

    from starlette.requests import Request

    from assistant.app.http_api import ApiError, TokenGuard

    def request(header: str | None) -> Request:
        headers = [(b"authorization", header.encode())] if header else []
        return Request({"type": "http", "method": "GET", "path": "/v1/status", "headers": headers})

    def run(guard: TokenGuard, header: str | None):
        # Its own thread and loop: Playwright's sync API may keep a loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, guard(request(header))).result()

    with pytest.raises(ApiError) as refused:
        run(TokenGuard([], required=True), "Bearer anything")
    assert refused.value.status == 401 and "ASSISTANT_API_TOKENS" in refused.value.message
    assert run(TokenGuard([], required=False), None) is None  # loopback, no tokens: open
    assert run(TokenGuard(["t0k3n"], required=True), "Bearer t0k3n") is None


def test_chat_text_is_plain_for_clients_that_render_markdown(tmp_path):
    """A reply carrying HTML or a script link (a document can ask a model for anything) reaches an OpenAI client as
    plain text: the markup escaped, the link reduced to its words."""
    def marked_up(payload):
        n = passage_number(payload, "394.179万元")
        return f"处罚金额共计394.179万元[{n}]。<img src=x onerror=alert(1)> [详情](javascript:alert(document.cookie))"

    with FakeOpenAI(script=[{"content": marked_up}]) as llm, served_seeds(
            tmp_path, env={"ASSISTANT_LLM_BASE_URL": llm.base_url, "ASSISTANT_LLM_API_KEY": "sk-api"}, secret="sk-api",
    ) as (url, _):
        text = _chat(url).choices[0].message.content
    assert "394.179万元" in text and "<img" not in text and "javascript:" not in text.lower()
    assert "&lt;img" in text and "详情" in text
