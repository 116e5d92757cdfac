"""Structured facts: the articles' figures as a table, offline rules and an LLM extractor behind one interface."""

import json

import pytest

from assistant import Assistant
from assistant.settings import Settings
from assistant.ingest.articles import parse_document
from assistant.ingest.chunking import chunk_document
from assistant.ingest.facts import RuleFactExtractor, parse_drafts

from .conftest import PAGE_000, PAGE_001, ROOT, run_cli
from .fake_openai import FakeOpenAI


def _rule_facts(path):
    doc = parse_document(path.read_text(encoding="utf-8"), path.stem)
    return RuleFactExtractor().extract(doc, chunk_document(doc, path.name, str(path)), path.name, str(path))


def _find(facts, value, unit):
    return next(f for f in facts if f.value == value and f.unit == unit)


def test_the_canonical_figure_becomes_a_complete_fact():
    fact = _find(_rule_facts(PAGE_000), 394.179, "万元")
    assert (fact.subject, fact.year, fact.metric) == ("沁水县", 2024, "处罚金额")
    assert fact.span == "处罚金额共计394.179万元" and fact.base_value == 3941790
    assert "沁水" in fact.title and fact.chunk_id


def test_an_untitled_story_takes_no_year_from_the_story_above_it():
    """The 运城 meeting report names no year and opens the page's next story without a headline: its 40 firms
    must not inherit 2024 from the 沁水 story printed before it."""
    fact = _find(_rule_facts(PAGE_000), 40, "家")
    assert fact.subject == "运城市" and fact.year is None


def test_numbers_inside_slogans_names_and_specifications_are_not_facts():
    page0 = _rule_facts(PAGE_000)
    slogan = [f for f in page0 if "六个百分百" in f.span]
    assert [(f.value, f.unit) for f in slogan] == [(67, "条")]  # the 67 problems, not the 6 of the slogan
    assert "百分百" in slogan[0].metric
    assert not [f for f in page0 if f.span.startswith("“十个点位”") or f.span.startswith("“三项治理”")]
    assert not [f for f in page0 if f.unit == "MW"]  # "2×100MW煤电项目" names a project


def test_numerals_qualifiers_and_percentages_from_real_lines():
    page0, page1 = _rule_facts(PAGE_000), _rule_facts(PAGE_001)
    five = _find(page1, 5, "项")  # "会议议定五项事项"
    assert five.subject.startswith("柳林") and "议定" in five.span
    invest = _find(page0, 5800, "万元")  # "投资5800余万元"
    assert invest.qualifier == "余" and invest.display() == "5800余万元"
    points = _find(page1, 5.4, "个百分点")
    assert points.subject == "晋中市" and points.year == 2025
    pm = _find(page0, 38, "微克/立方米")  # "全县PM2.5浓度均值控制在38微克/立方米": 全县 is 阳城县
    assert pm.subject == "阳城县" and "PM2.5" in pm.metric


def test_metric_names_the_counted_thing_from_real_lines():
    page0, page1 = _rule_facts(PAGE_000), _rule_facts(PAGE_001)
    # The noun phrase after the figure, with the action done to it ("对26个新改扩建项目进行了总量核定").
    assert _find(page1, 26, "个").metric == "总量核定新改扩建项目"
    assert _find(page0, 10, "台").metric == "燃气锅炉低氮改造"  # "…改造和县城10台燃气锅炉低氮改造"
    assert "煤气发生炉淘汰" in _find(page0, 24, "台").metric
    # A time limit ("5分钟内智能识别") and a change against a baseline ("较“十三五”末改善28.6%").
    assert _find(page1, 5, "分钟").metric == "智能识别时间"
    improved = _find(page1, 28.6, "%")
    assert improved.metric.startswith("PM2.5") and improved.metric.endswith("改善")
    # "力争在今年6月底…完成": 今年 is the year the article was written in (it plans "2025年，我们要…").
    assert _find(page0, 24, "台").year == 2025


def test_a_bureau_figure_is_about_its_county_not_the_parent_city():
    fact = _find(_rule_facts(PAGE_000), 918, "家次")
    assert fact.subject == "沁水县"  # "晋城市生态环境局沁水分局 … 检查 … 918家次"


def test_text_without_figures_yields_no_facts():
    doc = parse_document("会议强调，要提高站位抓整改，深刻认清当前形势。", "无数字")
    assert RuleFactExtractor().extract(doc, chunk_document(doc, "x", "x"), "x", "x") == []


def test_facts_are_stored_replaced_on_reingest_and_listed(tmp_path, seeds_copy):
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(seeds_copy)
    assert [f.display() for f in a.facts(subject="沁水", metric="处罚金额")] == ["394.179万元"]
    page = seeds_copy / PAGE_000.name
    page.write_text(page.read_text(encoding="utf-8").replace("394.179", "512.6"), encoding="utf-8")
    a.ingest(seeds_copy)
    assert [f.display() for f in a.facts(subject="沁水", metric="处罚金额")] == ["512.6万元"]
    a.delete(PAGE_000.name)
    assert a.facts(subject="沁水") == [] and a.facts(subject="晋中")


def test_facts_command_filters_and_exports(seeds_index):
    as_json = json.loads(run_cli("facts", "--subject", "沁水", "--year", "2024", "--format", "json", "--index-dir", str(seeds_index)).stdout)
    assert as_json and all("沁水" in f["subject"] and f["year"] == 2024 for f in as_json)
    assert any(f["value"] == 394.179 and f["unit"] == "万元" for f in as_json)
    csv_out = run_cli("facts", "--metric", "处罚金额", "--format", "csv", "--index-dir", str(seeds_index)).stdout
    assert csv_out.splitlines()[0].startswith("subject,metric,value,value_max,unit,qualifier,year,period") and "394.179" in csv_out
    bad = run_cli("facts", "--format", "xml", "--index-dir", str(seeds_index))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_eval_reports_extraction_precision_and_recall(seeds_index):
    proc = run_cli("eval", str(ROOT / "evals" / "facts_gold.jsonl"), "--index-dir", str(seeds_index), "--json",
                   "--floors", str(ROOT / "evals" / "floors.json"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["n"] >= 60 and 0 < data["precision"] <= 1 and 0 < data["recall"] <= 1


def test_comparisons_and_superlatives_across_articles(seeds_assistant):
    lower = seeds_assistant.ask("阳城县和晋中市的PM2.5浓度哪个更低？")
    assert lower.answer.startswith("晋中") and "30微克" in lower.answer and "38微克/立方米" in lower.answer
    assert {("阳城" in c.title + c.subtitle) or ("晋中" in c.title + c.subtitle) for c in lower.citations} == {True} and len(lower.citations) == 2
    most = seeds_assistant.ask("哪个地方第三轮中央环保督察交办的群众举报件最多？")
    assert most.answer.startswith("晋中") and "374件" in most.answer and "31件" in most.answer
    assert len(most.citations) == 2


def test_a_title_ending_in_a_direction_word_is_no_comparison(seeds_assistant):
    # "哪位局长" ends in 长 (long) and names two bureaus: it asks for a person, and must not come back as a garbled
    # comparison ("资料中未提及阳城分局的位局，无法比较。").
    answer = seeds_assistant.ask("阳城分局和沁水分局的哪位局长表示要守护阳城秀美生态？").answer
    assert "无法比较" not in answer and "位局" not in answer
    assert seeds_assistant.ask("高平和晋中，哪个地方第三轮中央环保督察交办的群众举报件多？").answer.startswith("晋中")


def test_figure_questions_are_answered_from_the_matching_fact(seeds_assistant):
    fact = seeds_assistant.facts(subject="沁水", metric="检查各类企业")[0]
    answer = seeds_assistant.ask("沁水县2024年共检查各类企业及单位多少家次？")
    assert answer.answer == "918家次" and answer.evidence == fact.span  # the fact's clause, not the whole sentence
    assert answer.citations[0].chunk_id == fact.chunk_id and fact.span in answer.citations[0].text.replace(" ", "")
    # A place the facts don't cover, or a metric no fact names, is left to the passage reader.
    assert seeds_assistant.ask("沁水县2024年发射了多少颗卫星？").answered is False


def test_llm_replies_are_validated_and_retried_with_the_error(tmp_path):
    good = json.dumps([{"subject": "沁水县", "year": 2024, "metric": "处罚金额", "value": 394.179, "unit": "万元",
                        "qualifier": None, "span": "处罚金额共计394.179万元"}], ensure_ascii=False)
    script = [{"content": "这不是JSON"}, {"content": good}]
    with FakeOpenAI(script=script) as server:
        settings = Settings(index_dir=tmp_path / "idx", llm_base_url=server.base_url, llm_api_key="sk-x",
                            facts_extractor="llm", facts_llm_retries=1)
        src = tmp_path / "one.txt"
        src.write_text("2024年，沁水县立案查处环境违法案件24件，处罚金额共计394.179万元。", encoding="utf-8")
        a = Assistant(settings=settings)
        report = a.ingest(src)
        retry_prompt = server.chat_requests[1]["json"]["messages"][-1]["content"]
    assert "不是有效的 JSON" in retry_prompt  # the validation error was fed back
    facts = a.facts()
    assert [(f.subject, f.value, f.unit) for f in facts] == [("沁水县", 394.179, "万元")] and not report.warnings


def test_a_malformed_llm_reply_never_stops_ingestion(tmp_path):
    with FakeOpenAI(script=[{"content": '[{"subject": "沁水县"}]'}]) as server:
        src = tmp_path / "one.txt"
        src.write_text("2024年，沁水县处罚金额共计394.179万元。", encoding="utf-8")
        proc = run_cli("ingest", str(src), "--index-dir", str(tmp_path / "idx"), env={
            "ASSISTANT_LLM_BASE_URL": server.base_url, "ASSISTANT_LLM_API_KEY": "sk-x",
            "ASSISTANT_FACTS_EXTRACTOR": "llm", "ASSISTANT_FACTS_LLM_RETRIES": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "不符合格式" in proc.stderr and "Traceback" not in proc.stderr
    status = json.loads(run_cli("status", "--json", "--index-dir", str(tmp_path / "idx")).stdout)
    assert status["documents"] == 1 and status["facts"] == 0


@pytest.mark.parametrize("reply, error", [
    ('{"a": 1}', "数组"),
    ('[{"subject": "沁水县", "metric": "处罚金额", "value": "很多", "unit": "万元", "span": "处罚金额"}]', "value"),
    ('[{"subject": "沁水县", "metric": "处罚金额", "value": 1, "unit": "万元", "span": "编造的原文"}]', "原文"),
])
def test_invalid_drafts_are_rejected_with_a_reason(reply, error):
    drafts, problem = parse_drafts(reply, "2024年，沁水县处罚金额共计394.179万元。")
    assert drafts == [] and error in problem


def test_a_place_prefix_selects_the_facts_of_that_place_as_the_substring_filter_does(seeds_index):
    from assistant.store.index import Index
    from assistant.text.names import short_place

    index = Index.open(Settings(index_dir=seeds_index))
    try:
        found = 0
        for place in ("沁水", "阳城", "晋中", "高平", "忻州"):
            for year in (2024, 2025, None):
                by_prefix = index.facts(subject_prefix=place, year=year)
                by_substring = [f for f in index.facts(subject=place, year=year) if short_place(f.subject) == place]
                assert [f for f in by_prefix if short_place(f.subject) == place] == by_substring
                found += len(by_substring)
        assert found > 20
    finally:
        index.close()


# --- news: subjects, periods, units and numbers that are not facts ------------------------------------------------

_REPORT = (
    "2024-08-20 10:12，正文：证券日报讯（记者王明）星河电子(300999.SZ)近日发布2024年半年度报告，公司2024年上半年营业收入为"
    "12.5亿元，同比增长18.2%；归属于上市公司股东的净利润为1.3亿元，上年同期为0.9亿元。星河电子现有2000多名员工，"
    "研发人员占比为35%。与2019年相比，公司出口额比2019年增长64%。"
)
_TRADE = (
    "2023-08-03 09:00，正文：据商务部官网消息，商务部服贸司负责人介绍，2023年上半年，我国服务进出口总额3.1万亿元，"
    "同比增长8.5%。其中，海外工程签约额达1830亿人民币，全年节约用电180万千瓦时。"
)
_RAIL = (
    "2023-06-01 08:00，正文：京北城际开通运营15年，累计发送旅客2.1亿人次。京北城际最短发车间隔4分钟，"
    "近1个月客流上涨3.2%，近1年下跌1.5%。"
)


def _news_facts(text, doc_id="news-1"):
    doc = parse_document(text, doc_id)
    return RuleFactExtractor().extract(doc.folded(), chunk_document(doc, doc_id, doc_id), doc_id, doc_id)


def test_a_company_report_names_the_company_its_year_and_the_change_it_reports():
    facts = _news_facts(_REPORT)
    revenue = _find(facts, 12.5, "亿元")
    assert "星河电子" in revenue.subject and revenue.year == 2024 and "营业收入" in revenue.metric
    assert revenue.period == "2024年上半年"
    growth = _find(facts, 18.2, "%")
    assert "营业收入" in growth.metric and growth.metric.endswith("同比增长率") and "星河电子" in growth.subject
    assert growth.period == "2024年上半年"  # the change is of the half-year its sentence began with
    before = _find(facts, 0.9, "亿元")  # "上年同期为0.9亿元": the same measure, a year earlier
    assert before.year == 2023 and before.metric == _find(facts, 1.3, "亿元").metric
    assert all(f.subject not in ("证券日报", "王明", "未知") for f in facts)


def test_a_year_comes_from_the_date_and_never_from_another_number_or_a_baseline():
    facts = _news_facts(_REPORT)
    assert {f.year for f in facts} <= {2023, 2024}  # not 2000 (2000多名员工) and not the 2019 baseline
    assert _find(facts, 64, "%").year == 2024


def test_a_national_statistic_is_about_the_country_not_the_ministry_that_announced_it():
    facts = _news_facts(_TRADE)
    total = _find(facts, 3.1, "万亿元")
    assert total.subject == "中国" and total.period == "2023年上半年"


def test_units_are_read_whole():
    facts = _news_facts(_TRADE)
    assert _find(facts, 1830, "亿人民币").metric.startswith("海外工程签约额")
    assert _find(facts, 180, "万千瓦时")  # energy, not 万千瓦 of power


def test_periods_in_passing_are_not_facts_but_reported_durations_are():
    facts = _news_facts(_RAIL)
    assert not [f for f in facts if f.unit in ("年", "个月")]  # 开通运营15年, 近1个月 (a return's window)
    assert _find(facts, 4, "分钟").subject == "京北城际"
    assert _find(facts, 3.2, "%").metric == "近1个月客流涨幅"
    assert _find(facts, 1.5, "%").metric.startswith("近1年")


def test_the_llm_path_gives_the_same_fields_and_is_scored_like_the_rules(tmp_path):
    """A reply such as a real model gives for a company report: subject, metric with its direction, period and
    range come back as stored facts, the prompt carries the article's date, and the facts gold scores them."""
    src = tmp_path / "news.jsonl"
    src.write_text(json.dumps({"id": "report-1", "text": _REPORT}, ensure_ascii=False) + "\n", encoding="utf-8")
    drafts = [
        {"subject": "星河电子", "metric": "营业收入", "value": 12.5, "unit": "亿元", "qualifier": None, "year": 2024,
         "period": "2024年上半年", "span": "公司2024年上半年营业收入为12.5亿元"},
        {"subject": "星河电子", "metric": "营业收入同比增长率", "value": 18.2, "unit": "%", "qualifier": None,
         "year": 2024, "period": "2024年上半年", "span": "同比增长18.2%"},
        {"subject": "星河电子", "metric": "归母净利润", "value": 0.9, "unit": "亿元", "qualifier": None, "year": 2023,
         "period": "2023年上半年", "span": "上年同期为0.9亿元"},
    ]
    gold = tmp_path / "facts_gold.jsonl"
    gold.write_text("".join(json.dumps({"id": f"g{i}", "doc_id": "report-1", **{k: d[k] for k in (
        "subject", "year", "metric", "value", "unit", "qualifier", "span")}}, ensure_ascii=False) + "\n"
        for i, d in enumerate(drafts)), encoding="utf-8")
    with FakeOpenAI(script=[{"content": json.dumps(drafts, ensure_ascii=False)}]) as server:
        settings = Settings(index_dir=tmp_path / "idx", llm_base_url=server.base_url, llm_api_key="sk-x",
                            facts_extractor="llm")
        a = Assistant(settings=settings)
        a.ingest(src)
        prompt = server.chat_requests[0]["json"]["messages"][-1]["content"]
    assert "文章日期：2024-08-20" in prompt and "该公司" in prompt
    facts = {f.value: f for f in a.facts()}
    assert facts[12.5].period == "2024年上半年" and facts[0.9].year == 2023
    assert facts[18.2].metric == "营业收入同比增长率" and facts[18.2].when == "2024年上半年"
    run = a.evaluate(gold)
    assert run.precision == 1.0 and run.recall == 1.0


def test_a_province_filter_finds_the_figures_of_its_cities_and_counties(tmp_path):
    docs = tmp_path / "news.jsonl"
    rows = [("a", "2024-05-02，正文：南京市江宁区今年一季度新增企业1200家。"),
            ("b", "2024-05-03，正文：苏州市一季度外贸进出口额达5800亿元。"),
            ("c", "2024-05-04，正文：杭州市一季度新增企业900家。")]
    docs.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in rows), encoding="utf-8")
    a = Assistant(settings=Settings(index_dir=tmp_path / "idx"))
    a.ingest(docs)
    found = a.facts(subject="江苏")
    assert {f.doc_id.split("#")[-1][-1] for f in found} == {"a", "b"} and a.count_facts(subject="江苏") == len(found)
    assert {f.value for f in a.facts(subject="浙江省")} == {900}
    assert a.facts(subject="苏州")[0].value == 5800  # a city by its short name


def test_schedules_counts_of_named_items_and_casualties():
    facts = _news_facts(
        "2023-09-01 10:00，正文：义诊活动将在社区每月举行1次。穆迪公司和标普全球公司两家共提到了58次AI，"
        "这两家机构还发布了12份报告。台风造成其中一人重伤，650人被困机场。民警获悉某小区有1名嫌疑人出没，"
        "参与侦破了这三起案件。"
    )
    assert not [f for f in facts if f.value == 1 and f.unit == "名"]  # "有1名嫌疑人": "one" as "a"
    assert not [f for f in facts if f.unit == "起"]  # the three cases just named
    assert not [f for f in facts if f.unit == "次" and f.value == 1]  # a schedule
    assert not [f for f in facts if f.unit == "家"]  # the two firms just named
    assert _find(facts, 58, "次") and _find(facts, 12, "份")
    assert _find(facts, 1, "人").metric == "重伤人数" and _find(facts, 650, "人").metric == "被困人数"


def test_a_year_given_to_figures_carries_on_but_a_year_said_in_passing_does_not():
    facts = _news_facts(
        "2024-03-02 09:00，正文：蓝湾科技2023年营业收入为8.6亿元，同比增长4.1%；归属于上市公司股东的净利润为1.2亿元。"
        "该公司于2019年5月起在创业板上市，目前共有员工1500人。本月降雨量达120毫米，是自1998年有记录以来的最大值。"
        "2022年，该项目列入省级项目库，今年得到批复资金15.5万元。"
    )
    assert _find(facts, 15.5, "万元").year == 2024  # 今年 in its own clause, whatever the sentence began with
    assert _find(facts, 1.2, "亿元").year == 2023  # the next clause group of a report on 2023
    assert _find(facts, 1500, "人").year == 2024  # not 2019, the year a span began
    assert _find(facts, 120, "毫米").year == 2024  # not 1998


def test_a_restated_figure_measures_what_the_figure_before_it_measures():
    facts = _news_facts(
        "2024-05-10 08:00，正文：这款无人机的售价为5万美元，约合人民币36万元。火灾过火面积为30亩（2公顷）。"
        "两名嫌疑人从中非法获利3万余元。"
    )
    assert _find(facts, 36, "万元").metric == "售价折合人民币"
    assert _find(facts, 2, "公顷").metric == _find(facts, 30, "亩").metric
    assert _find(facts, 3, "万元").qualifier == "余"  # 万余元: the unit is whole


def test_a_figure_for_another_name_in_the_same_measure_is_that_names():
    facts = _news_facts(
        "2024-02-01 10:00，正文：在本季度财报电话会上，星海银行提到了12次人工智能，而云帆证券仅为4次。"
    )
    other = _find(facts, 4, "次")
    assert other.subject == "云帆证券" and other.metric == _find(facts, 12, "次").metric


def test_a_figure_whose_clause_names_nothing_belongs_to_the_name_its_sentence_opened_with():
    facts = _news_facts(
        "2024-07-21 18:00，正文：全市昨日普降大雨。青龙河流域平均降水量最大，达到96毫米；白石河流域次之，为71毫米。"
        "山区降雨更多，七星湖流域达到112毫米，其次是黑松河流域，平均降水量103毫米。"
    )
    assert _find(facts, 96, "毫米").subject == "青龙河流域"
    assert _find(facts, 96, "毫米").metric == "平均降水量"
    assert _find(facts, 71, "毫米").subject == "白石河流域"
    assert _find(facts, 103, "毫米").subject == "黑松河流域"  # named since the figure before, in a clause of its own


def test_the_measure_is_named_around_remarks_shares_and_what_was_achieved():
    facts = _news_facts(
        "2024-04-18 16:00，正文：华清材料(301234.SZ)上市首日，该股创下股价高点36.80元。"
        "战略投资者的获配金额（不含经纪佣金）为5120.50万元，配售比例为本次公开发行股票数量的5%。"
    )
    assert _find(facts, 36.8, "元").metric == "股价高点"
    assert _find(facts, 5120.5, "万元").metric.endswith("获配金额")
    assert _find(facts, 5, "%").metric == "配售比例"


def test_a_company_jieba_does_not_know_is_found_by_its_trade_word_and_what_it_announces():
    facts = _news_facts(
        "2024-08-14 19:38，正文：远大实业上半年营收增三倍 中新经纬8月14日电 远大实业上半年业绩公布。14日盘后，"
        "远大实业发布2024年半年度报告。上半年，公司实现营业收入12.6亿元，同比增加310.5%。"
    )
    assert {f.subject for f in facts} == {"远大实业"}
    assert _find(facts, 310.5, "%").period == "2024年上半年"


def test_windows_of_time_line_numbers_and_resume_months_are_not_facts():
    facts = _news_facts(
        "2024-03-05 08:00，正文：近90天内共有3家投行给出买入评级。气象台预计未来2小时有强降雨。地铁12号线全线贯通，"
        "全长42公里。他1984.09--1988.07在地质学校学习。"
    )
    assert not [f for f in facts if f.unit in ("天", "小时", "号线")]
    assert not [f for f in facts if not f.unit and f.value in (1984.09, 1988.07)]
    assert _find(facts, 3, "家") and _find(facts, 42, "公里")


def test_figures_given_respectively_pair_with_their_items():
    facts = _news_facts(
        "2024-05-09 10:00，正文：4月，铜精矿、锌精矿、铅精矿进口分别增长3.2倍、41.5%、26.8%。"
        "一季度，对日本和东盟的出口分别下降8.4%、3.1%。"
    )
    assert _find(facts, 41.5, "%").metric == "锌精矿进口增长率"
    assert _find(facts, 26.8, "%").metric == "铅精矿进口增长率"
    japan, asean = _find(facts, 8.4, "%"), _find(facts, 3.1, "%")
    assert (japan.subject, asean.subject) == ("日本", "东盟") and asean.metric == "出口下降率"
