"""Question analysis, done once per question: what it asks for (its kind), the places, years and unit it is
scoped to, and its content words. The frame flows down through retrieval and answering; no later stage
re-derives it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from ..text.chars import CJK, cjk_count, fold_width, latin_word_count
from ..text.figures import years_in
from ..text.names import ADMIN_SUFFIXES, pinyin_syllables, places_sounding, ROLE_WORDS, short_place
from ..text.tokens import pos_words, rarity, STOPWORDS, words

_REASON_Q = re.compile(r"为什么|为何|什么原因|原因是|原因为|因为什么|由于什么|何故")
# Questions whose answer is a clause or sentence that states it, not a short span.
_METHOD_Q = re.compile(r"如何|怎样|怎么(?!样)|采取了?哪些|哪些措施|什么措施|什么办法|目的是什么|目的是|意义是什么|作用是什么|是什么样的?")
_DATE_Q = re.compile(r"哪天|哪一天|几月几[日号]|何时|什么时候|什么时间|哪日|几号(?!线)|日期|哪个月|几月份?")
_DEADLINE_Q = re.compile(r"(?:什么时候|何时|哪天|哪一天|什么时间|几月几[日号]|哪个月|几月份?)(?:之|以)前")
_YEAR_Q = re.compile(r"哪一?年|哪个年份|什么年份|何年")
_PERSON_Q = re.compile(r"谁|哪位|叫什么名字|叫什么|姓名|名字")
_AUTHOR_Q = re.compile(r"作者|记者|撰稿|谁写|署名|采写|报道.{0,3}谁")
_FIGURE_Q = re.compile(r"多少|几[^月号日]|多大|多高|多长|多重|多远|比例|百分之|占比|率是")
_RANK_Q = re.compile(r"第几|排名多少|排名如何|名次")
# A question with no question word that ends in a metric noun asks for its figure ("沁水县土壤安全利用率").
_METRIC_END = re.compile(r"(?:率|金额|数量|浓度|指数|比例|面积|总量|人数|天数|次数|资金|投资|产量|规模)$")
_WH_WORDS = ("多少", "几", "哪", "谁", "什么", "何", "怎")
_WHERE_Q = re.compile(r"哪里|哪儿|什么地方|何地|何处|在哪")
_WHICH_Q = re.compile(
    r"(?:哪个|哪些|哪一个|哪一|哪家|哪座|哪条|哪项|什么样的|什么样|哪|什么|何)(?P<head>[" + CJK + r"A-Za-z]{1,8})"
)
# Places a "哪个X" question asks for, nouns whatever jieba tags them ("哪个县公布了": 县 is tagged zg).
_PLACE_HEADS = frozenset(ADMIN_SUFFIXES + "镇乡村港")

_QUESTION_FILLERS = frozenset("是 有 为 叫 到 了 在 开 去 能 会 被 由 给 对 这次 那篇 那 这 该 其 一共 总共 共 已经 今年 现在 目前".split())

# Units a question may name after 多少/几 ("多少件", "几处"); compatible units share a family.
UNIT_FAMILY = {
    "件": "件", "起": "件", "宗": "件",
    "家": "家", "家次": "家次", "户": "户", "户次": "户",
    "个": "个", "项": "项", "处": "处", "辆": "辆", "台": "台", "座": "座", "条": "条", "套": "套",
    "名": "人", "人": "人", "位": "人", "人次": "人次", "次": "次", "天": "天", "日": "天", "小时": "小时",
    "所": "所", "批": "批", "类": "类", "只": "只", "棵": "棵", "株": "棵", "场": "场", "期": "期", "块": "块",
    "号线": "号线", "艘": "艘", "架": "架",
}
_UNIT_HINTS = [
    (re.compile(r"钱|金额|资金|投资|罚款|经费|费用|元"), ("元",)),
    (re.compile(r"浓度"), ("克/立方米", "微克", "毫克")),
    (re.compile(r"比例|比率|占比|百分|率"), ("%", "百分点")),
    (re.compile(r"面积"), ("平方米", "平方公里", "亩", "公顷")),
    (re.compile(r"重量|吨"), ("吨",)),
    (re.compile(r"长度|距离|多长|多远"), ("公里", "米", "千米")),
]
# "增长了多少", "同比下降多少": a change asked without a unit is a rate (12%, 3个百分点, 2倍), never an amount.
_GROWTH_Q = re.compile(r"(?:增长|增幅|涨幅|上涨|上升|下降|降幅|下跌|跌幅|下滑|提高|提升|回升|减少|增加)了?(?:多少|几)(?![^，。？]*(?:元|人|吨|件|个|家|辆))"
                       r"|(?:同比|环比)[^，。？]{0,6}(?:多少|几)")
RATE_UNITS = ("%", "百分点", "倍", "成")
_ADMIN = re.compile(f"[{CJK}]{{2,6}}?[{ADMIN_SUFFIXES}]$")
LOCATIVE = "内里中上下旁边处"
# The question word itself, where the answer would stand in a statement ("检查了[多少]家次企业").
_WH_WORD = re.compile(r"多少|几|哪一?[个位家座条种年天]?|谁|什么|何[时地处人]?|怎样|怎么|如何")
_QUESTION_PUNCT = re.compile(r"[？?！!。，,、；;：:“”\"'《》（）()\s]")
_WH_START = re.compile(r"^(?:多少|几|哪|谁|什么|何)")
ROLE_PATTERN = "(?:" + "|".join(ROLE_WORDS) + ")"


# What a question asks for, which decides the spans that can answer it: a figure with its unit, a date, a year, a
# person, an article's author (a byline), a place, "哪个X" (an X the question names), a rank (第几), the clause
# that gives a reason (为什么) or a method (如何), or anything else (other).
QuestionKind = Literal["figure", "date", "year", "person", "author", "place", "which", "rank", "reason", "method",
                       "other"]


@dataclass(frozen=True)
class QuestionFrame:
    """What a question asks for and what an answer must satisfy."""

    question: str  # the question as asked (normalized, standalone, punctuation kept): what retrieval reads
    text: str  # the same without trailing punctuation: what span checks compare against
    kind: QuestionKind
    places: list[str] = field(default_factory=list)  # must appear in the answer's article
    years: list[str] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)  # content words -> weight
    unit_family: str | None = None
    unit_hints: tuple[str, ...] = ()
    head: str | None = None  # "哪个社区" -> "社区"
    head_text: str = ""  # the question's words around the head: "国考断面"
    left: list[str] = field(default_factory=list)  # content words just before the question word
    right: list[str] = field(default_factory=list)  # content words just after it (and its unit/head)
    role: str | None = None  # "副局长" in "副局长叫什么名字"
    deadline: bool = False  # "在什么时候之前办结": the date asked is a deadline, written "5月底前"
    wh_left: str = ""  # the question's text before its question word ("沁水分局2024年一共检查了")
    wh_right: str = ""  # ... and after it ("家次企业和单位")
    language: str = "zh"  # "en": asked in English (or another Latin-script language) about the Chinese articles
    latin_names: list[str] = field(default_factory=list)  # English: names written in pinyin ("qinshui"), to be found
    sounds_like: dict[str, list[str]] = field(default_factory=dict)  # English: each name's places that read so (沁水)

    @cached_property
    def term_total(self) -> float:
        """The weight of all the question's content words: what a text covering every one of them holds."""
        return sum(self.terms.values())


def analyze(question: str) -> QuestionFrame:
    """The frame of one self-contained question (normalize and condense it first)."""
    q = fold_width(question).strip().rstrip("？?。!！ ")
    if is_latin_question(q):
        return _analyze_latin(question, q)
    kind = "other"
    if _REASON_Q.search(q):
        kind = "reason"
    elif (mq := _METHOD_Q.search(q)) and not _FIGURE_Q.search(q) and not re.search(r"什么(?!样)|哪", q[: mq.start()]):
        kind = "method"  # "如何发放", not "什么论坛可以了解到…如何…"
    elif _AUTHOR_Q.search(q) and _PERSON_Q.search(q):
        kind = "author"
    elif _DATE_Q.search(q):
        kind = "date"
    elif _YEAR_Q.search(q):
        kind = "year"
    elif _PERSON_Q.search(q):
        kind = "person"
    elif _RANK_Q.search(q):
        kind = "rank"
    elif _FIGURE_Q.search(q) or (_METRIC_END.search(q) and not any(w in q for w in _WH_WORDS)):
        kind = "figure"
    elif re.search(r"(?:哪个|哪些|哪一|哪座|哪条|哪家)[" + CJK + "]", q) and not re.search(r"哪个地方|哪个位置", q):
        kind = "which"
    elif _WHERE_Q.search(q):
        kind = "place"
    elif _WHICH_Q.search(q):
        kind = "which"

    years = list(dict.fromkeys(years_in(q)))
    ws = words(q)
    places: list[str] = []
    for i, w in enumerate(ws):
        nxt = ws[i + 1] if i + 1 < len(ws) else ""
        if _WH_START.match(w):
            continue
        if _ADMIN.match(w) or (nxt in ("分局", "县", "市", "区") and re.fullmatch(f"[{CJK}]{{2,4}}", w)):
            short = short_place(w)
            if short not in places:
                places.append(short)
    for w, flag in pos_words(q):
        if flag == "ns" and len(w) >= 2 and _ADMIN.match(w) and short_place(w) not in places:
            places.append(short_place(w))

    unit_family = None
    m = re.search(r"(?:多少|几)(个百分点|百分点|家次|人次|户次|号线|[件起宗家户个项处辆台座条套名人位次天日所批类只棵株场期块艘架])", q)
    if m:
        unit_family = UNIT_FAMILY.get(m.group(1), m.group(1))
    if kind == "other" and unit_family:
        kind = "figure"  # "几号线", "多少艘": a count in the unit asked for
    hints: tuple[str, ...] = ()
    for pattern, units in _UNIT_HINTS:
        if pattern.search(q):
            hints += units
    if unit_family is None and _GROWTH_Q.search(q):
        hints = RATE_UNITS  # "同比增长了多少" asks for a rate, never an amount

    head, head_text = None, ""
    if kind == "which":
        hm = _WHICH_Q.search(q)
        if hm:
            head_text = re.split(f"[的是有在了{LOCATIVE}]|出现|开展|进行", hm.group("head"))[0]
            # The head noun is the noun run right after the question word, before any verb:
            # "由什么机构发行" -> 机构, "哪两个板块碰撞形成" -> 板块.
            nouns: list[str] = []
            for w, flag in pos_words(head_text):
                if flag.startswith(("n", "j")) or (flag == "x" and w.isalpha()) or w in _PLACE_HEADS:
                    nouns.append(w)
                elif nouns or not flag.startswith(("m", "q", "r")):
                    break
            if nouns:
                head_text = "".join(nouns)
                head = nouns[-1]
            else:
                head_words = words(head_text)
                head = head_words[-1] if head_words else None

    terms: dict[str, float] = {}
    covered_places = set(places)
    for w in ws:
        wl = w.lower()
        if (
            wl in STOPWORDS
            or wl in _QUESTION_FILLERS
            or re.fullmatch(r"(?:19|20)\d{2}年?|年", wl)
            or short_place(w) in covered_places
            or w in ("多少", "几", "哪", "谁", "什么")
            or _FIGURE_Q.fullmatch(w)
            or (unit_family and UNIT_FAMILY.get(w) == unit_family)
            or (head and (w in head_text or w.rstrip(LOCATIVE) == head))
            or re.fullmatch(r"[多余几]?[只个家件项处名位条座台辆套]|多[只个家件项处名位条座台辆套]", w)
            or re.fullmatch(r"[哪几何]\S*", w)
        ):
            continue
        terms[wl] = max(terms.get(wl, 0.0), rarity(wl))
    left, right = _anchors(ws, terms)
    role_m = re.search(ROLE_PATTERN + r"(?=是谁|叫什么|姓名|名字|是哪位|为谁)", q)
    wh = _WH_WORD.search(q)
    return QuestionFrame(
        question, q, kind, places, years, terms, unit_family, hints, head, head_text, left, right,
        role_m.group(0) if role_m else None,
        deadline=kind == "date" and bool(_DEADLINE_Q.search(q)),
        wh_left=_QUESTION_PUNCT.sub("", q[: wh.start()]) if wh else "",
        wh_right=_QUESTION_PUNCT.sub("", q[wh.end() :]) if wh else "",
    )




def unit_fits(frame: QuestionFrame, unit: str) -> bool:
    """Whether a figure in this unit can answer the frame's figure question: money in 元, a concentration in 微克/立方米,
    a count of days in 天; a bare number answers none of these."""
    if frame.unit_family:
        return UNIT_FAMILY.get(unit, unit) == frame.unit_family
    if frame.unit_hints:
        return any(h in unit for h in frame.unit_hints)
    return bool(unit)


def _anchors(ws: list[str], terms: dict[str, float]) -> tuple[list[str], list[str]]:
    """The question's content words nearest the question word, two on each side."""
    at = next((i for i, w in enumerate(ws) if _WH_START.match(w)), None)
    if at is None:
        return [], []
    left = [w.lower() for w in reversed(ws[:at]) if w.lower() in terms or w in ("由", "被")][:2]
    right = [w.lower() for w in ws[at + 1 :] if w.lower() in terms][:4]
    return left, right


# --- questions asked in English ---------------------------------------------------------------

# A question with fewer Chinese characters than this and at least two Latin words is read as English.
MIN_CJK_FOR_CHINESE = 2
_EN_KINDS = [  # first match wins, as in the Chinese rules above
    ("year", re.compile(r"\b(?:what|which|in which) year\b", re.I)),
    ("date", re.compile(r"\b(?:when|what date|which date|what day|which day|what time)\b", re.I)),
    ("person", re.compile(r"\b(?:who|whom|whose)\b", re.I)),
    ("figure", re.compile(
        r"\bhow (?:much|many|large|big|high|long|far|heavy)\b|\bwhat (?:percentage|proportion|share|ratio|rate)\b"
        r"|\bwhat (?:is|was|were|are) the (?:[\w.]+ ){0,4}?(?:amount|number|total|sum|rate|ratio|percentage|proportion"
        r"|share|concentration|level|value|area|output|volume|size|figure|count|price|cost|growth)\b", re.I)),
    ("place", re.compile(r"\bwhere\b|\bwhich (?:city|county|province|district|town|village|place|country)\b", re.I)),
]
# What an English figure question is measured in: the unit a Chinese figure must carry to answer it.
_EN_UNIT_HINTS = [
    (re.compile(r"\b(?:fines?|penalt\w*|money|yuan|rmb|invest\w*|funds?|funding|budget|costs?|revenue|income|"
                r"spen[dt]\w*|subsid\w*|compensation|price)\b", re.I), ("元",)),
    (re.compile(r"\b(?:concentration|pm2\.5|pm10|micrograms?)\b", re.I), ("克/立方米", "微克", "毫克")),
    (re.compile(r"\b(?:percent(?:age)?|rate|ratio|proportion|share)\b|%", re.I), ("%", "百分点")),
    (re.compile(r"\b(?:area|hectares?|mu|square)\b", re.I), ("平方米", "平方公里", "亩", "公顷")),
    (re.compile(r"\b(?:tons?|tonnes?)\b", re.I), ("吨",)),
]
_EN_COUNTS = [  # "how many days" counts in 天
    (re.compile(r"\bdays?\b", re.I), "天"), (re.compile(r"\b(?:people|persons?|residents|workers|visitors)\b", re.I), "人"),
    (re.compile(r"\b(?:cases?|violations?)\b", re.I), "件"),
    (re.compile(r"\b(?:companies|enterprises|firms|businesses)\b", re.I), "家"), (re.compile(r"\btimes\b", re.I), "次"),
]
_EN_ADMIN = re.compile(r"\s+(?:County|City|District|Province|Prefecture|Town|Township|Village)\b")
_CAPITALIZED = re.compile(r"\b[A-Z][a-z]+\b")
# Names an English question may write in pinyin that are not names of one place: China is read as a word.
_NOT_PINYIN_NAMES = frozenset({"china"})


def is_latin_question(q: str) -> bool:
    """True for a question written in English (or another Latin-script language) rather than Chinese."""
    return cjk_count(q) < MIN_CJK_FOR_CHINESE and latin_word_count(q) >= 2


def _analyze_latin(question: str, q: str) -> QuestionFrame:
    """The frame of an English question: its kind, years, unit and the places it names (as pinyin)."""
    kind = next((k for k, pattern in _EN_KINDS if pattern.search(q)), "other")
    hints: tuple[str, ...] = ()
    for pattern, units in _EN_UNIT_HINTS:
        if pattern.search(q):
            hints += units
    unit_family = None
    if kind == "figure" and re.search(r"\bhow many\b", q, re.I):
        unit_family = next((unit for pattern, unit in _EN_COUNTS if pattern.search(q)), None)
    # A capitalized word that reads as two or more pinyin syllables (or as one before "County") is a Chinese name
    # (Qinshui, Jinzhong, Dayong): the answer's article must name it.
    names = []
    for m in _CAPITALIZED.finditer(q):
        if m.start() == 0:
            continue  # capitalized as the question's first word ("On what date ...")
        word, syllables = m.group().lower(), pinyin_syllables(m.group())
        if syllables and word not in _NOT_PINYIN_NAMES and (len(syllables) >= 2 or _EN_ADMIN.match(q, m.end())):
            names.append(word)
    names = list(dict.fromkeys(names))
    return QuestionFrame(
        question, q, kind, [], list(dict.fromkeys(years_in(q))), {}, unit_family, hints,
        language="en", latin_names=names, sounds_like={name: places_sounding(name) for name in names},
    )
