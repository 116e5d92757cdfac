"""Article splitting: each page becomes its news items, each with a title that names its subject."""

from assistant.ingest.articles import parse_document
from assistant.store.records import heading_label
from assistant.ingest.chunking import chunk_document
from assistant.text.tokens import count_tokens

from .conftest import PAGE_000, PAGE_001


def _parse(path):
    return parse_document(path.read_text(encoding="utf-8"), path.stem)


def _article_texts(doc):
    return [doc.text[a.start : a.end] for a in doc.articles]


def test_first_page_splits_into_its_five_articles():
    doc = _parse(PAGE_000)
    texts = _article_texts(doc)
    assert len(doc.articles) == 5
    subjects = ["阳城", "忻州", "沁水", "运城", "太原"]
    for subject, text in zip(subjects, texts):
        assert subject in text
    # The 沁水 figures live in the 沁水 article only, not in its neighbours.
    assert "394.179万元" in texts[2]
    assert all("394.179万元" not in t for i, t in enumerate(texts) if i != 2)


def test_displaced_headlines_find_their_articles():
    doc = _parse(PAGE_000)
    titles = [a.title for a in doc.articles]
    assert titles[0] == "越是艰难越向前 不负山水不负民"  # printed after the article
    assert doc.articles[0].subtitle == "阳城县生态环保工作综述"  # its "——" line is the subtitle
    assert "定襄桥断面" in titles[1]  # printed after the article, before the next one
    assert "如画沁水" in doc.articles[2].title  # its only heading line, printed two articles further down the page
    assert doc.articles[0].byline == "科学导报记者 来虹"


def test_a_lone_subtitle_is_the_headline_and_a_body_sentence_never_a_title():
    """The page prints only the 沁水 story's "——" line, which is then its headline, and no headline at all for
    the 运城 and 太原 meeting reports: they stay untitled rather than have a sentence pose as a title."""
    doc = _parse(PAGE_000)
    qinshui, yuncheng, taiyuan = doc.articles[2], doc.articles[3], doc.articles[4]
    assert qinshui.title == "小记如画沁水的“生态守护神”" and qinshui.subtitle == ""
    assert doc.text[qinshui.start : qinshui.body_start].strip() == qinshui.title  # no dash line left in the text
    for article in (yuncheng, taiyuan):
        body = doc.text[article.body_start : article.end]
        assert article.title == "" and article.subtitle == ""
        assert heading_label(article.title, article.subtitle) == "（无标题）"
        assert body.startswith("科学导报讯")  # the text still starts with its lead, not with a made-up title line
    for article in doc.articles:
        first_sentence = doc.text[article.body_start : article.end].split("。")[0]
        assert not article.title or article.title not in first_sentence


def test_a_column_label_with_its_pinyin_is_not_part_of_the_headline():
    doc = _parse(PAGE_001)
    assert doc.articles[1].title == "太原市生态环境局 举办学习宣传贯彻《生态环境监测条例》提升执法效能专题培训班"
    assert doc.articles[0].title == "一手抓总 三力同发"
    assert doc.articles[0].subtitle.startswith("晋城高平市久久为功筑牢生态安全屏障")


def test_second_page_splits_into_its_four_articles_with_bylines():
    doc = _parse(PAGE_001)
    assert len(doc.articles) == 4
    titles = [heading_label(a.title) + a.subtitle for a in doc.articles]
    assert "高平" in titles[0] and "太原" in titles[1] and "柳林" in titles[2] and "晋中" in titles[3]
    assert [a.byline for a in doc.articles] == ["科学导报记者 来虹", "高岗桢", "薛东娥", "科学导报记者 范琛 陈海瑞"]


def test_chunks_cut_on_sentence_ends_within_budget_and_point_into_the_text():
    doc = _parse(PAGE_000)
    chunks = chunk_document(doc, "000.txt", "seeds/000.txt", budget=200, overlap=1)
    assert len(chunks) > 10
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.title == doc.articles[c.article].title and c.subtitle == doc.articles[c.article].subtitle
        assert count_tokens(c.text) <= 200 or "。" not in c.text
        # Whole sentences; a sentence over the budget is cut at a clause mark.
        assert c.text.rstrip()[-1] in "。！？；…”），、：" or c.end == doc.articles[c.article].end
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    # Same content, same ids.
    again = chunk_document(_parse(PAGE_000), "000.txt", "seeds/000.txt", budget=200, overlap=1)
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]


def test_an_over_long_sentence_is_split_without_cutting_a_figure():
    text = "，".join(["处罚金额共计394.179万元"] * 60) + "。"
    doc = parse_document(text, "长句")
    chunks = chunk_document(doc, "x", "x", budget=40, overlap=0)
    assert len(chunks) > 1
    joined = "".join(c.text for c in chunks)
    assert joined.count("394.179万元") == 60


HEADLINES = [
    "女子地铁喝水收到告知单，官方：只是告知，并未罚款",
    "“双减”之后，课外班去哪了？",
    "京津城际开通运营15年 累计发送旅客3.4亿人次",
    "6人到案！遵义打掉两个涉“两卡”犯罪团伙",
]


def test_a_headline_with_punctuation_on_the_first_line_titles_its_article():
    # Headlines hold commas, colons, question marks, quotes and spaces; the one on a file's first line is the title,
    # not a body sentence glued to the next paragraph, and never the file's name.
    body = "近日，一名女子在地铁车厢内喝水，收到了工作人员递来的告知单。\n地铁方面表示，告知单只是提醒，并未罚款。"
    for headline in HEADLINES:
        doc = parse_document(f"{headline}\n{body}", "000")
        assert [a.title for a in doc.articles] == [headline]
        assert doc.text[doc.articles[0].body_start:].startswith("近日，一名女子")
    # A first line that is a sentence stays in the body (and the article takes the file's name, having no headline)
    doc = parse_document(f"近日，地铁方面发布了告知单的说明。\n{body}", "000")
    assert [a.title for a in doc.articles] == ["000"] and doc.text[doc.articles[0].body_start:].startswith("近日，地铁")


def test_a_typed_story_of_one_long_paragraph_keeps_its_headline():
    # A news file as people save it: headline, a dateline, then the story as one long paragraph. Most of its lines
    # are short and unfinished, as in print wrapped at a column, but the paragraph runs far past any column: the
    # first line is still the title (with the spaces that part its phrases), and the story keeps its closing lines.
    paragraph = "记者从当地应急管理部门获悉，受强降雨影响，全省共有12条河流超过警戒水位，3座水库超汛限水位运行。" * 6
    for headline in [*HEADLINES, "黑龙江省10条河流超警戒水位 3座水库超汛限运行"]:
        doc = parse_document(f"{headline}\n2023-07-25 22:44，本报记者 张三\n{paragraph}", "000")
        assert [a.title for a in doc.articles] == [headline]
        assert doc.text[doc.articles[0].body_start:].startswith("2023-07-25 22:44")
    doc = parse_document(f"{HEADLINES[0]}\n{paragraph}\n【编辑:李四】 更多精彩内容请进入国内新闻", "000")
    assert [a.title for a in doc.articles] == [HEADLINES[0]] and doc.text.endswith("更多精彩内容请进入国内新闻")
    # A dateline before a news agency's lead is the story's opening, not a story of its own; a story of three short
    # lines is no printed column; a space before an opening quote parts the headline's phrases.
    for lead in ("新华社耶路撒冷8月12日电 ", "本报讯(记者 李四)", ""):
        doc = parse_document(f"缤纷假期 “暑”你精彩\n2023-08-12 19:20，新华社\n{lead}{paragraph[:60]}", "000")
        assert [a.title for a in doc.articles] == ["缤纷假期 “暑”你精彩"]
        assert doc.text[doc.articles[0].body_start:].startswith("2023-08-12 19:20，新华社\n")
    # Lines of figures and brackets are no headline: the story, having none, takes the file's name.
    doc = parse_document(f"[\n2023/07/25  17:07\n]，{paragraph}", "000")
    assert [a.title for a in doc.articles] == ["000"]
