"""The offline reader's answer types, its learned scorer and confidence (the default; ASSISTANT_READER=rules for the
hand-set weights), the decline that shows its evidence, and the eval's three-way judge."""

import json

import numpy as np
import pytest

from assistant.answer.extractive import (
    NOT_FOUND, _anchor_alignment, _figure_spans, _org_spans, _person_spans, _stating_clause, _term_marks, _word_after,
)
from assistant.answer.frame import RATE_UNITS, analyze
from assistant.answer.reader_model import FEATURES, MODEL_FILE, Trees, design, load_model
from assistant.eval.evaluation import GoldItem, evidence_holds, verdict
from assistant.settings import Settings
from assistant.text.chars import strip_spaces


# --- answer types ---------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["全国GDP同比增长了多少？", "今年前7个月出口额同比下降了多少", "销量环比增长多少？"])
def test_a_change_asked_without_a_unit_is_a_rate(question):
    assert analyze(question).unit_hints == RATE_UNITS


def test_a_change_asked_in_yuan_stays_money():
    assert "元" in analyze("居民人均收入增长了多少元？").unit_hints


def test_which_line_is_a_count_of_lines_not_a_date():
    frame = analyze("新开通的是地铁几号线？")
    assert frame.kind == "figure" and frame.unit_family == "号线"


@pytest.mark.parametrize("question,kind", [
    ("上海市体育局的消费券是如何发放的？", "method"), ("采取了哪些措施治理扬尘？", "method"),
    ("什么论坛可以了解到两岸如何合作？", "which"), ("为什么延期？", "reason"),
])
def test_questions_that_ask_how_are_not_factoid(question, kind):
    assert analyze(question).kind == kind


def test_figures_keep_their_qualifiers_and_units():
    sentence = "全省新增就业8万人以上，超过3亿元用于补贴，气温达到16.95摄氏度，全程近4000公里，野火已造成至少89人死亡"
    spans = [sentence[a:b] for a, b, _ in _figure_spans(sentence)]
    assert {"8万人以上", "超过3亿元", "16.95摄氏度", "近4000公里", "至少89人"} <= set(spans)


def test_organizations_are_whole_names():
    sentence = "国家统计局15日发布数据，中国移动通信集团公司随后宣布降价"
    assert {"国家统计局", "中国移动通信集团公司"} <= {sentence[a:b] for a, b, _ in _org_spans(sentence)}


def test_a_reason_is_the_clause_that_states_it_not_the_restated_question():
    frame = analyze("旧金山建筑检查部门为什么对新标志进行调查？")
    sentence = "与此同时，旧金山建筑检查部门也对该标志展开调查，称其可能违反了许可规定。"
    assert _stating_clause(sentence, frame) == "称其可能违反了许可规定"


# --- the learned reader ----------------------------------------------------------------------


def test_the_shipped_model_fits_the_features_and_was_fitted_on_the_training_sets_only():
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    model = load_model()
    assert tuple(data["features"]) == FEATURES
    # The trees split only on the scorer's inputs.
    assert 0 <= model.trees.feature.min() and model.trees.feature.max() < len(design("figure", [0.0] * len(FEATURES)))
    assert set(data["fitted_on"]) == {"cmrc_trial", "drcd_test"}
    assert 0.0 < model.threshold < 1.0
    # The threshold is the fitted point: answers stated at it were right at the target precision out of fold.
    assert data["report"]["stated_precision"] >= data["target_precision"]


def test_the_shipped_trees_are_read_as_a_sum_of_their_leaves():
    # Tree 1 splits on input 0 at 0.5, then (right) on input 1 at 2.0; tree 2 is a single leaf.
    trees = Trees([
        {"feature": [0, 1], "threshold": [0.5, 2.0], "left": [~0, ~1], "right": [1, ~2], "leaf": [1.0, 2.0, 3.0]},
        {"feature": [], "threshold": [], "left": [], "right": [], "leaf": [0.25]},
    ])
    X = np.array([[0.5, 9.0], [0.6, 2.0], [0.6, 2.1]])
    assert trees.predict(X).tolist() == [1.25, 2.25, 3.25]


@pytest.fixture(scope="module")
def learned(seeds_index):
    """Assistants over the seeds with the learned reader and the given settings."""
    from assistant import Assistant

    def make(**settings):
        return Assistant(index_dir=seeds_index, settings=Settings(**{"reader": "learned", **settings}))
    return make


def test_the_learned_reader_states_a_confident_figure_with_its_confidence(learned):
    answer = learned(reader_min_confidence=0.0).ask("沁水分局2024年一共检查了多少家次企业和单位？")
    assert answer.answered and answer.answer == "918家次"
    assert 0.0 < answer.confidence <= 1.0
    assert "918家次" in strip_spaces(answer.citations[0].text)


def test_below_its_threshold_the_reader_declines_and_shows_the_sentence_that_holds_the_answer(learned):
    answer = learned(reader_min_confidence=1.0).ask("沁水分局2024年一共检查了多少家次企业和单位？")
    assert not answer.answered
    assert answer.answer.startswith(NOT_FOUND) and answer.answer.endswith("[1]")
    quote = answer.answer.partition("「")[2].rpartition("」")[0]
    assert "918家次" in quote, "the sentence shown holds the answer"
    assert strip_spaces(quote) in strip_spaces(answer.citations[0].text), "and is quoted from the passage cited"
    assert answer.to_dict()["answered"] is False and answer.to_dict()["citations"]


def test_the_decline_with_evidence_reaches_the_openai_compatible_text(learned):
    from assistant.app.http_api import chat_text

    text = chat_text(learned(reader_min_confidence=1.0).ask("沁水分局2024年一共检查了多少家次企业和单位？"))
    assert text.startswith(NOT_FOUND) and "来源：\n[1]" in text


# --- the judge -------------------------------------------------------------------------------


@pytest.mark.parametrize("answered,answer,expected", [
    (True, "394.179万元", "correct"), (True, "3941790元", "correct"),
    (True, "处罚金额共计394.179万元，立案查处环境违法案件24件，检查企业918家次", "wrong"),  # not concise
    (True, "24件", "wrong"), (False, "资料中未提及……", "declined"),
])
def test_answers_are_judged_correct_wrong_or_declined(answered, answer, expected):
    item = GoldItem("x", "沁水县2024年处罚金额多少", ["394.179万元"])
    assert verdict(item, answered, answer) == expected


def test_most_of_the_gold_with_the_same_numbers_is_correct_and_another_number_is_not():
    item = GoldItem("x", "q", ["至少99人死亡"])
    assert verdict(item, True, "至少99人") == "correct"
    assert verdict(item, True, "89人") == "wrong"
    assert evidence_holds(item, "大火已造成至少99人死亡。") and not evidence_holds(item, "大火已造成89人死亡。")


def test_a_deadline_is_a_date_written_with_before():
    frame = analyze("要求提案在什么时候之前全部办结？")
    assert frame.kind == "date" and frame.deadline
    from assistant.answer.extractive import ExtractiveAnswerer

    reader = ExtractiveAnswerer(lambda p: None)
    sentence = "4月28日，召开推进会，要求务必于5月底前全部办结。"
    spans = [sentence[a:b] for a, b, _ in reader._typed_spans(frame, sentence)]
    assert spans == ["5月底前"], "the day of the meeting is not the deadline"
    assert not analyze("推进会是哪天召开的？").deadline


def test_the_hand_set_rules_state_no_confidence(learned):
    answer = learned(reader="rules").ask("沁水分局2024年一共检查了多少家次企业和单位？")
    assert answer.answered and answer.confidence is None and answer.to_dict()["confidence"] is None


def test_a_comparison_is_judged_by_its_verdict_not_its_reasons():
    item = GoldItem("x", "高平和晋中，哪个地方的举报件更多？", ["晋中"])
    assert verdict(item, True, "晋中（高平31件，晋中374件）") == "correct"
    assert verdict(item, True, "高平（高平31件，晋中374件）") == "wrong"


def test_a_question_word_in_the_next_clause_does_not_describe_a_figure():
    # "…问题56件，立案查处环境违法案件24件": 立案查处 names 24件; the comma keeps it from 56件, which it stands right after.
    frame = analyze("沁水县2024年立案查处了多少件？")
    sentence = "处理群众投诉问题56件，立案查处环境违法案件24件。"
    marks = _term_marks(sentence, frame.terms)
    at56, at24 = sentence.index("56件"), sentence.index("24件")
    assert _anchor_alignment(sentence, marks, at56, at56 + 3, frame, 24) == 0.0
    assert _anchor_alignment(sentence, marks, at24, at24 + 3, frame, 24) > 0.0
    assert not _word_after(sentence, at56 + 3, "立案查处", 1)
    assert _word_after("共有30家企业", 5, "企业", 1)


def test_a_transliterated_name_is_cut_from_the_title_before_it_and_the_words_after_it():
    sentence = "龚正会见联合国教科文组织助理总干事菲尔明·马多戈一行。克里斯蒂亚诺·罗纳尔多打进一球"
    spans = [sentence[a:b] for a, b, _ in _person_spans(sentence, "上海市长龚正会见的联合国教科文组织助理总干事是谁")]
    assert "菲尔明·马多戈" in spans and "克里斯蒂亚诺·罗纳尔多" in spans
    assert not any("一行" in s or "总干事" in s or "打进" in s for s in spans)
