"""Archives in traditional script: indexed, searched and answered as well as simplified ones, quoted as written."""

import pytest
from opencc import OpenCC

from assistant import Assistant
from assistant.ingest.normalize import BYLINE, normalize_blocks
from assistant.text.names import byline_names

from .conftest import PAGE_000


@pytest.fixture(scope="module")
def traditional(tmp_path_factory):
    """The 000 page converted to traditional characters the way a Hong Kong or Taiwan paper would print it."""
    root = tmp_path_factory.mktemp("traditional")
    page = root / "000_traditional.txt"
    page.write_text(OpenCC("s2t").convert(PAGE_000.read_text(encoding="utf-8")), encoding="utf-8")
    a = Assistant(index_dir=root / "idx")
    a.ingest(page)
    return a


@pytest.mark.parametrize("question", ["沁水县2024年处罚金额多少？", "沁水縣2024年處罰金額多少？"])
def test_a_question_in_either_script_is_answered_in_the_documents_script(traditional, question):
    answer = traditional.ask(question)
    assert answer.answered and answer.answer == "394.179萬元"
    assert "處罰金額共計394.179萬元" in answer.evidence
    assert "處罰金額共計394.179萬元" in answer.citations[0].text  # the passage as written, not folded


def test_follow_ups_and_facts_work_on_a_traditional_archive(traditional):
    first = "沁水县2024年处罚金额多少？"
    follow = traditional.ask("立案查处了多少件？", history=[first])
    assert follow.answer == "24件"
    facts = traditional.facts(subject="沁水", metric="处罚金额")
    assert [(f.subject, f.year, f.display()) for f in facts] == [("沁水县", 2024, "394.179万元")]
    assert facts[0].span == "處罰金額共計394.179萬元"  # the table quotes the article as written


def test_traditional_bylines_and_leads_are_recognised():
    blocks = normalize_blocks("越是艱難越向前\n科學導報記者 來虹\n科學導報訊 4月30日，運城市生態環境局召開了揚塵治理專題會。")
    byline = next(b for b in blocks if b.kind == BYLINE)
    assert byline_names(byline.text) == ["來虹"]
    assert any(b.lead for b in blocks)
