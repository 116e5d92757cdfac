"""The facts tab's bar charts: one chart per unit, bars on one scale across magnitudes, labels that tell bars apart."""

from assistant.app.charts import CHART_MAX_BARS, build_charts, render_charts
from assistant.store.records import Fact


def _fact(subject, year, metric, value, unit, context="", span=""):
    return Fact(subject=subject, year=year, metric=metric, value=value, unit=unit, context=context or metric,
                span=span or f"{value:g}{unit}",
                doc_id=f"{subject}.txt", chunk_id="")


def test_units_are_kept_apart_and_magnitudes_share_one_scale():
    facts = [
        _fact("沁水县", 2024, "处罚金额", 394.179, "万元"),
        _fact("阳城县", 2024, "处罚金额", 1200000, "元"),
        _fact("阳城县", 2024, "处罚金额占比", 12.5, "%"),
    ]
    charts = build_charts(facts)
    assert sorted(c.unit for c in charts) == ["%", "元"]
    money = next(c for c in charts if c.unit == "元")
    assert [b.fact.subject for b in money.bars] == ["沁水县", "阳城县"]  # 3,941,790 元 before 1,200,000 元
    assert abs(money.bars[1].share - 1200000 / 3941790) < 1e-6
    assert [b.label for b in money.bars] == ["沁水县", "阳城县"]  # shared year and metric are left off the bars
    assert money.shared == ["2024年"]


def test_one_place_over_the_years_is_drawn_in_time_order():
    facts = [_fact("晋中市", y, "优良天数", v, "天") for y, v in ((2025, 300), (2023, 280), (2024, 290))]
    (chart,) = build_charts(facts)
    assert [b.label for b in chart.bars] == ["2023年", "2024年", "2025年"] and chart.shared == ["晋中市"]


def test_figures_named_alike_are_told_apart_by_what_they_are_about():
    facts = [
        _fact("沁水县", 2024, "投资", 5800, "万元", "县河流域水污染治理项目，投资5800余万元，新建3座湿地", "投资5800余万元"),
        _fact("沁水县", 2024, "投资", 900, "万元", "全县污水处理设施运维项目，投资900余万元", "投资900余万元"),
    ]
    (chart,) = build_charts(facts)
    assert [b.label for b in chart.bars] == ["县河流域水污染治理项目", "全县污水处理设施运维项目"]


def test_a_long_list_is_capped_and_the_rest_is_counted():
    facts = [_fact(f"地区{i}", 2024, "企业", i + 1, "家") for i in range(CHART_MAX_BARS + 3)]
    (chart,) = build_charts(facts)
    assert len(chart.bars) == CHART_MAX_BARS and chart.left_out == 3
    html = render_charts(facts, True, lambda ids: [], lambda text, evidence, answer: text)
    assert "另有 3 条未画出" in html


def test_markup_in_a_figure_is_shown_as_text():
    facts = [_fact("<b>沁水</b>", 2024, "<script>x</script>", 1, "个", "<img src=x>", "1个")]
    html = render_charts(facts, True, lambda ids: [], lambda text, evidence, answer: text.replace("<", "&lt;"))
    assert "<script>" not in html and "<b>" not in html and "<img" not in html
