"""Figures as facts: a pydantic schema and two extractors behind one interface (rule-based offline, or an LLM)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from ..text.chars import CJK, CLAUSE_PUNCT, fold_width, sentence_spans, strip_spaces
from ..text.figures import CASUALTY, cn_to_number, figure_matches, FIGURE_RE, most_named, negative
from ..text.names import ADMIN_SUFFIXES, short_place
from ..text.tokens import pos_words, words
from ..store.records import Fact, full_heading
from .articles import ParsedDocument
from .chunking import Chunk
from .subjects import ArticleSubjects, article_subjects, clause_subject, only_a_name


class FactExtractor(Protocol):
    """Turns a parsed document and its chunks into facts; never raises on odd text (yields nothing)."""

    def extract(self, doc: ParsedDocument, chunks: list[Chunk], doc_id: str, source: str) -> list[Fact]: ...


# --- places -----------------------------------------------------------------------------

_BUREAU = re.compile(f"([{CJK}]{{2,4}}?)(?:市|省)生态环境局([{CJK}]{{2,4}}?)分局")
_ALL_CJK = re.compile(f"[{CJK}]+")
_SELF = re.compile(r"全县|全市|全区|该县|该市|该区|该局|县域|市域")
# Words ending in 区/市/县 that are not places.
_GENERIC = re.compile(
    r"(?:景区|园区|城区|库区|社区|辖区|小区|地区|片区|山区|矿区|采区|厂区|灾区|开发区|示范区|保护区|功能区|样板区|建成区|核心区|"
    r"试点区|管控区|重点区|风景区|生活区|作业区)$"
    r"|^(?:全市|全县|全区|城市|都市|超市|上市|门市|县市|市县|省市|市区|县区|该市|该县|本市|本县|各县|各市|县城)$"
)


# Places are read clause by clause: jieba cuts at every punctuation mark anyway (the words are the same as the whole
# text's), only clauses holding 县/市/区 (every place word ends in one) are segmented, and a clause read once (the
# sentence before each of its figures) is not read again.
_CLAUSE = re.compile(f"[^{re.escape(CLAUSE_PUNCT)}\n]+")
_PLACE_END = re.compile("[县市区]")


def _place_words(text: str) -> list[tuple[int, str]]:
    """(offset, place) for words naming a county, city or district ("晋中市", "阳城县"), in order."""
    return [(m.start() + at, w) for m in _CLAUSE.finditer(text) if _PLACE_END.search(m.group())
            for at, w in _clause_places(m.group())]


@lru_cache(maxsize=8192)
def _clause_places(text: str) -> tuple[tuple[int, str], ...]:
    out, pos = [], 0
    ws = words(text)
    for i, w in enumerate(ws):
        at = text.find(w, pos)
        if at < 0:
            continue
        pos = at + len(w)
        # jieba sometimes splits the suffix off: "运城" + "市".
        if i + 1 < len(ws) and ws[i + 1] in ("县", "市", "区") and text.startswith(ws[i + 1], pos) and 2 <= len(w) <= 4:
            w = w + ws[i + 1]
        if len(w) >= 3 and w[-1] in "县市区" and not _GENERIC.search(w) and _ALL_CJK.fullmatch(w):
            out.append((at, w))
    return tuple(out)


def _place_counts(text: str, weight: int = 1) -> Counter:
    counts: Counter = Counter()
    parents = set()
    for m in _BUREAU.finditer(text):  # "晋城市生态环境局沁水分局" is about 沁水, not 晋城
        counts[m.group(2)] += 2 * weight
        parents.add(m.group(1))
    for _, w in _place_words(text):
        if short_place(w) not in parents:
            counts[short_place(w)] += weight
    return counts


def _with_suffix(name: str, text: str) -> str:
    for suffix in ("县", "市", "区"):
        if name + suffix in text:
            return name + suffix
    return name


def primary_place(title: str, text: str) -> str:
    """The place an article is about: its title's place, else the one it names most (bureaus count for their county)."""
    counts = _place_counts(title, 3) + _place_counts(text)
    if not counts:
        return ""
    name = counts.most_common(1)[0][0]
    return _with_suffix(name, title + text)


def _sentence_place(before: str, scope: _ArticleScope, text: str) -> str | None:
    """The place named closest before the figure in the words given (its clause; 全县 resolves to the article's
    place, a county bureau to its county)."""
    found: list[tuple[int, str]] = [(m.start(), scope.place) for m in _SELF.finditer(before)]
    bureaus = list(_BUREAU.finditer(before))
    found += [(m.start(), _with_suffix(m.group(2), text)) for m in bureaus]
    parents = {m.start(): m.group(1) for m in bureaus}
    found += [(at, w) for at, w in _place_words(before) if at not in parents]
    return max(found)[1] if found else None


# --- the figure's metric ----------------------------------------------------------------

_LEADING = re.compile(
    r"^(?:(?:19|20)\d{2}年(?:\d{1,2}月)?(?:\d{1,2}日)?|截至目前|目前|其中|同时|全年|共有|现有|拥有|共|累计|对|为|在|将|已|并|还|全县|全市|该局|该市|该县|"
    f"[{CJK}]{{2,4}}?(?:县|市|区)(?![城域])(?:生态环境局)?(?:[{CJK}]{{2,4}}?分局)?)+"
)
_TRAILING = re.compile(
    r"(?:共计|合计|总计|共|累计|达到|高达|多达|达|为|约|近|超过|超|逾|突破|不到|仅|只有|控制在|降至|降到|提升至|提升到|增至|是|的|有|了|分别|已经|已|只剩下|只剩|剩下|仅剩|也|大约|不超过|不到|不足|不少于|不低于|不高于|似乎|竟然|仍然|依然|仍|均|都|还|更是)+$"
)


def _word_suffix(text: str, limit: int) -> str:
    """The last whole words of text, up to about `limit` characters."""
    out = ""
    for w in reversed(words(text)):
        if len(out) + len(w) > limit and out:
            break
        out = w + out
    return out


_CONJ = "和及与、并"
# Words that end the noun phrase after a figure: the predicate begins ("17个小项整改任务已全部完成").
_PREDICATE = {"已", "已经", "全部", "全面", "均", "都", "进行", "实施", "开展", "召开", "划分", "达到", "达", "列入", "被", "将",
              "并", "得到", "获得", "完成", "结伴", "内", "以上", "以下", "左右", "深入", "打好", "推进", "推动", "加强", "实现",
              "确保", "持续", "全力", "参加", "参与", "前往", "来到", "赶赴", "组成", "出席", "受到", "涉及", "要", "像", "能",
              "会", "应", "应当"}  # (not 可: 可直飞目的地, 可用床位 name what is counted)
_NOUNISH = ("n", "j", "eng", "vn", "b", "q", "m", "an", "zg")
_COMPARE = re.compile(r"^(?:较|比|同比|环比)")
# A figure a comparison is made with: "高于三个月前的52次", "低于去年同期的3.2万吨".
_ABOVE = re.compile(r"^(?:略|远|明显)?(?:高于|低于|多于|少于|不及|超过)[^，]*的$")


def _phrase_after(after: str) -> str:
    """The noun phrase right after a figure's unit: "24台固定床间歇式煤气发生炉淘汰任务" -> its whole object,
    stopping where the predicate begins; a modifier ending in 的 gives way to the head after it."""
    follow = FIGURE_RE.match(after)
    if follow and follow.group("unit"):  # "8大类22条水污染防治重点措施任务": the kinds of the measures that follow
        after = after[follow.end() :]
    # "提供4亿美元的额外军事援助", "带来7.5亿美元的收入": what the amount is, a noun after 的 whatever its tag
    nominal = after.startswith("的")
    after = after.removeprefix("的")
    stop = re.search(f"[，；：。！？（{_CONJ}\\d]|$", after)
    segment = after[: stop.start()]
    modifier = re.match(r"^([^的]{1,8})的", segment)
    if modifier and pos_words(modifier.group(1))[0][1][0] in "dva":  # "未整改的国六重型燃气车" -> its head
        segment = segment[modifier.end() :]
    out: list[tuple[str, str]] = []
    predicate = verb = False
    for w, flag in pos_words(segment):
        if w in _PREDICATE or flag[0] in "dpcufr" or (flag == "x" and not w.isalnum()):
            predicate, verb = True, w in _PREDICATE
            break
        out.append((w, flag))
    # Up to a clause end the words are the object ("燃气锅炉低氮改造"); before a predicate, verbs belong to it
    # ("重点行业企业划分为" -> "重点行业企业"). One word between the figure and a predicate verb is what was counted,
    # whatever jieba tags it ("5名选手参加比赛").
    while (out and (predicate or len(out) == 1) and not out[-1][1].startswith(_NOUNISH)
           and not ((verb or nominal) and len(out) == 1)):
        out.pop()
    phrase = "".join(w for w, _ in out)
    # "对26个新改扩建项目进行了总量核定": the action done to them names the count ("总量核定新改扩建项目").
    action = re.match(r"(?:进行|开展|实施)了?([^，；：。！？、\d]{2,8}?)(?:[，；：。！？、]|$)", segment[len(phrase) :])
    if phrase and action:
        phrase = action.group(1) + phrase
    return _word_suffix(phrase, 16) if len(phrase) > 16 else phrase


# A rate of change: the direction word right before the figure, with 同比/环比 and a return's window before it
# ("近6个月下跌10.2%", "营业收入同比下降38.37%", "较前一交易日上涨0.34%").
_CHANGE = re.compile(
    r"(?P<window>近\d+个?(?:月|年|周|日)|较前一交易日)?(?P<noun>[^，；：。！？]*?)(?P<cmp>同比|环比)?"
    r"(?P<dir>上涨|下跌|增长|增加|上升|提升|提高|下降|减少|降低|回落|增|降|涨|跌)了?(?:约|近|超过|逾)?$"
)
# A change named after its figure, its modifiers before: "171.0%的惊人增长", "5%的降幅", "23.6%的双位数增长".
_CHANGE_AFTER = re.compile(r"[^，]{0,6}?(?P<dir>增长|增幅|涨幅|上涨|上升|下降|降幅|下跌|跌幅|减少)")
_DIRECTION_NOUN = {"上涨": "涨幅", "涨": "涨幅", "涨幅": "涨幅", "下跌": "跌幅", "跌": "跌幅", "跌幅": "跌幅", "下降": "下降率",
                   "降幅": "下降率", "减少": "下降率", "降低": "下降率", "回落": "下降率", "降": "下降率"}
CHANGE_SUFFIXES = ("涨幅", "跌幅", "增长率", "下降率")
_SAME_A_YEAR_BEFORE = re.compile(r"(?:上年|去年)同期(?:为|是)?")


def _change_metric(change: re.Match, raw: str, prev_metric: str) -> str:
    """营业收入同比下降率, 近6个月跌幅, 日涨幅: what changed (named here, else the previous figure's measure), its
    comparison and its direction."""
    noun = change.group("noun") or ""
    window = change.group("window") or ""
    inner = re.search(r"近\d+个?(?:月|年|周|日)", noun)
    if inner and not window:  # "历史数据显示该基金近1个月下跌": the window, and what follows it
        window, noun = inner.group(), noun[inner.end() :]
    noun = _TRAILING.sub("", _LEADING.sub("", noun)).strip("、")
    noun = re.sub(r"^(?:较|比)[^，]*?(?:同期|年|月|末|前)", "", noun)  # "较上年同期": the baseline, not the measure
    if len(noun) < 2:
        noun = prev_metric
    window = "日" if window == "较前一交易日" else window
    return window + noun + (change.group("cmp") or "") + _DIRECTION_NOUN.get(change.group("dir"), "增长率")


_CASUALTY = re.compile(CASUALTY)


def metric_phrase(sentence: str, start: int, end: int, prev_end: int = 0, prev_metric: str = "") -> str:
    """The words naming what the figure measures.

    A noun phrase after the figure's unit names it ("组织开展了28次文明志愿服务活动", "新建3座人工湿地和2个
    河流水质监测点位", "31件群众举报件已全部办结"); otherwise the words before it do ("处罚金额共计394.179万元"),
    from their head after a 的. A change against a baseline ("较“十三五”末改善23.4%") measures the
    previous figure's metric.
    """
    cut = max([sentence.rfind(c, 0, start) for c in "，；：。！？（"] + [prev_end - 1]) + 1
    if "）" in sentence[cut:start] and cut > 0 and sentence[cut - 1] == "（":
        # "获配金额（不含新股配售经纪佣金）为7883.77万元": a remark in brackets is not where the words begin
        cut = max([sentence.rfind(c, 0, cut - 1) for c in "，；：。！？（"] + [prev_end - 1]) + 1
    # A remark in brackets goes; so does a minus sign ("为-685.25万元"): the sign is the figure's.
    raw = _unquoted(re.sub(r"（[^（）]*）", "", sentence[cut:start])).rstrip("-−－+")
    pre = _TRAILING.sub("", _LEADING.sub("", raw)).strip("、")
    after = _unquoted(sentence[end:])
    hurt = _CASUALTY.match(after)
    if hurt and re.search(r"(?:人|名)$", sentence[start:end]):
        return hurt.group() + "人数"  # "其中一人重伤": how many were hurt
    within = re.match(f"内([{CJK}]{{2,8}}?)(?:[，；：。！？、{_CONJ}]|$)", after)
    if within and re.search(r"(?:分钟|小时|天|日|周|月|年)$", sentence[start:end]):
        return within.group(1) + "时间"  # "5分钟内智能识别": how long 智能识别 takes
    restated = _restated(sentence[prev_end:start] if prev_end else "", raw)
    if restated is not None and prev_metric:
        return prev_metric + restated  # "70亩（4.67公顷）", "30万美元，约合人民币218万元": the figure before, again
    post = _phrase_after(after).lstrip("、")
    rate = re.search(r"(?:%|％|个百分点|倍)$", sentence[start:end])
    change = _CHANGE.search(raw) if rate else None
    if change:
        return _change_metric(change, raw, prev_metric)
    named_after = _CHANGE_AFTER.fullmatch(post) if rate else None
    if named_after:  # "取得171.0%的惊人增长": the change is named after the figure
        return _DIRECTION_NOUN.get(named_after.group("dir"), "增长率")
    if _SAME_A_YEAR_BEFORE.fullmatch(raw.strip()) and prev_metric:
        return prev_metric  # "上年同期为8504.53万元": the same measure, a year before
    if _COMPARE.match(pre) and prev_metric:
        # "比上年减少": the change; "比一季报1.8次": the same measure, of the baseline
        last = pos_words(pre)[-1]
        return prev_metric + (last[0] if last[1].startswith("v") and len(last[0]) == 2 else "")
    if _ABOVE.match(raw) and prev_metric:
        return prev_metric  # "高于三个月前的52次": the same measure, at the time compared with
    if len(post) >= 2 or (post and (not pre or cut == prev_end or raw.rstrip()[-1:] in _CONJ)):
        return post
    if "的" in pre[:-1]:
        pre = pre[pre.rindex("的") + 1 :]
    pre = re.sub(r"^.*?指标(?=.{2,})", "", pre)  # "高质量发展指标PM2.5年均浓度": the indicator named after it
    if rate or sentence[start:end].endswith("成"):
        share = re.match(r"^(.{2,}?)(?:为|是|相当于)(?=.{2,})", pre)
        if share and pos_words(share.group(1))[-1][1].startswith(_NOUNISH):  # "跟投比例为帝奥微本次公开发行股票数量的3%": the share named, not what it is a share of
            pre = share.group(1)
    achieved = re.search(r"(?:创下|创出|实现|录得|取得|斩获)(?:了)?(?P<noun>[^，]{2,})$", pre)
    if achieved:  # "该股创下股价高点55.50元", "实现营业收入12亿元": what was achieved
        pre = achieved.group("noun")
    for idiom, name in _IDIOMS:  # "报收于22.26元": a closing price
        if idiom.search(pre):
            return name
    if len(pre) < 2 and not post and cut > 0 and sentence[cut - 1] in "，；：":
        # "北运河流域平均降水量最大，达到82毫米": named in the clause before
        return _previous_clause_noun(sentence[:cut - 1]) or pre
    return _word_suffix(pre, 14) if len(pre) > 14 else pre


def _respectively(sentence: str, m: re.Match) -> tuple[str | None, str] | None:
    """The (subject, measure) of one figure of "A、B和C分别增长5.9倍、49.5%和36.9%": its item with the measure the
    items share and the direction of the change (铝矿砂进口增长率), or its item as the subject when every item is a
    name; None unless the items and the figures after 分别 are as many."""
    at = sentence.rfind("分别", 0, m.start())
    opening = max(sentence.rfind(c, 0, at) for c in "，；：。！？") + 1
    listed = re.sub(r"(?:同比|环比|均)$", "", sentence[opening:at])
    items = [_LEADING.sub("", i).removeprefix("对") for i in re.split("[、和及与]", listed)]
    figures = [f.start() for f in figure_matches(sentence) if at < f.start()]
    if len(items) < 2 or not all(items) or len(items) != len(figures) or m.start() not in figures:
        return None
    shared = ""
    if "的" in items[-1]:  # "对加拿大和欧盟的出口": what all of them measure
        items[-1], shared = items[-1].split("的", 1)
    else:  # "铜矿砂、铝矿砂、铁矿砂进口": the last item is as long as the others, the rest is shared
        longest = max(len(i) for i in items[:-1])
        if len(items[-1]) > longest + 1:
            items[-1], shared = items[-1][:longest], items[-1][longest:]
    change = _CHANGE_AFTER.search(sentence, at, figures[0])
    item = items[figures.index(m.start())]
    measure = shared + (_DIRECTION_NOUN.get(change.group("dir"), "增长率") if change else "")
    # Names are what the figures are about ("对加拿大和欧盟的出口": 欧盟, 出口下降率; jieba names one at least);
    # else the items are measures.
    if len(measure) >= 2 and any(only_a_name(i) for i in items):
        return item, measure
    return None, item + measure


# What stands between the figures of a list, or between two counts of one thing ("62户84人"), when the later one
# names nothing after it.
_LIST_JOINT = re.compile(r"\s*[、和及与或]?\s*")


def _unquoted(text: str) -> str:
    """The text without its quotation marks: a quoted name reads as the words it is ("“一泓清水入黄河”生态保护工程")."""
    return text.replace("“", "").replace("”", "")


# A figure that restates the one before it in another unit or currency, the words between them:
# "70亩（4.67公顷）", "30万美元，约合人民币218万元", "当时这一数字是15次". The match is what the metric gains.
_RESTATED_BRACKET = re.compile(r"^\s*[（(]\s*(?:约|合|约合)?\s*$")
_CONVERTED = re.compile(r"(?:约合|折合|相当于)(?P<currency>人民币|美元|欧元|日元|港元|港币|英镑)?(?:约)?$")
_THIS_FIGURE = re.compile(r"(?:这一|该|这个|此)数字(?:为|是|达)?$")


def _restated(between: str, raw: str) -> str | None:
    """What a restated figure's metric adds to the one before ("折合人民币"), or None for a figure of its own."""
    if _RESTATED_BRACKET.match(between):
        return ""
    converted = _CONVERTED.search(raw)
    if converted:
        return "折合" + (converted.group("currency") or "")
    if _THIS_FIGURE.search(raw):
        return ""
    return None


# Fixed phrases of market reports that name their measure: 报收于 (closing price), 开盘报 (opening price).
_IDIOMS = ((re.compile(r"(?:报收|收报|收盘报?|收于)于?$"), "收盘价"), (re.compile(r"开盘(?:报|价)?于?$"), "开盘价"))
# A superlative or predicate that ends a clause naming a measure: "平均降水量最大".
_CLAUSE_PREDICATE = re.compile(r"(?:最大|最多|最高|最低|最少|最小|居首|第一|较大|较多|明显|显著)+$")


def _previous_clause_noun(text: str) -> str:
    """The measure named at the end of the clause before a bare figure ("…平均降水量最大"), its last words."""
    clause = text[_clause_start(text):]
    clause = _CLAUSE_PREDICATE.sub("", clause)
    clause = clause[clause.rfind("的") + 1 :]  # "…梭冲组的组级公路": the head after 的
    words_ = pos_words(clause)
    if not words_ or not words_[-1][1].startswith(_NOUNISH):
        return ""
    return _word_suffix(clause, 6)


# --- rule-based extraction --------------------------------------------------------------

# A year is a year only when the text says so: 2023年, 2023/24财年, 2023-08-09. "2000多人" and "每吨2061元" are
# figures, never years.
_FACT_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?=年|财年|/\d{2}财年|[-/.]\d{1,2}[-/.]\d{1,2})")
# The date a news item opens with ("2023-08-16 17:34", "[2023/08/14 13:52]", "202308/15"): the year of its figures.
_DATELINE = re.compile(r"^\W*(?P<date>(?P<year>(?:19|20)\d{2})\s*(?:[-/年.]\s*)?(?:0?[1-9]|1[0-2])\s*[-/月.]\s*\d{1,2}日?)")
# A year after 比/较/与 is the baseline a change is measured from ("比2019年下降9.6%"), not the figure's own.
_BASELINE = re.compile(r"(?:比|较|与|相比)$")
# The part of a year a figure is for, where its sentence says so before it: 上半年, 第二季度, 1—7月, 前7个月, 7月
# (a day, "7月19日", dates an event and is not a period).
_PERIOD_PART = re.compile(
    r"(?:(?P<year>(?:19|20)\d{2})(?P<fiscal>财)?年度?)?(?<!\d)(?P<part>上半年|下半年|前三季度|第?[一二三四1-4]季度|"
    r"\d{1,2}\s*[—–\-~至到]\s*\d{1,2}月|前\d{1,2}个?月|\d{1,2}月份?)(?!\d|[一二三四五六七八九十]+日)"
)


# A clause that is only a time: "2023年上半年", "今年1—7月", "截至6月底".
_TIME_CLAUSE = re.compile(r"(?:截至|截止|在|于)?(?:(?:19|20)\d{2}(?:财)?年度?|今年|去年)?[^，；：。]{0,8}?(?:半年|季度|月份?|月底|月末)")


def _period(year: int | None, part: re.Match | None) -> str:
    """2023年上半年, 2024财年第一季度, 2023年: the figure's year and the part of it the text names."""
    if part and part.group("year"):
        return f"{part.group('year')}{'财' if part.group('fiscal') else ''}年{part.group('part')}"
    if year is None:
        return ""
    return f"{year}年{part.group('part') if part else ''}"


# A figure of the same period a year before ("上年同期为8504.53万元"), unless it is the baseline of a change.
_LAST_YEAR = re.compile(r"(?<![比较与])(?:上年|去年)(?:同期)?(?:为|的|是)?$")


# Words that put a figure at the time of writing, whatever year the sentences before it were about.
_NOW = re.compile(r"目前|现在|如今|当前|至今|眼下|本月|本周|本季度|今日|昨日|当天|今天|昨天")


def article_date(text: str) -> str:
    """The date a news item opens with, as written ("2023-08-16"), or 未知 (what the extraction prompt is told)."""
    dated = _DATELINE.match(fold_width(text))
    return dated.group("date") if dated else "未知"


# A year that starts a span is not the period of what follows: "于2021年9月16日起任职", "是自1982年有统计以来",
# "自2019年开始"; nor is the year a change starts from for the figure it reaches ("由2008年的118公里增长到…2486公里").
_SINCE = re.compile(r"(?:年|\d{1,2}月|\d{1,2}日)*[^，。；]{0,8}?(?:起|以来|开始)")
_FROM = re.compile(r"(?:从|由)$")


@lru_cache(maxsize=4096)  # a sentence is read for each of its figures
def _own_years(text: str) -> tuple[int, ...]:
    """The years a text names as the period of what it reports, in order; baselines of a comparison and the
    starts of a span left out."""
    text = fold_width(text)
    out = []
    for m in _FACT_YEAR.finditer(text):
        before = text[max(0, m.start() - 2) : m.start()]
        if _BASELINE.search(before) or before.endswith("自") or _SINCE.match(text, m.end()):
            continue
        if _FROM.search(before) and re.search("到|至", text[m.end() :]):
            continue
        out.append(int(m.group(1)))
    return tuple(out)


# A magnitude on a scale: "5.5级地震", "12级台风", "8级大风" (48公斤级 and B级 are names).
_MAGNITUDE_SCALE = re.compile(r"级(?=地震|余震|台风|大风|阵风|风|强风|飓风)")
def _figure_year(sentence: str, before: str, clause: str, scope: _ArticleScope, para_year: int | None) -> int | None:
    """The year a figure is for: the one its sentence gives before it (on an undated page, anywhere in it); the
    date's for 今年, 目前 and 本月 in its own clause ("2022年，…，今年得到批复资金15.5万"); the year before for 上年同期;
    else the paragraph's, else the article's."""
    own_years = _own_years(before) or (() if scope.dated else _own_years(sentence))
    if scope.this_year:
        if not own_years and "今年" in sentence:
            own_years = (scope.this_year,)
        if _NOW.search(clause) or ("今年" in clause and not _own_years(clause)):
            own_years = (scope.this_year,)
        if _LAST_YEAR.search(clause):  # "上年同期为1.11亿元": the year before the report's
            own_years = (scope.this_year - 1,)
    return own_years[-1] if own_years else para_year or scope.year


# A qualifier written before a figure: "约3万元", "超过20倍".
_QUALIFIER_BEFORE = re.compile(r"(?:约|近|超过|超|逾)$")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:-|~|～|—|至|到)\s*$")


def _number(raw: str) -> float | None:
    if re.match(r"\d", raw):
        return float(raw.replace(",", ""))
    return cn_to_number(raw)


@dataclass
class _ArticleScope:
    """What an article says for all its figures: its main year, the year of writing, and (read when a figure first
    needs them) the place and the names it is about."""

    title: str
    text: str  # the article with its heading lines
    year: int | None
    this_year: int | None
    headline: str  # the title, unless it is only the document's id or file name
    body: str  # the article after its heading lines
    dated: bool = False  # the article opens with its date, which gives its figures' year over earlier sentences'
    # The subject each clause of the sentence being read opens with, by where it starts; cleared per sentence.
    clause_subjects: dict = field(default_factory=dict)

    @cached_property
    def place(self) -> str:
        return primary_place(self.title, self.text)

    @cached_property
    def subjects(self) -> ArticleSubjects:
        return article_subjects(self.headline, self.body)


# A slogan or a name in quotation marks is short and has no clause inside ("六个百分百", "十个点位"); a quotation
# longer than this, or with a comma, is reported speech, whose figures are facts like any other.
SLOGAN_MAX_CHARS = 10
# A sentence longer than this is read for figures in pieces cut at clause marks (or, failing those, at this length):
# everything done per figure reads the text before it in its sentence, so one 500 KB line without a full stop
# would cost quadratic time. Printed sentences stay far below it.
MAX_FACT_SENTENCE = 400


def bounded_spans(text: str, spans: list[tuple[int, int]], limit: int = MAX_FACT_SENTENCE) -> list[tuple[int, int]]:
    """The spans, each longer than `limit` cut into consecutive pieces of at most `limit` characters, at the last
    clause mark inside each piece where there is one."""
    out = []
    for s, e in spans:
        while e - s > limit:
            cut = max(text.rfind(c, s + 1, s + limit) for c in "，；、：,;")
            cut = cut + 1 if cut > s else s + limit
            out.append((s, cut))
            s = cut
        out.append((s, e))
    return out


_DURATION_UNITS = ("年", "个月", "月", "周", "天", "日", "小时", "分钟", "周年")
# A duration is a fact only as the quantity reported: a sentence, a time limit, a headway, a lock-up, a journey
# ("有期徒刑6个月", "最短发车间隔3分钟", "锁定24个月", "缩短1至2天", "连续5年稳定"); "开通运营15年" and "近1个月下跌"
# are periods in passing.
_DURATION_REPORTED = re.compile(r"徒刑|缓刑|拘役|间隔|锁定|限售|缩短|延长|提前|预计|历时|用时|耗时|时限|期限|工期|连续|天数|需要|只需|仅需")
# A number that is part of a name or a grade: "48公斤级", "240型", "30万千瓦光伏发电项目".
_NAMED_BY_NUMBER = re.compile(r"[级型号式]|光伏|机组")
# A schedule: "每月举行1次".
_SCHEDULE = re.compile(r"每(?:年|季度?|月|周|天|日|场|次)")
# A count of the items just named: after 这/该/上述, or right after names joined by 和 or 、.
_COUNT_WORDS = ("家", "个", "位", "名", "所", "座", "起", "件", "项", "批")
_POINTS_BACK = re.compile(f"(?:这|那|该|上述|以上|此)$|[{CJK}]{{2,}}(?:和|与|及|、)[{CJK}]{{2,}}(?:公司|集团|机构|银行|企业)$")
# A comparison's other side opens with 与/和/同: "与汾渭平原15个城市比".
_BASELINE_GROUP = re.compile(r"(?:与|和|同|跟)[^，；：。]{0,10}$")
# A vague amount: "数十年", "上百辆", "几十名", "成千".
_VAGUE = re.compile(r"(?:数|几|上|成|好几)$")


# What may stand between a clause's subject and the words naming its figure: a listing code, a period.
_AFTER_SUBJECT = re.compile(
    r"^[\s（）()]*(?:\d{5,6}(?:\.[A-Za-z]{2})?)?[\s（）()]*(?:于|在)?(?:(?:19|20)\d{2}(?:/\d{2})?财?年度?)?"
    r"(?:上半年|下半年|前三季度|第?[一二三四]季度)?")


# A time said inside the words before a figure ends what is not its measure: the subject and the time come first,
# and the period has its own field.
_EMBEDDED_TIME = re.compile(
    r"^.*?(?:于|在)?(?:19|20)\d{2}(?:/\d{2})?财?年度?(?:上半年|下半年|前三季度|第?[一二三四]季度|\d{1,2}(?:—\d{1,2})?月份?)?")


def _without_subject(metric: str, subject: str) -> str:
    """A metric read from words that open with its subject, without it: "洪都航空600316报收于" -> "报收于",
    "L’OCCITANE于2024财年第一季度按固定汇率计算增长率" -> "按固定汇率计算增长率"."""
    if not subject or not metric.startswith(subject):
        return metric
    rest = _AFTER_SUBJECT.sub("", metric[len(subject):]).lstrip("、")
    return rest if len(rest) >= 2 else metric


def _says_nothing(metric: str, subject: str) -> bool:
    """True when a metric names no measured thing: the subject and a verb ("日本队赢得"), or a placeholder. A verb
    alone says what happened to part of the figure before ("已办结360件") and is kept."""
    if metric == "数值":
        return True
    if not subject or not metric.startswith(subject):
        return False
    rest = metric[len(subject):]
    return not rest or all(flag[0] in "vdpcu" for _, flag in pos_words(rest))


def _article_subject(scope: _ArticleScope) -> str:
    """What an article's figures are about where their clause names nothing: its topic, or its place when the
    topic is that place's office ("晋城市生态环境局高平分局" reports the figures of 高平市)."""
    topic = scope.subjects.topic
    if topic and not scope.subjects.topic_is_place:  # a company, a fund, a body: no county's office stands for it
        return topic
    if scope.place and (not topic or short_place(scope.place) in topic):
        return scope.place
    return topic or scope.place


# The opening of a frame clause "在…上/中", up to 在 (and the wire or linking word before it).
_FRAME = re.compile(r"^[^，]{0,4}?在(?=[^，]{2,}(?:上|中)$)")


def _earlier_subject(before: str, scope: _ArticleScope, since: int, prev_subject: str) -> str | None:
    """Who a figure whose clause names nobody is about, from the clauses of its sentence before it, nearest first:
    the name a clause opens with ("北运河流域平均降水量最大，达到82毫米"; a frame, "而在微软的电话会上，…"); at the
    figure before it (ending at `since`), that figure's subject, which the clauses after it go on about. Not in a
    local office's bulletin, whose figures are its place's whatever its clauses name first, and never an
    administrative place (the place rules have read the clause)."""
    topic = scope.subjects.topic
    if scope.place and topic and topic != scope.place and short_place(scope.place) in topic:
        return prev_subject or None
    read = scope.clause_subjects  # the figures of a sentence read the same clauses: each is read once
    ends = [m.start() for m in re.finditer("[，；：]", before)]
    for k in range(len(ends) - 1, -1, -1):  # the clause ending at ends[k], nearest first
        start = ends[k - 1] + 1 if k else 0
        if start < since and prev_subject:
            return prev_subject
        if start not in read:
            read[start] = clause_subject(_FRAME.sub("", before[start : ends[k]]), before[:start], scope.subjects,
                                         whole=True)
        if read[start]:
            return None if read[start][-1] in ADMIN_SUFFIXES else read[start]
    return prev_subject or None


def _clause_start(before: str) -> int:
    """Where the clause that ends `before` (the text of a sentence before a figure) starts."""
    return max(before.rfind(c) for c in "，；：。！？") + 1


def _reports_a_figure(sentence: str, m: re.Match) -> bool:
    """False for numbers the rules of news_facts_dev's README exclude: periods in passing, numbers in names and
    grades, vague amounts."""
    unit = m.group("unit") or ""
    before = sentence[: m.start()]
    clause = before[_clause_start(before) :]
    after = sentence[m.end() : m.end() + 4]
    if unit in _DURATION_UNITS and not (_DURATION_REPORTED.search(clause) or re.match(r"内|左右|后到|就", after)):
        return False
    if unit in _DURATION_UNITS and re.search(r"(?:近|最近|过去|未来)$", before):
        return False  # "近90天内共有3家投行", "预计未来2小时": a window of time, not a quantity reported
    if unit == "岁":
        return False  # ages are not facts
    if unit == "号线" or (not unit and re.fullmatch(r"(?:19|20)\d{2}\.(?:0[1-9]|1[0-2])", m.group("num"))):
        return False  # "地铁12号线" names a line; "1984.09--1988.07" are months of a résumé
    if unit and _NAMED_BY_NUMBER.match(after) and unit not in ("%", "个百分点"):
        return False
    if unit in ("位", "名") and re.search(r"(?:排在|排名|位列|位居|居|列)?前$", before):
        return False  # "排在前三位": a rank
    if unit == "次" and _SCHEDULE.search(clause):
        return False  # "每月举行1次": a schedule
    if unit in _COUNT_WORDS and _POINTS_BACK.search(before):
        return False  # "这两家评级巨头", "穆迪公司和标普全球公司两家": the items just named, counted
    if m.group("num") in ("零", "〇"):
        return False  # "零头", "零容忍"
    if m.group("num") in ("1", "一") and unit in ("名", "位", "个", "人") and before.endswith("有") \
            and not re.match(CASUALTY, sentence[m.end():]):
        return False  # "某写字楼有1名在逃人员出现": "one" as "a", not a count
    if _BASELINE_GROUP.search(clause) and re.match(f"[{CJK}]{{0,6}}(?:比|相比)", sentence[m.end():]):
        return False  # "与汾渭平原15个城市比": the group compared with, not a figure reported
    return m.group("num")[0].isdigit() or not _VAGUE.search(before)


def _in_slogan(sentence: str, at: int) -> bool:
    """True when position `at` lies inside a slogan or name in “…”, or inside a title in 《…》."""
    before = sentence[:at]
    if before.count("《") > before.count("》"):
        return True
    opened = before.rfind("“")
    if opened < 0 or before.rfind("”") > opened:
        return False
    closed = sentence.find("”", at)
    quoted = sentence[opened + 1 : closed] if closed >= 0 else ""
    return 0 < len(quoted) <= SLOGAN_MAX_CHARS and not re.search(r"[，。；：！？,;]", quoted)


class RuleFactExtractor:
    """Offline figures: numerals of both kinds, decimals, 万/亿, %, 个百分点, ranges, 余/多/约/以上, units; the
    metric from the noun phrase after the figure or the words before it; subject and year from the sentence, then
    paragraph, then article."""

    name = "rules"

    def extract(self, doc: ParsedDocument, chunks: list[Chunk], doc_id: str, source: str) -> list[Fact]:
        facts: list[Fact] = []
        for a_idx, article in enumerate(doc.articles):
            body = doc.text[article.start : article.end]
            named = [m.group(1) for m in _FACT_YEAR.finditer(fold_width(body))]
            years = [int(y) for y in named]
            main = most_named(named)
            dated = _DATELINE.match(fold_width(doc.text[article.body_start : article.end]))
            written = int(dated.group("year")) if dated else None
            scope = _ArticleScope(
                title=article.title,
                text=body,
                # A news item's figures are of the year it is dated, unless the text says otherwise; an undated
                # page's are of the year it names most.
                year=written or (int(main) if main else None),
                # "今年" is the year of writing: the date's, else at least the latest year the article names.
                this_year=written or (max(years) if years else None),
                dated=written is not None,
                # A title that is only the document's id or file name names no subject.
                headline="" if article.title in (doc_id, Path(doc_id).stem, Path(source).stem) else article.title,
                body=doc.text[article.body_start : article.end],
            )
            article_chunks = [c for c in chunks if c.article == a_idx]
            prev_metric = ""
            para_start, para_year = -1, None  # the paragraph read, and the last year it named before this sentence
            for s, e in bounded_spans(doc.text, sentence_spans(doc.text, article.body_start, article.end)):
                sentence = doc.text[s:e]
                # The paragraph's start, never before the article's (its first paragraph may have no line above it).
                start = max(doc.text.rfind("\n", article.start, s) + 1, article.start)
                if start != para_start:
                    para_start, para_year = start, None
                prev_end, prev, sentence_facts = 0, None, len(facts)
                scope.clause_subjects.clear()
                for m in figure_matches(sentence, signed=True):
                    if _in_slogan(sentence, m.start()):
                        continue  # a number inside a slogan or a name ("六个百分百", "十个点位") is not a fact
                    if not _reports_a_figure(sentence, m):
                        continue
                    fact = self._fact(m, sentence, doc.text, scope, para_year, prev_end, prev_metric, prev)
                    prev_end = m.end()
                    if fact is None:
                        continue
                    prev = fact
                    if not fact.metric.endswith(CHANGE_SUFFIXES):  # a change measures the figure before it
                        prev_metric = fact.metric
                    offset = s + m.start()
                    chunk = next((c for c in article_chunks if c.start <= offset < c.end), None)
                    fact.title, fact.source, fact.doc_id = full_heading(article.title, article.subtitle), source, doc_id
                    fact.chunk_id = chunk.chunk_id if chunk else ""
                    facts.append(fact)
                # A year carries on to the sentences after it when figures of this one were given it ("帝奥微2022年营业
                # 收入为5.02亿元…；归属于…净利润为1.74亿元"), not a year said in passing ("自1982年有统计以来").
                said = _own_years(sentence)
                if said and any(f.year == said[-1] for f in facts[sentence_facts:]):
                    para_year = said[-1]
        return facts

    def _fact(self, m: re.Match, sentence: str, text: str, scope: _ArticleScope, para_year: int | None,
              prev_end: int = 0, prev_metric: str = "", prev: Fact | None = None):
        """The fact a figure states; `prev` is the fact before it in its sentence, `prev_metric` the last measure
        named before it in the article."""
        prev_unit = prev.unit if prev else None
        value = _number(m.group("num"))
        if value is None:
            return None
        if negative(sentence, m):  # "净利润为-685.25万元": a loss, as written
            value = -value
        unit = (m.group("mag") or "") + (m.group("unit") or "").replace("％", "%")
        if not unit and _MAGNITUDE_SCALE.match(sentence, m.end()):
            unit = "级"  # "5.5级地震", "12级大风": a magnitude
        before = sentence[: m.start()]
        value_max = None
        rng = _RANGE.search(before)
        if rng:  # "3至5个": the figure is the range's upper end
            value, value_max = float(rng.group(1)), value
        qualifier = m.group("qual") or m.group("qual_mag") or m.group("qual2")
        said_before = _QUALIFIER_BEFORE.search(before)
        if said_before:
            qualifier = said_before.group()
        if sentence[m.end() : m.end() + 2] == "以上":
            qualifier = "以上"
        clause_start = _clause_start(before)
        clause = before[clause_start:]
        year = _figure_year(sentence, before, clause, scope, para_year)
        # The period is said in the figure's clause, or in a clause of its own that sets the time of what follows
        # ("2023年上半年，我国服务进出口总额…").
        parts = list(_PERIOD_PART.finditer(fold_width(clause)))
        if not parts:
            timed = [c for c in re.split("[，；：]", before[:clause_start]) if _TIME_CLAUSE.fullmatch(fold_width(c))]
            parts = list(_PERIOD_PART.finditer(fold_width(timed[-1]))) if timed else []
        period = _period(year, parts[-1] if parts else None)
        if not parts and prev and prev.year == year and prev.period:
            period = prev.period  # "2023年上半年营业收入为1.81亿元，同比下降38.37%": the change is of the same half
        subject = (_sentence_place(clause, scope, text)
                   or clause_subject(clause, before, scope.subjects)
                   or _earlier_subject(before[:clause_start], scope, prev_end, prev.subject if prev else "")
                   or _article_subject(scope) or "未知")
        listed = prev and _LIST_JOINT.fullmatch(sentence[prev_end : m.start()])
        if listed and len(_phrase_after(_unquoted(sentence[m.end() :]))) < 2:
            # "分别下降2.9%、4.6%和6.6%", "62户84人": the same measure, of the next item or in another unit
            metric = prev.metric
        else:
            metric = metric_phrase(sentence, m.start(), m.end(), prev_end, prev_metric) or "数值"
        paired = _respectively(sentence, m) if "分别" in clause else None
        if paired:
            subject, metric = paired[0] or subject, paired[1]
        if unit == prev_unit and prev_metric and _says_nothing(metric, subject):
            metric = prev_metric  # "5枚金牌中，日本队赢得4枚": a part of the figure before it
        elif unit == prev_unit and prev_metric and (name := only_a_name(metric)) and metric in clause:
            metric, subject = prev_metric, name  # "…提到了10次，而穆迪仅为3次": the same measure, of another
        metric = _without_subject(metric, subject)
        timed = _EMBEDDED_TIME.match(metric)
        if timed and len(metric) - timed.end() >= 2:  # "L’OCCITANE于2024财年第一季度按固定汇率计算增长率"
            metric = metric[timed.end() :]
        span_end = min([i for i in (sentence.find(c, m.end()) for c in "，；。！？") if i >= 0] or [len(sentence)])
        try:
            return Fact(
                subject=subject, year=year, metric=metric[:40], value=value, value_max=value_max, unit=unit,
                qualifier=qualifier, span=strip_spaces(sentence[clause_start:span_end]) or m.group(0),
                context=strip_spaces(sentence), period=period,
            )
        except ValidationError:
            return None


# --- LLM extraction ---------------------------------------------------------------------


class _Draft(BaseModel):
    subject: str
    year: int | None = None
    period: str = ""
    metric: str
    value: float
    value_max: float | None = None
    unit: str = ""
    qualifier: str | None = None
    span: str


class LLMFactExtractor:
    """Facts from an LLM with prompts/extract_facts.md; each reply is validated against the schema, retried
    with the validation error a bounded number of times, then skipped with a warning."""

    name = "llm"

    def __init__(self, client, prompts_dir: str | None = None, retries: int = 2):
        self.client = client
        self.prompts_dir = prompts_dir
        self.retries = retries
        self.warnings: list[str] = []

    def extract(self, doc: ParsedDocument, chunks: list[Chunk], doc_id: str, source: str) -> list[Fact]:
        from ..errors import LLMError
        from ..llm.prompts import load, placeholders, render

        facts: list[Fact] = []
        wanted = placeholders(load("extract_facts", self.prompts_dir))  # a folder of older prompts has no {date}
        for chunk in chunks:
            if not figure_matches(chunk.text):
                continue  # a chunk with no figures yields nothing, without a call
            article = doc.articles[chunk.article] if 0 <= chunk.article < len(doc.articles) else None
            values = {"title": full_heading(chunk.title, chunk.subtitle), "text": chunk.text,
                      "date": article_date(doc.text[article.body_start : article.end]) if article else "未知"}
            prompt = render("extract_facts", self.prompts_dir, **{k: v for k, v in values.items() if k in wanted})
            for attempt in range(self.retries + 1):
                try:
                    reply = self.client.complete(prompt, max_tokens=1500)
                except LLMError as exc:
                    self.warnings.append(f"{doc_id} 段落 {chunk.chunk_id}：{exc}，已跳过。")
                    break
                drafts, error = parse_drafts(reply, chunk.text)
                if error is None:
                    facts.extend(
                        Fact(**d.model_dump(), title=full_heading(chunk.title, chunk.subtitle), source=source, doc_id=doc_id, chunk_id=chunk.chunk_id,
                             context=_sentence_of(chunk.text, d.span))
                        for d in drafts
                    )
                    break
                if attempt == self.retries:
                    self.warnings.append(f"{doc_id} 段落 {chunk.chunk_id}：大模型输出不符合格式（{error}），已跳过。")
                else:
                    prompt += f"\n\n上一次的输出不符合要求：{error}\n请只输出符合字段要求的 JSON 数组。"
        return facts


def _sentence_of(text: str, span: str) -> str:
    plain = strip_spaces(text)
    at = plain.find(strip_spaces(span))
    if at < 0:
        return strip_spaces(span)
    for a, b in sentence_spans(plain):
        if a <= at < b:
            return plain[a:b]
    return strip_spaces(span)


def parse_drafts(reply: str, chunk_text: str) -> tuple[list[_Draft], str | None]:
    """Validate an LLM reply: a JSON array of facts whose spans are quoted from the chunk."""
    body = reply.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return [], f"不是有效的 JSON（{exc.msg}）"
    if not isinstance(data, list):
        return [], "应是 JSON 数组"
    drafts = []
    for i, item in enumerate(data):
        try:
            draft = _Draft.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            return [], f"第 {i + 1} 项字段 {'.'.join(map(str, first['loc']))}：{first['msg']}"
        if strip_spaces(draft.span) not in strip_spaces(chunk_text):
            return [], f"第 {i + 1} 项的 span 不是原文"
        drafts.append(draft)
    return drafts, None


def make_extractor(settings) -> FactExtractor:
    """The extractor chosen by settings.facts_extractor (the LLM one only when an LLM is configured)."""
    from ..llm.client import LLMClient

    if settings.facts_extractor == "llm" and settings.llm_configured:
        return LLMFactExtractor(LLMClient(settings), settings.prompts_directory, settings.facts_llm_retries)
    return RuleFactExtractor()
