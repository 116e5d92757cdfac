"""The `assistant` command as a user types it: JSON shapes, exit codes, one-line errors."""

import json
import re

import pytest

from .conftest import SEEDS, run_cli


def _no_traceback(proc):
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_ask_json_has_the_documented_fields(seeds_index):
    proc = run_cli("ask", "沁水县2024年处罚金额多少？", "--json", "--index-dir", str(seeds_index))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"question", "answer", "answered", "citations", "backend", "latency_ms"}
    assert data["answer"] == "394.179万元" and data["answered"] is True and data["backend"] == "extractive"
    cite = data["citations"][0]
    assert set(cite) == {"source", "title", "subtitle", "text", "doc_id", "chunk_id", "score"}
    assert "394.179万元" in cite["text"] and cite["doc_id"] == "000_b6794b346518e693.txt"
    # The page printed only this story's "——" line: that line is its headline, so a client reading `title` finds it.
    assert cite["title"] == "小记如画沁水的“生态守护神”" and cite["subtitle"] == ""


def test_index_dir_also_comes_from_the_environment(seeds_index):
    proc = run_cli("status", "--json", env={"ASSISTANT_INDEX_DIR": str(seeds_index)})
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["documents"] == 2 and data["articles"] == 9 and data["chunks"] > 20


def test_plain_ask_prints_answer_evidence_and_citation(seeds_index):
    proc = run_cli("ask", "沁水县2024年立案查处了多少件环境违法案件？", "--index-dir", str(seeds_index))
    assert proc.returncode == 0
    assert proc.stdout.startswith("答：24件")
    assert "依据：" in proc.stdout and "[1]" in proc.stdout


def test_empty_question_is_one_line_and_exit_2(seeds_index):
    proc = run_cli("ask", "   ", "--index-dir", str(seeds_index))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "错误：问题不能为空。"
    _no_traceback(proc)


def test_over_long_question_is_refused(seeds_index):
    proc = run_cli("ask", "沁水" * 400, "--index-dir", str(seeds_index))
    assert proc.returncode == 2
    assert "问题过长" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    _no_traceback(proc)


def test_asking_before_any_ingest_says_which_command_to_run(tmp_path):
    proc = run_cli("ask", "沁水县2024年处罚金额多少？", "--index-dir", str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "assistant ingest" in proc.stderr
    _no_traceback(proc)


def test_missing_path_is_named(tmp_path):
    proc = run_cli("ingest", str(tmp_path / "nope.txt"), "--index-dir", str(tmp_path / "idx"))
    assert proc.returncode == 2
    assert "nope.txt" in proc.stderr
    _no_traceback(proc)


def test_bad_files_are_skipped_by_name_and_line_and_the_rest_is_ingested(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("2025年，芮城县优良天数达到312天。", encoding="utf-8")
    (src / "gbk.txt").write_bytes("2025年，永济市优良天数达到298天。".encode("gbk"))
    (src / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (src / "lines.jsonl").write_text('{"id": "ok", "text": "正文。"}\n{broken\n', encoding="utf-8")
    idx = tmp_path / "idx"
    proc = run_cli("ingest", str(src), "--index-dir", str(idx))
    assert proc.returncode == 1
    assert "binary.txt" in proc.stderr and "lines.jsonl:2" in proc.stderr
    assert "二进制" in proc.stderr and "不是有效的 JSON" in proc.stderr  # the reasons are Chinese too
    assert not re.search(r"binary file|not valid|NUL bytes", proc.stderr)
    _no_traceback(proc)
    status = json.loads(run_cli("status", "--json", "--index-dir", str(idx)).stdout)
    assert status["documents"] == 3  # good.txt, gbk.txt, and line 1 of lines.jsonl
    answer = json.loads(run_cli("ask", "永济市2025年优良天数多少天？", "--json", "--index-dir", str(idx)).stdout)
    assert answer["answer"] == "298天"


def test_a_failed_ingest_loses_nothing_already_ingested(seeds_copy, tmp_path):
    idx = tmp_path / "idx"
    assert run_cli("ingest", str(seeds_copy), "--index-dir", str(idx)).returncode == 0
    (seeds_copy / "bad.txt").write_bytes(b"\x00binary")
    proc = run_cli("ingest", str(seeds_copy), "--index-dir", str(idx))
    assert proc.returncode == 1 and "bad.txt" in proc.stderr
    answer = json.loads(run_cli("ask", "沁水县2024年处罚金额多少？", "--json", "--index-dir", str(idx)).stdout)
    assert answer["answer"] == "394.179万元"


def test_an_index_emptied_by_deletion_still_says_which_command_to_run(tmp_path):
    from assistant import Assistant

    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(SEEDS)
    for doc in a.documents():
        a.delete(doc.doc_id)
    a.close()
    proc = run_cli("ask", "沁水县2024年处罚金额多少？", "--index-dir", str(tmp_path / "idx"))
    assert proc.returncode == 1 and "assistant ingest" in proc.stderr


ENGLISH_FRAMEWORK_WORDS = re.compile(r"Usage|Options|Arguments|Commands|Show this message|\[required\]|Missing|Error|Try "
                                    r"|<(?:bool|path|str|text|int|float|list)")  # typer's value types ("--help <bool>")


def test_help_is_chinese_throughout():
    for args in ([], ["--help"], ["ask", "--help"], ["ingest", "--help"], ["eval", "--help"], ["facts", "--help"],
                 ["serve", "--help"]):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert "用法：" in proc.stdout and "选项" in proc.stdout
        assert not ENGLISH_FRAMEWORK_WORDS.search(proc.stdout), proc.stdout


def test_usage_mistakes_get_one_chinese_sentence_and_exit_2(tmp_path):
    for args, words in ((["ask"], "缺少参数 问题"), (["ask", "--bogus", "q"], "没有选项 --bogus"),
                        (["facts", "--year", "abc"], "--year 的值无效"), (["nosuch"], "没有这个命令")):
        proc = run_cli(*args, "--index-dir", str(tmp_path / "idx")) if args[0] != "nosuch" else run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "assistant --help" in proc.stderr
        assert not ENGLISH_FRAMEWORK_WORDS.search(proc.stderr), proc.stderr
        _no_traceback(proc)


def test_a_page_run_together_into_one_long_line_still_ingests(tmp_path):
    """Fact extraction reads each figure's sentence, not everything before it: a 200 KB line stays linear."""
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))).replace("\n", "")
    path = tmp_path / "one-line.txt"
    path.write_text((text * (200_000 // len(text) + 1))[:200_000], encoding="utf-8")
    done = run_cli("ingest", str(path), "--index-dir", str(tmp_path / "idx"), timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(run_cli("ask", "阳城县2024年PM2.5浓度均值是多少？", "--json", "--index-dir", str(tmp_path / "idx")).stdout)
    assert answer["answer"] == "38微克/立方米"


@pytest.mark.parametrize("question", ["？？？", "🙂🙂", "%", "x"])
def test_a_question_without_words_is_refused_in_one_sentence(seeds_index, question):
    proc = run_cli("ask", question, "--index-dir", str(seeds_index))
    assert proc.returncode == 2 and "问题里没有可以检索的词" in proc.stderr
    _no_traceback(proc)


@pytest.mark.parametrize("question", ['沁水" OR 1=1 --', "沁水县", "PM2.5"])
def test_a_question_naming_one_thing_gets_a_request_instead_of_a_random_sentence(seeds_index, question):
    answer = json.loads(run_cli("ask", question, "--json", "--index-dir", str(seeds_index)).stdout)
    assert not answer["answered"] and answer["answer"].startswith("请把问题写完整") and not answer["citations"]


def test_a_file_name_with_a_newline_is_listed_on_one_line(tmp_path):
    path = tmp_path / "bad\nname.txt"
    path.write_text("2025年，芮城县优良天数达到312天。", encoding="utf-8")
    assert run_cli("ingest", str(path), "--index-dir", str(tmp_path / "idx")).returncode == 0
    listed = run_cli("documents", "--index-dir", str(tmp_path / "idx")).stdout
    assert "bad\\nname.txt" in listed and "bad\nname" not in listed


def test_two_files_of_one_name_are_two_documents(tmp_path):
    for year, days in (("y2023", 290), ("y2024", 312)):
        (tmp_path / "in" / year).mkdir(parents=True)
        (tmp_path / "in" / year / "report.txt").write_text(f"{year[1:]}年，芮城县优良天数达到{days}天。", encoding="utf-8")
    idx = str(tmp_path / "idx")
    done = run_cli("ingest", str(tmp_path / "in"), "--index-dir", idx)
    assert done.returncode == 0 and "y2024/report.txt" in done.stderr and "不覆盖原文档" in done.stderr
    ids = {d["doc_id"] for d in json.loads(run_cli("documents", "--json", "--index-dir", idx).stdout)}
    assert ids == {"report.txt", "y2024/report.txt"}
    for year, days in (("2023", "290天"), ("2024", "312天")):
        answer = json.loads(run_cli("ask", f"芮城县{year}年优良天数多少天？", "--json", "--index-dir", idx).stdout)
        assert answer["answer"] == days
    again = json.loads(run_cli("ingest", str(tmp_path / "in"), "--json", "--index-dir", idx).stdout)
    assert again["unchanged"] == 2 and again["added"] == 0  # the same files again: nothing new, nothing replaced
    # An upload named like a seed page is another document, never the seed page's replacement.
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "report.txt").write_text("2025年，芮城县优良天数达到1天。", encoding="utf-8")
    assert run_cli("ingest", str(tmp_path / "up" / "report.txt"), "--index-dir", idx).returncode == 0
    answer = json.loads(run_cli("ask", "芮城县2023年优良天数多少天？", "--json", "--index-dir", idx).stdout)
    assert answer["answer"] == "290天"


def test_sources_that_disagree_on_a_figure_are_both_shown(seeds_copy, tmp_path):
    idx = str(tmp_path / "idx")
    assert run_cli("ingest", str(seeds_copy), "--index-dir", idx).returncode == 0
    notice = tmp_path / "notice.txt"
    notice.write_text("沁水县生态环境执法情况\n2024年，沁水县立案查处环境违法案件，处罚金额共计999万元。\n", encoding="utf-8")
    assert run_cli("ingest", str(notice), "--index-dir", idx).returncode == 0
    answer = json.loads(run_cli("ask", "沁水县2024年处罚金额多少？", "--json", "--index-dir", idx).stdout)
    assert answer["answer"].startswith("资料说法不一") and "394.179万元" in answer["answer"] and "999万元" in answer["answer"]
    assert {c["doc_id"] for c in answer["citations"]} == {"notice.txt", "000_b6794b346518e693.txt"}
    assert any("说法不一" in w for w in answer["warnings"])


def test_a_setting_the_assistant_refuses_is_named_in_one_chinese_line(tmp_path):
    """ASSISTANT_EMBEDDING=hashing (the embedder before e5 became the default) or a number that is not one."""
    for env, named in (({"ASSISTANT_EMBEDDING": "hashing"}, "ASSISTANT_EMBEDDING 的值 'hashing' 无效（可选 'e5'、'openai'、'none'）"),
                       ({"ASSISTANT_TOP_K": "abc"}, "ASSISTANT_TOP_K 的值 'abc' 无效（应为整数）")):
        done = run_cli("status", "--index-dir", str(tmp_path / "idx"), env=env)
        assert done.returncode == 2 and named in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "ValidationError" not in done.stderr
