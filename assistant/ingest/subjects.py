"""Who or what a figure is about: named entities from jieba's tags and suffix rules, an article's topic, and the
subject a clause names itself (该公司, 全市 and 我国 resolved to the one the article means)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter

from ..text.chars import CJK
from ..text.tokens import pos_words

# jieba's tags for names: organisation, other proper noun, person, place, Latin word, abbreviation.
_NAME_TAGS = frozenset({"nt", "nz", "nr", "nrt", "nrfg", "ns", "eng"})
_PERSON_TAGS = frozenset({"nr", "nrt", "nrfg"})
# Tags of a one-character word that may stand between a name and its head word ("白石" "河" "流域").
_PART_TAGS = frozenset({"n", "ns", "nz", "ng"})
# Words that end the name of a body, a place or a thing and join the name before them: 合肥市公安局, 阿富汗央行,
# 日本队, 密云水库流域, 联想集团.
_HEAD_WORDS = re.compile(
    r"^(?:[\u4e00-\u9fff]{0,4}(?:公司|集团|银行|央行|分局|局|厅|部|委员会|委|法院|医院|学院|研究院|海关|协会|学会|基金会|大学|"
    r"中心|航空|证券|支队|大队|队|团伙|流域|水库|政府|示范区|新区|港|号线|店|厂|站|馆))$"
)
# Words that are never what a figure is about: the wire, the page's own labels, the reporter.
_NOT_SUBJECT = re.compile(
    r"^(?:正文|原标题|标题|新华社|中新网|中新社|人民网|央视网|光明日报|中青报|中青网|财联社|新京报|京报|日电|日讯|记者|智通财经|东方网|"
    r"海报新闻|搜狐|网易|新浪|腾讯|澎湃新闻|界面新闻|上证报|证券时报|中国经济网|同比|环比|换手率|上市公司|上市|归母|扣非|AI|CEO|APP)$"
)
# Words of change that jieba may tag as names ("同比增加").
_CHANGE_WORD = re.compile(r"同比|环比|较上")
# Reporters and photographers, which name the writer and not the story: （记者陈晨）, 记者 张俊, 余红春摄.
_BYLINE_WORD = re.compile("记者|通讯员|编辑|作者|摄")  # what every byline holds
_BYLINE = re.compile(f"(?:记者|通讯员|编辑|作者)[\\s{CJK}、·]{{0,16}}?(?=[)）\\s，。]|$)|[{CJK}]{{2,3}}摄")
# A company or fund named with its listing code: 帝奥微(688381.SH), 洪都航空（600316）, 兴全绿色投资混合(LOF).
_LISTING_CODE = re.compile(r"\s*[（(](?:\d{5,6}(?:\.[A-Za-z]{2})?|LOF|QDII)[)）]")
_LISTED_NAME = re.compile(f"[A-Za-z{CJK}'‘’·]{{2,20}}$")
# Words a name grows by only while they repeat it, never across them: 华夏成长混合 stops before 最新净值.
_NAME_STOP = re.compile(r"(?:19|20)\d{2}|\d{1,2}月|最新|的|在|于|上半年|下半年|前三季度|季度|全年|近日|日前|今年|公布|发布|宣布|将|已|共|同比|是|为|和|与|及|今日|当日|本次|获悉|表示|称")
# A name seen this many times in an article may be its topic; fewer is a name in passing.
TOPIC_MIN_MENTIONS = 2
# How much a mention counts by where it is: the headline and the lead say what an article is about.
HEADLINE_WEIGHT = 3
LEAD_WEIGHT = 2
LEAD_CHARS = 200
TOPIC_READ_CHARS = 600  # how much of a body is tagged for the names its topic is chosen from
LISTED_WEIGHT = 3  # a name given with its listing code is the company or fund the page reports on
PERSON_WEIGHT = 0.5  # people are the subject of a figure less often than the bodies they act for
# Stock codes and numbered designations are not names: 688381.SH, 600316.
_CODE = re.compile(r"\d")
# A name followed by a verb of saying is where the news came from, not what it is about: 商务部服贸司负责人介绍.
_SOURCE = re.compile(f"[{CJK}]{{0,8}}?(?:介绍|表示|发布|获悉|消息|通报|公布|透露|指出|官网|网站|记者|供图|报道)")
SOURCE_WEIGHT = 0.3
# 该公司, 全市, 我国: words that point back at the company, city or country the article is about.
_SELF_COMPANY = re.compile(r"(?:该|本|这家|公司)?公司$|^该(?:集团|行|机构|基金|店)$")
_SELF_COUNTRY = re.compile(r"^(?:全国|我国|国内)$")
_SELF_PLACE = re.compile(r"^(?:全|该|本)(?:省|市|县|区|州)$")
_COMPANY_END = re.compile(r"(?:公司|集团|银行|证券|航空|股份|科技|混合|基金|LOF)$|[A-Za-z]")


# Words that point back at what the article is about, where they open a clause: "公司营收为903亿", "全省降水总量".
# (全县, 全市, 该区 and the like never get here: facts.py's place rules resolve them first, to the article's place.)
_POINTING = re.compile(r"该公司|本公司|公司|该集团|全国|我国|全省|该省")
# What may come before a clause's subject: a date, a linking word.
_OPENING = re.compile(
    r"^(?:(?:19|20)\d{2}年(?:\d{1,2}月)?(?:\d{1,2}日)?|\d{1,2}月\d{1,2}日|截至[^，]{0,12}?日|截至目前|目前|其中|同时|此外|另外|而|但|其次是|其次为|其次|再次是|然后是|"
    r"今年|去年|上半年|当日|当天|今日|昨日|此前|[，、\s])*"
)
CLAUSE_HEAD_CHARS = 24  # the opening of a clause read for its subject (names are shorter)
# How many of an article's most mentioned names count as known where they reappear.
TOPIC_NAMES = 8


@dataclass(frozen=True)
class Mention:
    start: int
    name: str
    person: bool = False
    listed: bool = False
    tag: str = ""  # jieba's tag of the name's first word
    word: str = ""  # that word, before head words joined it


_TAIL = re.compile(f"[{CJK}A-Za-z0-9]{{1,10}}")


def _grow(name: str, text: str) -> str:
    """The longest name starting with `name` that the article repeats about as often: 京津 -> 京津城际."""
    base = text.count(name)
    if base < TOPIC_MIN_MENTIONS:
        return name
    best = name
    for at in _occurrences(text, name):
        tail = _TAIL.match(text, at + len(name))
        if not tail:
            continue
        stop = _NAME_STOP.search(tail.group())
        tail_text = tail.group()[: stop.start()] if stop else tail.group()
        for k in range(len(tail_text), 0, -1):
            longer = name + tail_text[:k]
            if len(longer) > len(best) and text.count(longer) >= max(TOPIC_MIN_MENTIONS, (base + 1) // 2):
                best = longer
                break
    return best


def mentions(text: str) -> list[Mention]:
    """Names in the text in order: jieba's proper nouns joined with the head words after them, listed names."""
    out: list[Mention] = []
    if "(" in text or "（" in text:
        out.extend(_listed(text))
    out.extend(_tagged(text))
    return sorted(out, key=lambda m: m.start)


def _listed(text: str) -> list[Mention]:
    """Names given with a listing code: the run of name characters right before each code."""
    out = []
    for code in _LISTING_CODE.finditer(text):
        name = _LISTED_NAME.search(text, max(0, code.start() - 20), code.start())
        if name:
            out.append(Mention(name.start(), name.group(), listed=True))
    return out


@lru_cache(maxsize=8192)
def _tagged(text: str) -> tuple[Mention, ...]:
    tagged = pos_words(text)
    # Most words are not names: pick the candidates in one pass, and find a word's offset (jieba's words cover the
    # text exactly) from the running sum of the lengths before it.
    candidates = [i for i, flag in enumerate(map(itemgetter(1), tagged)) if flag in _NAME_TAGS]
    if not candidates:
        return ()
    starts = [0, *accumulate(map(len, map(itemgetter(0), tagged)))]
    out: list[Mention] = []
    n, done = len(tagged), 0
    for i in candidates:
        if i < done:  # a head word already joined to the name before it
            continue
        w, flag = tagged[i]
        if len(w) < 2 or _NOT_SUBJECT.match(w) or _CODE.search(w) or _CHANGE_WORD.match(w):
            continue
        name, j = w, i + 1
        while j < n:
            if _HEAD_WORDS.match(tagged[j][0]):
                name += tagged[j][0]
                j += 1
            elif (j + 1 < n and len(tagged[j][0]) == 1 and tagged[j][1] in _PART_TAGS
                  and _HEAD_WORDS.match(tagged[j][0] + tagged[j + 1][0])):  # 白石 + 河 + 流域
                name += tagged[j][0] + tagged[j + 1][0]
                j += 2
            else:
                break
        done, at = j, starts[i]
        if not _is_byline(text, at, name):
            out.append(Mention(at, name, person=flag in _PERSON_TAGS and name == w, tag=flag, word=w))
    return tuple(out)


def only_a_name(text: str) -> str | None:
    """The name a text is, after its linking words ("而穆迪" -> "穆迪"), or None when it says more than a name."""
    rest = _OPENING.sub("", text)
    named = mentions(rest) if len(rest) >= 2 else []
    return rest if len(named) == 1 and named[0].start == 0 and named[0].name == rest else None


def _is_byline(text: str, at: int, name: str) -> bool:
    """True when the name at `at` is a reporter's or photographer's."""
    around = text[max(0, at - 12) : at + len(name) + 2]
    if not _BYLINE_WORD.search(around):  # most names have no byline word near them
        return False
    return any(m.start() <= at - max(0, at - 12) < m.end() for m in _BYLINE.finditer(around))


@dataclass
class ArticleSubjects:
    """What an article is about, and the names it has given so far, for resolving 该公司 and 全市."""

    topic: str
    names: tuple[str, ...]  # the article's names, most mentioned first
    topic_is_place: bool = True  # jieba tags it as a place (or it is unknown): a county's office may stand for it

    def resolve(self, word: str, before: str = "") -> str:
        """A pointing word as the name it points at: 公司 -> the company, 全市 -> the last city named; else the
        article's topic, or "" when it has none (a bare 公司 or 全市 names nobody)."""
        if _SELF_COUNTRY.match(word):
            return "中国"
        if _SELF_PLACE.match(word):
            level = word[-1]
            named = [m.name for m in mentions(before) if m.name.endswith(level) and not m.person]
            if named:
                return named[-1]
            return next((n for n in self.names if n.endswith(level)), self.topic)
        if _SELF_COMPANY.search(word):
            # The company its sentence has just named ("在英特尔…的电话会上，公司高管…"), else the article's.
            named = [m.name for m in mentions(before) if not m.person
                     and (m.listed or m.name in self.names or _COMPANY_END.search(m.name))]
            if named:
                return named[-1]
            return next((n for n in (self.topic, *self.names) if n and _COMPANY_END.search(n)), self.topic)
        return word


def article_subjects(headline: str, body: str) -> ArticleSubjects:
    """The name an article is about: of the names its headline and lead give (and any listed company or fund), the
    one with most weight, every mention counted by where it stands, grown to its full form. Only the headline and
    lead are tagged; the rest of the article is searched for those names (tagging all of it doubled the time of
    fact extraction, and a story's topic is named at its top)."""
    text = headline + "\n" + body
    top = len(headline) + 1 + TOPIC_READ_CHARS
    found: dict[str, Mention] = {}
    listed = _listed(text) if "(" in text or "（" in text else []
    for m in mentions(text[:top]) + listed + _trade_names(text, top):
        found.setdefault(m.name, m)
    def where(at: int) -> float:  # a mention in the headline or the lead counts more
        return HEADLINE_WEIGHT if at < len(headline) else LEAD_WEIGHT if at < len(headline) + LEAD_CHARS else 1

    weights: Counter = Counter()
    for name, m in found.items():
        kind = LISTED_WEIGHT if m.listed else PERSON_WEIGHT if m.person else 1
        for at in _occurrences(text, name):
            weights[name] += kind * where(at) * (SOURCE_WEIGHT if _SOURCE.match(text, at + len(name)) else 1)
    for at in _occurrences(text, "我国") + _occurrences(text, "全国"):
        weights["中国"] += where(at)
    names = [n for n, _ in weights.most_common()]
    if not names:
        return ArticleSubjects("", ())
    first = found.get(names[0])
    return ArticleSubjects(_grow(names[0], text), tuple(names[:20]), first is None or first.tag == "ns")


# The words a company's name ends with: 国际实业, 大连万达集团, 星河电子. jieba knows few companies; a name it does not
# know is read as common words ("国际" "实业"), so a repeated run of characters before one of these is taken.
_TRADE_SUFFIX = re.compile("实业|股份|科技|控股|电子|能源|医药|药业|电气|传媒|物流|地产|置业|矿业|化工|汽车|证券|银行|保险|集团")
TRADE_NAME_PREFIX = (2, 4)  # characters before the suffix
_CJK_RUN = re.compile(f"[{CJK}]+")
# What a company does in the news and a concept does not (新能源汽车, 生物医药): it announces, reports and says.
_SPEAKS = "(?:发布|公布|披露|宣布|公告|称|表示|回应|介绍)"


def _trade_names(text: str, top: int) -> list[Mention]:
    """Company names the headline and lead give that jieba does not know: the longest run of 2-4 characters before
    a company word that the article repeats as often as its shortest form (so 从国际实业 gives 国际实业), and that
    announces or says something somewhere in it."""
    out: dict[str, Mention] = {}
    for suffix in _TRADE_SUFFIX.finditer(text, 0, top):
        best = ""
        shortest = 0
        for k in range(TRADE_NAME_PREFIX[0], TRADE_NAME_PREFIX[1] + 1):
            prefix = text[suffix.start() - k : suffix.start()]
            if len(prefix) < k or not _CJK_RUN.fullmatch(prefix):
                break
            name = prefix + suffix.group()
            count = text.count(name)
            if k == TRADE_NAME_PREFIX[0]:
                shortest = count
            if count < 2 or count < shortest:
                break
            best = name
        if (best and best not in out and not _NOT_SUBJECT.match(best) and not _POINTING.search(best)
                and re.search(re.escape(best) + _SPEAKS, text)):
            out[best] = Mention(suffix.start() - len(best) + len(suffix.group()), best, tag="nt", word=best)
    return list(out.values())


def _occurrences(text: str, name: str) -> list[int]:
    out, at = [], text.find(name)
    while at >= 0:
        out.append(at)
        at = text.find(name, at + len(name))
    return out


def _strong(m: Mention, article: ArticleSubjects) -> bool:
    """A name sure enough to be a figure's subject where it stands: a body or place by its head word or jieba's
    tag, a listed name, or a name the article repeats; not a code or an abbreviation (PM2.5, TSP, NOx)."""
    if re.fullmatch(r"[A-Za-z]{1,4}", m.name):  # (names with digits were never taken: _CODE)
        return False
    if m.listed or m.name in article.names[:TOPIC_NAMES]:
        return True
    return not m.person and (m.tag in ("ns", "nt") or m.name != m.word)


def clause_subject(clause_before: str, sentence_before: str, article: ArticleSubjects, whole: bool = False) -> str | None:
    """The name the figure's own clause opens with, or the company, place or country its 公司/全市/我国 points
    at; None when the clause names nobody. `whole`: the clause is an earlier one, which may be only the name
    ("其次是大清河流域，…")."""
    opening = _OPENING.sub("", clause_before)
    pointing = _POINTING.match(opening)
    # The subject opens its clause ("缅甸共接待了…", "日本队赢得…"); a name further in is an object or a modifier
    # ("完成涉河湖问题整改"), and one right before the figure is a verb jieba took for a place ("新建3座").
    # Only the clause's opening words are tagged: the subject is there.
    named = [m for m in mentions(opening[:CLAUSE_HEAD_CHARS]) if m.start == 0 and _strong(m, article)
             and not re.match(r"[\d零〇一二两三四五六七八九十百千]" + ("" if whole else "|$"), opening[len(m.name) :])]
    if named:
        name = named[-1].name
        # The topic's short form stands for it: 京津 in a clause of an article about 京津城际.
        if article.topic.startswith(name) and len(name) >= 2:
            return article.topic
        return name
    if pointing:
        return article.resolve(pointing.group(), sentence_before) or None
    return None
