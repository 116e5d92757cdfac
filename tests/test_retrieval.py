"""Document-aware retrieval: a passage is ranked with what its whole article knows, and the top passages spread
over articles."""

import json

import pytest

from assistant import Assistant

# Generic sentences with none of the question's words: they push the answer into a later passage than the one
# naming the event.
FILLER = (
    "当天上午天气晴好，主会场周边道路实行临时交通管制，志愿者在各路口引导车辆有序通行。"
    "组委会提前一个月完成了场地布置、安保预案和医疗保障等各项准备工作，确保活动安全顺利。"
    "来自周边市县的文艺团体带来了歌舞、戏曲和民俗表演，现场气氛热烈，掌声不断。"
    "不少市民扶老携幼前来观看，有的还带上了自制的小吃和饮品，在草坪上铺开野餐垫休息。"
)
COUNTIES = ["平武县", "北川县", "安州区", "江油市", "梓潼县"]


def _archive(path):
    lines = [{
        "id": "qingchuan",
        "text": "青川县举办第三届大熊猫生态旅游节。2025年5月，第三届大熊猫生态旅游节在青川县唐家河开幕。"
        + FILLER * 3 + "据统计，本次活动共接待游客12.6万人次，实现旅游综合收入8600万元。",
    }]
    for i, county in enumerate(COUNTIES):
        lines.append({
            "id": f"other-{i}",
            "text": f"{county}举办乡村文化旅游节。2025年5月，{county}乡村文化旅游节开幕，"
            f"旅游节期间共接待游客{3 + i}.5万人次。" + FILLER,
        })
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieval")
    a = Assistant(index_dir=root / "idx")
    a.ingest(_archive(root / "news.jsonl"))
    return a


def test_the_event_named_once_in_an_article_finds_its_answer_passage(archive):
    question = "青川县大熊猫生态旅游节共接待游客多少人次？"
    passages = archive.retrieve(question, k=5)
    # The passage holding the figure never says 青川 or 大熊猫, only its article does; the other festivals'
    # passages say 旅游节, 接待游客 and 人次 all in one place. The article's passages come first all the same.
    at = next(i for i, p in enumerate(passages) if "12.6万人次" in p.text)
    assert "青川" not in passages[at].text
    assert all(p.doc_id == "qingchuan" for p in passages[: at + 1])
    assert archive.ask(question).answer == "12.6万人次"


def test_the_top_passages_spread_over_articles_that_score_alike(archive):
    passages = archive.retrieve("乡村文化旅游节期间共接待游客多少万人次？", k=5)
    assert len({p.doc_id for p in passages}) == 5


def test_the_passage_stating_the_question_in_one_sentence_comes_first(tmp_path):
    # Counted as bags of words the two stories tie (the scattered one leads the passage BM25 by a hair); only one
    # says the question's words together, in the sentence that answers it.
    scattered = ("全省新能源汽车出口势头良好，新能源汽车出口企业达到120家，全省汽车出口覆盖60多个国家。"
                 "上半年，全省工业增加值同比增长6.1%，增幅居全国前列。")
    together = ("上半年，全省新能源汽车出口同比增长47.3%。当天还发布了港口建设、物流园区和跨境电商等方面的"
                "政策措施，企业代表表示将抓住机遇。")
    lines = [{"id": "scattered", "text": "经济运行稳中向好。" + scattered + FILLER},
             {"id": "together", "text": "港口经济发展大会召开。" + together + FILLER}]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    a = Assistant(index_dir=tmp_path / "idx")
    a.ingest(path)
    passages = a.retrieve("上半年全省新能源汽车出口同比增长多少？", k=2)
    assert passages[0].doc_id == "together"
    assert a.ask("上半年全省新能源汽车出口同比增长多少？").answer == "47.3%"
