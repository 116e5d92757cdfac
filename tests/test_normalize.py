"""Normalization on real lines of both seed pages: hard wraps rejoined, headlines and bylines kept apart."""

from assistant.ingest.normalize import BODY, BYLINE, CAPTION, HEADING, SIGNATURE, normalize_blocks
from assistant.text.chars import tidy_spacing

from .conftest import PAGE_000, PAGE_001


def _blocks(path):
    return normalize_blocks(path.read_text(encoding="utf-8"))


def test_hard_wrapped_lines_rejoin_into_one_paragraph_with_figures_intact():
    body = [b.text for b in _blocks(PAGE_000) if b.kind == BODY]
    paragraph = next(t for t in body if "处罚金额" in t)
    # Eight print lines with blank lines between them become one sentence run.
    assert "2024年共检查各类企业及单位918家次，发现各类风险隐患及问题121个" in paragraph
    assert "立案查处环境违法案件24件，处罚金额共计394.179万元。" in paragraph
    assert "\n" not in paragraph


def test_figure_spacing_from_print_is_removed_but_headline_spaces_stay():
    assert tidy_spacing("38 微克 /立方米，SO2、NO2、CO 和 PM10 四项") == "38微克/立方米，SO2、NO2、CO和PM10四项"
    assert tidy_spacing("处罚金额共计 394.179 万元。") == "处罚金额共计394.179万元。"
    assert tidy_spacing("一手抓总 三力同发") == "一手抓总 三力同发"
    assert tidy_spacing("推动大唐阳城 2伊100MW 煤电项目") == "推动大唐阳城2×100MW煤电项目"


def test_headlines_and_bylines_are_not_glued_to_body_text():
    blocks = _blocks(PAGE_000)
    headings = [b.text for b in blocks if b.kind == HEADING]
    bylines = [b.text for b in blocks if b.kind == BYLINE]
    assert "“十个点位”打好攻坚战" in headings
    assert ("越是艰难越向前 不负山水不负民", "阳城县生态环保工作综述") in [
        (b.text, b.subtitle) for b in blocks if b.kind == HEADING
    ]
    assert bylines == ["科学导报记者 来虹"]  # the print bullet glyph before it is gone
    for b in blocks:
        if b.kind == BODY:
            assert "科学导报记者" not in b.text
            assert "“十个点位”打好攻坚战" not in b.text


def test_signature_lines_are_recognised():
    kinds = {b.text: b.kind for b in _blocks(PAGE_001)}
    assert kinds["高岗桢"] == SIGNATURE
    assert kinds["薛东娥"] == SIGNATURE
    assert kinds["科学导报记者 范琛 陈海瑞"] == BYLINE


def test_photo_caption_is_lifted_out_of_the_sentence_it_cuts():
    blocks = _blocks(PAGE_001)
    captions = [b.text for b in blocks if b.kind == CAPTION]
    assert "高平釜山水库。图片由受访者提供" in captions
    body = "".join(b.text for b in blocks if b.kind == BODY)
    assert "科学制定差异化管控清单，实施分级类管理，轮流停产减排。" in body
    assert "实施分级高平" not in body


def test_paragraph_per_line_page_joins_lines_cut_mid_sentence():
    body = [b.text for b in _blocks(PAGE_001) if b.kind == BODY]
    assert any("好的空气质量成为晋中市最鲜明的生态底色。" in t for t in body)
    assert any("2025年争取到上级资金1.4亿元，利用这些资金，实施了大气污染防治" in t for t in body)
    assert any("已整改完28项，其余整改任务正在积极有序推进。" in t for t in body)
    # Section headings on this page stay separate paragraphs.
    assert "聚焦效能提升 在严格监管中彰显服务发展担当" in [b.text for b in _blocks(PAGE_001) if b.kind == HEADING]
