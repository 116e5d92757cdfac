"""End to end on the seeds with the team's hand-checked gold questions (evals/seeds_gold.jsonl)."""

import re

import pytest

from assistant.zh import strip_spaces

from .conftest import load_gold

GOLD = load_gold()


def test_gold_set_is_big_enough_and_mixes_kinds():
    kinds = {g["type"] for g in GOLD}
    assert len(GOLD) >= 30
    assert {"figure", "name", "date", "decline"} <= kinds
    assert sum(not g.get("answerable", True) for g in GOLD) >= 5


@pytest.mark.parametrize("item", GOLD, ids=[g["id"] for g in GOLD])
def test_gold_question(seeds_assistant, item):
    answer = seeds_assistant.ask(item["question"])
    if not item.get("answerable", True):
        assert not answer.answered, f"should decline, said {answer.answer!r}"
        assert answer.answer.startswith("资料中未提及")
        assert answer.citations == []
        return
    assert answer.answered, answer.answer
    got = strip_spaces(answer.answer)
    check = all if item.get("require_all") else any
    assert check(strip_spaces(a) in got for a in item["answers"]), f"{got!r} vs {item['answers']!r}"
    cited = "".join(strip_spaces(c.title + c.text) for c in answer.citations)
    # Never a figure that is not in a cited passage.
    for number in re.findall(r"\d+(?:\.\d+)?", got):
        assert number in cited
    assert got.replace("、", "") in cited.replace("、", "") or all(n in cited for n in got.split("、"))
    if item.get("evidence"):
        assert strip_spaces(item["evidence"]) in cited, "the cited passage should prove the answer"
    if item.get("doc_id"):
        assert answer.citations[0].doc_id == item["doc_id"]
