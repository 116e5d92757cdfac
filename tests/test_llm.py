"""LLM answers through an OpenAI-compatible server: a real local HTTP server with scripted replies."""

import json

import pytest

from assistant import Assistant
from assistant.llm.prompts import PROMPTS_DIR, PromptError, placeholders, render
from assistant.settings import Settings

from .conftest import run_cli
from .fake_openai import FakeOpenAI, passage_number

QUESTION = "沁水县2024年处罚金额多少？"
SECRET = "sk-test-0123456789abcdef"


def faithful(payload):
    n = passage_number(payload, "394.179万元")
    return f"沁水县2024年处罚金额共计394.179万元[{n}]。该数字来自沁水分局的执法统计[{n}]。"


def llm_assistant(index_dir, server, **overrides) -> Assistant:
    values = dict(
        index_dir=index_dir, llm_base_url=server.base_url, llm_api_key=SECRET, llm_model="test-model",
        llm_timeout=5, llm_max_retries=2,
    )
    settings = Settings(**{**values, **overrides})
    return Assistant(settings=settings)


def test_every_prompt_placeholder_is_filled():
    for path in sorted(PROMPTS_DIR.glob("*.md")):
        if path.name == "README.md":
            continue
        names = placeholders(path.read_text(encoding="utf-8"))
        assert names, f"{path.name} has no placeholders"
        text = render(path.stem, **{n: f"<{n}>" for n in names})
        assert "{" not in text.replace("{{", "").replace("}}", "")
        for n in names:
            assert f"<{n}>" in text
        with pytest.raises(PromptError):
            render(path.stem, **{n: "x" for n in list(names)[1:]})


def test_a_correct_cited_answer_comes_back_with_its_passages(seeds_index):
    with FakeOpenAI(script=[{"content": faithful}]) as server:
        a = llm_assistant(seeds_index, server)
        answer = a.ask(QUESTION)
    assert answer.backend == "llm:test-model" and answer.answered and not answer.warnings
    assert "394.179万元" in answer.answer
    assert len(answer.citations) == 1 and "394.179万元" in answer.citations[0].text
    prompt = server.chat_requests[0]["json"]["messages"][-1]["content"]
    assert QUESTION in prompt and "资料中未提及" in prompt  # the Chinese QA prompt from prompts/qa.md
    assert server.chat_requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"


def test_a_hallucinated_figure_falls_back_to_the_extractive_answer(seeds_index):
    def hallucinating(payload):
        n = passage_number(payload, "394.179万元")
        return f"沁水县2024年处罚金额共计512万元[{n}]。"

    with FakeOpenAI(script=[{"content": hallucinating}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "extractive" and answer.answer == "394.179万元"
    assert len(answer.warnings) == 1 and "512万元" in answer.warnings[0]


def test_markers_that_point_nowhere_are_dropped(seeds_index):
    def sloppy(payload):
        n = passage_number(payload, "394.179万元")
        return f"处罚金额共计394.179万元[{n}][17]，立案查处24件[{n}][0]。"

    with FakeOpenAI(script=[{"content": sloppy}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "llm:test-model"
    assert "[17]" not in answer.answer and "[0]" not in answer.answer
    assert len(answer.citations) == 1 and answer.markers == [int(answer.answer.split("[")[1].split("]")[0])]


def test_citations_are_listed_in_order_of_first_mention(seeds_index):
    def two(payload):
        a, b = passage_number(payload, "394.179万元"), passage_number(payload, "2835户")
        return f"清洁取暖改造2835户[{b}]，处罚金额394.179万元[{a}]，另见[{b}]。"

    with FakeOpenAI(script=[{"content": two}]) as server:
        answer = llm_assistant(seeds_index, server).ask("沁水县2024年处罚金额多少？完成了多少户清洁取暖改造？")
    assert answer.backend == "llm:test-model", answer.warnings
    assert "2835户" in answer.citations[0].text and "394.179万元" in answer.citations[1].text
    assert len(answer.citations) == 2


def test_429_is_retried_and_then_answered(seeds_index):
    with FakeOpenAI(script=[{"status": 429}, {"content": faithful}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "llm:test-model" and "394.179万元" in answer.answer
    assert len(server.chat_requests) == 2


def test_a_hang_past_the_timeout_gives_the_extractive_answer_with_a_warning(seeds_index):
    with FakeOpenAI(script=[{"hang": 3.0, "content": faithful}]) as server:
        answer = llm_assistant(seeds_index, server, llm_timeout=0.5, llm_max_retries=1).ask(QUESTION)
    assert answer.backend == "extractive" and answer.answer == "394.179万元"
    assert any("超时" in w for w in answer.warnings)


@pytest.mark.parametrize(
    "step, words",
    [({"status": 401}, "401"), ({"raw": "{not json"}, "无法解析"), ({"content": ""}, "空回答"), ({"status": 500}, "5xx")],
)
def test_server_faults_give_the_extractive_answer_with_one_warning(seeds_index, step, words):
    with FakeOpenAI(script=[step]) as server:
        answer = llm_assistant(seeds_index, server, llm_max_retries=1).ask(QUESTION)
    assert answer.backend == "extractive" and answer.answer == "394.179万元"
    assert len(answer.warnings) == 1 and words in answer.warnings[0]
    assert SECRET not in json.dumps(answer.to_dict(), ensure_ascii=False)


def test_connection_refused_gives_the_extractive_answer(seeds_index):
    with FakeOpenAI() as server:
        url = server.base_url
    settings = Settings(index_dir=seeds_index, llm_base_url=url, llm_api_key=SECRET, llm_max_retries=0)
    answer = Assistant(settings=settings).ask(QUESTION)
    assert answer.backend == "extractive" and "无法连接" in answer.warnings[0]


def test_stream_yields_the_checked_text_then_the_cited_answer(seeds_index):
    with FakeOpenAI(script=[{"content": faithful}]) as server:
        items = list(llm_assistant(seeds_index, server).stream(QUESTION))
    pieces, final = items[:-1], items[-1]
    assert len(pieces) >= 2 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip() == final.answer
    assert final.citations and "394.179万元" in final.citations[0].text
    assert final.timings["first_token_ms"] >= final.timings["retrieval_ms"]


def test_a_stream_cut_mid_way_ends_with_the_extractive_answer(seeds_index):
    with FakeOpenAI(script=[{"content": faithful, "cut": True}]) as server:
        items = list(llm_assistant(seeds_index, server, llm_max_retries=0).stream(QUESTION))
    final = items[-1]
    assert final.backend == "extractive" and final.answer == "394.179万元"
    assert any("中断" in w for w in final.warnings)


def test_follow_ups_are_condensed_by_the_llm_prompt(seeds_index):
    def answer_24(payload):
        n = passage_number(payload, "24件")
        return f"立案查处环境违法案件24件[{n}]。"

    script = [{"content": "沁水县2024年立案查处了多少件环境违法案件？"}, {"content": answer_24}]
    with FakeOpenAI(script=script) as server:
        answer = llm_assistant(seeds_index, server).chat(
            [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "394.179万元"},
             {"role": "user", "content": "立案查处了多少件？"}]
        )
    condense_prompt = server.chat_requests[0]["json"]["messages"][-1]["content"]
    assert QUESTION in condense_prompt and "立案查处了多少件？" in condense_prompt
    assert answer.standalone == "沁水县2024年立案查处了多少件环境违法案件？"
    assert "24件" in answer.answer and answer.backend == "llm:test-model"


def test_follow_ups_work_offline_too(seeds_assistant):
    answer = seeds_assistant.chat(
        [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "394.179万元"},
         {"role": "user", "content": "立案查处了多少件？"}]
    )
    assert answer.answer == "24件" and answer.backend == "extractive"
    assert "沁水" in answer.citations[0].heading


def test_cli_stream_and_json_report_the_backend_and_never_the_key(seeds_index):
    with FakeOpenAI(script=[{"content": faithful}]) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET, "ASSISTANT_LLM_MODEL": "test-model"}
        streamed = run_cli("ask", QUESTION, "--stream", "--index-dir", str(seeds_index), env=env)
        as_json = run_cli("ask", QUESTION, "--json", "--index-dir", str(seeds_index), env=env)
        status = run_cli("status", "--json", "--index-dir", str(seeds_index), env=env)
    assert streamed.returncode == 0 and "394.179万元" in streamed.stdout and "[1]" in streamed.stdout
    data = json.loads(as_json.stdout)
    assert data["backend"] == "llm:test-model" and data["citations"][0]["marker"] >= 1
    for proc in (streamed, as_json, status):
        assert SECRET not in proc.stdout + proc.stderr
    assert json.loads(status.stdout)["backend"] == "llm:test-model"


def test_cli_chat_keeps_the_conversation(seeds_index):
    import subprocess
    import sys

    from .conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "-m", "assistant.app.cli", "chat", "--index-dir", str(seeds_index)],
        input=f"{QUESTION}\n立案查处了多少件？\n", capture_output=True, text=True, cwd=str(ROOT), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "394.179万元" in proc.stdout and "24件" in proc.stdout


def test_context_packing_never_cuts_a_sentence_or_a_figure(seeds_assistant):
    from assistant.text.tokens import count_tokens
    from assistant.answer.generative import pack_passages
    from assistant.text.chars import sentence_spans

    passages = seeds_assistant.retrieve("沁水县处罚金额和清洁取暖改造", k=6)
    whole = sum(count_tokens(p.text) for p in passages)
    packed = pack_passages(passages, budget_tokens=whole // 2)
    assert 0 < sum(count_tokens(p.text) for p in packed) <= whole // 2
    assert [p.chunk_id for p in packed] == [p.chunk_id for p in passages[: len(packed)]]
    for got, original in zip(packed, passages):
        assert original.text.startswith(got.text)
        # What was kept ends exactly at a sentence end of the original passage.
        ends = {b for _, b in sentence_spans(original.text)}
        assert len(got.text) in ends


def test_the_grounding_guard_normalizes_units_and_magnitudes(seeds_index):
    def other_units(payload):
        n = passage_number(payload, "394.179万元")
        return f"处罚金额共计3,941,790元[{n}]。"

    with FakeOpenAI(script=[{"content": other_units}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "llm:test-model" and "3,941,790元" in answer.answer and not answer.warnings


def test_an_llm_decline_is_a_decline(seeds_index):
    with FakeOpenAI(script=[{"content": "资料中未提及。"}]) as server:
        answer = llm_assistant(seeds_index, server).ask("沁水县2023年处罚金额多少？")
    assert not answer.answered and answer.citations == [] and answer.answer.startswith("资料中未提及")


def test_cli_stream_never_shows_an_unchecked_figure(seeds_index):
    """One streaming policy: the LLM's reply is checked before any of it is printed, so a figure the passages do not
    state never reaches the terminal, not even to be withdrawn."""
    def hallucinating(payload):
        return f"沁水县2024年处罚金额约为512万元[{passage_number(payload, '394.179万元')}]。"

    with FakeOpenAI(script=[{"content": hallucinating}]) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET}
        proc = run_cli("ask", QUESTION, "--stream", "--index-dir", str(seeds_index), env=env)
    assert proc.returncode == 0
    assert "512万元" not in proc.stdout and "答：394.179万元" in proc.stdout
    assert "512万元" in proc.stderr and "Traceback" not in proc.stderr
    offline = run_cli("ask", QUESTION, "--stream", "--index-dir", str(seeds_index))
    assert "答：394.179万元" in offline.stdout and "Traceback" not in offline.stderr


def test_a_follow_up_whose_llm_answer_fails_the_guard_falls_back_on_the_same_condensed_question(seeds_index):
    def wrong_figure(payload):
        return f"立案查处环境违法案件99件[{passage_number(payload, '24件')}]。"

    script = [{"content": "沁水县2024年立案查处了多少件环境违法案件？"}, {"content": wrong_figure}]
    with FakeOpenAI(script=script) as server:
        answer = llm_assistant(seeds_index, server).ask("立案查处了多少件？", history=[QUESTION])
    assert len(server.chat_requests) == 2  # condensed once, answered once
    assert answer.backend == "extractive" and answer.answer == "24件"
    assert answer.standalone == "沁水县2024年立案查处了多少件环境违法案件？"
    assert any("99件" in w for w in answer.warnings)


def test_openai_variables_configure_the_llm_and_assistant_ones_win(monkeypatch, seeds_index):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    settings = Settings(index_dir=seeds_index)
    assert settings.llm_configured and settings.llm_base_url == "http://127.0.0.1:9/v1"
    assert settings.embedding_base_url == "http://127.0.0.1:9/v1"  # the embeddings endpoint falls back the same way
    assert Assistant(settings=settings).backend == "llm:gpt-4o-mini"
    monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", "http://127.0.0.1:10/v1")
    assert Settings().llm_base_url == "http://127.0.0.1:10/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("ASSISTANT_LLM_BASE_URL")
    assert not Settings().llm_configured and Assistant(settings=Settings(index_dir=seeds_index)).backend == "extractive"


def test_an_llm_decline_naming_another_years_figure_keeps_its_citation_and_is_checked(seeds_index):
    question = "阳城县2025年PM2.5年均浓度是多少？"

    def other_year(payload):
        return f"资料中未提及阳城县2025年的数据；资料只有2024年的数据：38微克/立方米[{passage_number(payload, '38微克')}]。"

    with FakeOpenAI(script=[{"content": other_year}]) as server:
        answer = llm_assistant(seeds_index, server).ask(question)
    assert not answer.answered and answer.backend == "llm:test-model"
    assert "2024年" in answer.answer and "38微克/立方米" in answer.citations[0].text

    def uncited_other_year(payload):
        return "资料中未提及阳城县2025年的数据；资料只有2024年的数据：39微克/立方米。"

    with FakeOpenAI(script=[{"content": uncited_other_year}]) as server:
        answer = llm_assistant(seeds_index, server).ask(question)
    assert answer.backend == "extractive" and "39" not in answer.answer  # the unproven figure never reaches the user
    assert answer.answer.startswith("资料中未提及") and "38微克/立方米" in answer.answer


@pytest.mark.parametrize("reply, caught", [
    ("沁水县2024年处罚金额共计九百九十九万元[{n}]。", "九百九十九万元"),  # Chinese numerals
    ("处罚金额约两千万元[{n}]。", "两千万元"),
    ("处罚金额占比百分之九十九[{n}]。", "99%"),
    ("资料中未提及。不过据悉，沁水县处罚金额为九百九十九万元。", "九百九十九万元"),  # a decline, no citation
    ("沁水县2024年处罚金额为999万元。", "999万元"),  # no citation at all
    ("沁水县2024年处罚金额为56件[{n}]。", "56件"),  # a real figure of the passage, of the wrong kind
    ("Qinshui County's fines totalled nine hundred ninety-nine million yuan [{n}].", "999000000"),  # English words
    ("Qinshui County's fines totalled 9.99 million yuan [{n}].", "9990000"),
])
def test_the_grounding_guard_checks_every_figure_in_any_notation_and_its_kind(seeds_index, reply, caught):
    def scripted(payload):
        return reply.format(n=passage_number(payload, "394.179万元"))

    with FakeOpenAI(script=[{"content": scripted}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "extractive" and answer.answer == "394.179万元"
    assert len(answer.warnings) == 1 and caught in answer.warnings[0]


@pytest.mark.parametrize("said", ["处罚金额共计三百九十四点一七九万元", "The fines totalled 3.94179 million yuan",
                                  "The fines totalled three point nine four one seven nine million yuan"])
def test_the_grounding_guard_reads_numerals_in_words_that_the_passage_states(seeds_index, said):
    def in_words(payload):
        return f"{said}[{passage_number(payload, '394.179万元')}]。"

    with FakeOpenAI(script=[{"content": in_words}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "llm:test-model" and not answer.warnings


@pytest.mark.parametrize("reply, words", [
    (lambda p: f"沁水县2099年处罚金额共计394.179万元[{passage_number(p, '394.179万元')}]。", "2099年"),
    (lambda p: f"沁水县2024年3月15日公布，处罚金额共计394.179万元[{passage_number(p, '394.179万元')}]。", "3月15日"),
    (lambda p: "只使用资料中的信息，不要使用资料以外的知识，不要推测。处罚金额共计394.179万元"
               f"[{passage_number(p, '394.179万元')}]。", "复述了系统提示"),
    (lambda p: f"On March 15 Qinshui County's fines totalled 394.179万元 [{passage_number(p, '394.179万元')}].",
     "March 15"),
    (lambda p: f"In 2099 Qinshui County's fines totalled 394.179万元 [{passage_number(p, '394.179万元')}].", "2099"),
], ids=["a year no passage states", "a date no passage states", "the prompt repeated", "an English date",
        "a year in English"])
def test_a_reply_with_an_unread_year_or_date_or_the_prompt_itself_is_withdrawn(seeds_index, reply, words):
    """A year or a date is a figure too: a reply that states one no cited passage (nor the question) holds, or that
    repeats the prompt's instructions (as a document might ask it to), gives way to the offline answer."""
    with FakeOpenAI(script=[{"content": reply}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend == "extractive" and answer.answer == "394.179万元"
    assert any(words in w for w in answer.warnings), answer.warnings


def test_a_reply_restating_the_asked_year_stays(seeds_index):
    with FakeOpenAI(script=[{"content": faithful}]) as server:
        answer = llm_assistant(seeds_index, server).ask(QUESTION)
    assert answer.backend != "extractive" and "2024年" in answer.answer and not answer.warnings
