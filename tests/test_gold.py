"""End to end on the seeds with the team's hand-checked gold questions (evals/seeds_gold.jsonl).

Every item must keep the invariants (a figure only from a cited passage, a decline cites nothing unless it names
the other year the articles have or quotes its evidence); the single-fact kinds must each be answered correctly, or
declined with the sentence that holds the answer quoted and cited: never answered wrong. Declines, multi-part questions, comparisons and
follow-ups are held by the aggregate floors in evals/floors.json (tests/test_eval.py).
"""

import re

import pytest

from assistant.text.chars import strip_spaces

from .conftest import load_gold

GOLD = load_gold()
SINGLE_FACT = {"figure", "name", "date", "entity"}


def test_gold_set_is_big_enough_and_mixes_kinds():
    kinds = {g["type"] for g in GOLD}
    assert len(GOLD) >= 30
    assert {"figure", "name", "date", "decline"} <= kinds
    assert sum(not g.get("answerable", True) for g in GOLD) >= 5


@pytest.mark.parametrize("item", GOLD, ids=[g["id"] for g in GOLD])
def test_gold_question(seeds_assistant, item):
    answer = seeds_assistant.ask(item["question"], history=item.get("history", []))
    if not answer.answered and answer.answer.startswith("未找到确切答案"):
        # A decline with the evidence: the sentence most likely to hold the answer, quoted from the one passage cited.
        quote = answer.answer.partition("「")[2].rpartition("」")[0]
        assert quote and len(answer.citations) == 1
        assert strip_spaces(quote) in strip_spaces(answer.citations[0].text), "the quoted sentence is in the cited passage"
    elif not answer.answered:
        assert answer.answer.startswith("资料中未提及")
        # A decline cites nothing, unless it says which other year the articles do have ("资料只有2024年的数据：…"):
        # then that figure and its year are in the passage it cites.
        other = answer.answer.partition("资料只有")[2]
        cited = "".join(strip_spaces(c.title + c.subtitle + c.text) for c in answer.citations)
        assert bool(other) == bool(answer.citations)
        for number in re.findall(r"\d+(?:\.\d+)?", strip_spaces(other)):
            assert number in cited, "never a figure that is not in a cited passage"
    else:
        cited = "".join(strip_spaces(c.title + c.subtitle + c.text) for c in answer.citations)
        for number in re.findall(r"\d+(?:\.\d+)?", strip_spaces(answer.answer)):
            assert number in cited, "never a figure that is not in a cited passage"
    if item.get("type") not in SINGLE_FACT:
        return
    if not answer.answered:
        # A single fact is answered right, or declined with the sentence that holds it quoted and cited: never wrong.
        assert answer.answer.startswith("未找到确切答案"), answer.answer
        quote = strip_spaces(answer.answer.partition("「")[2].rpartition("」")[0])
        assert any(strip_spaces(a) in quote for a in item["answers"]), f"{quote!r} does not hold {item['answers']!r}"
        return
    got = strip_spaces(answer.answer)
    check = all if item.get("require_all") else any
    assert check(strip_spaces(a) in got for a in item["answers"]), f"{got!r} vs {item['answers']!r}"
    cited = "".join(strip_spaces(c.title + c.subtitle + c.text) for c in answer.citations)
    # Never a figure that is not in a cited passage.
    for number in re.findall(r"\d+(?:\.\d+)?", got):
        assert number in cited
    assert got.replace("、", "") in cited.replace("、", "") or all(n in cited for n in got.split("、"))
    if item.get("evidence"):
        assert strip_spaces(item["evidence"]) in cited, "the cited passage should prove the answer"
    if item.get("doc_id"):
        assert answer.citations[0].doc_id == item["doc_id"]
