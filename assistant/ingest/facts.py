"""Figures as facts: a pydantic schema and two extractors behind one interface (rule-based offline, or an LLM)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError

from .articles import ParsedDocument, full_heading
from .chunking import Chunk
from ..text.zh import CJK, CLAUSE_PUNCT, CN_MAGNITUDE, FIGURE_RE, cn_to_number, figure_matches, pos_words, most_named, sentence_spans, short_place, strip_spaces, words, years_in


class Fact(BaseModel):
    """One figure of an article with what it is about."""

    subject: str = Field(min_length=1, max_length=40)  # the region or body: 沁水县, 晋城市生态环境局沁水分局
    year: int | None = Field(None, ge=1900, le=2100)
    metric: str = Field(min_length=1, max_length=40)  # 处罚金额
    value: float
    value_max: float | None = None  # the upper end of a range ("3至5个")
    unit: str = ""  # 万元, 家次, 件, %, 微克/立方米
    qualifier: str | None = None  # 余, 多, 约, 以上
    span: str = Field(min_length=1)  # the exact quoted text holding the figure
    context: str = ""  # the whole sentence the figure is in
    title: str = ""  # the article's full heading (headline——subtitle), as the facts table shows it
    source: str = ""
    doc_id: str = ""
    chunk_id: str = ""

    @property
    def base_value(self) -> float:
        """The value with a magnitude prefix of the unit folded in: 394.179 万元 -> 3941790."""
        if len(self.unit) > 1 and self.unit[0] in CN_MAGNITUDE:
            return round(self.value * CN_MAGNITUDE[self.unit[0]], 6)
        return self.value

    @property
    def base_unit(self) -> str:
        return self.unit[1:] if len(self.unit) > 1 and self.unit[0] in CN_MAGNITUDE else self.unit

    def display(self) -> str:
        value = f"{self.value:g}"
        if self.value_max is not None:
            value += f"至{self.value_max:g}"
        q = self.qualifier or ""
        if q in ("余", "多"):
            return f"{value}{q}{self.unit}"
        if q == "以上":
            return f"{value}{self.unit}以上"
        return f"{q}{value}{self.unit}"


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


def _sentence_place(before: str, article_place: str, text: str) -> str | None:
    """The place named closest before the figure in its sentence (全县 resolves to the article's place)."""
    found: list[tuple[int, str]] = [(m.start(), article_place) for m in _SELF.finditer(before)]
    bureaus = list(_BUREAU.finditer(before))
    found += [(m.start(), _with_suffix(m.group(2), text)) for m in bureaus]
    parents = {m.start(): m.group(1) for m in bureaus}
    found += [(at, w) for at, w in _place_words(before) if at not in parents]
    return max(found)[1] if found else None


# --- the figure's metric ----------------------------------------------------------------

_LEADING = re.compile(
    r"^(?:(?:19|20)\d{2}年(?:\d{1,2}月)?(?:\d{1,2}日)?|截至目前|目前|其中|同时|全年|共|累计|对|为|在|将|已|并|还|全县|全市|该局|该市|该县|"
    f"[{CJK}]{{2,4}}?(?:县|市|区)(?![城域])(?:生态环境局)?(?:[{CJK}]{{2,4}}?分局)?)+"
)
_TRAILING = re.compile(r"(?:共计|合计|总计|共|累计|达到|达|为|约|近|超过|逾|控制在|降至|降到|提升至|提升到|增至|是|的|有|了|分别)+$")


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
              "确保", "持续", "全力"}
_NOUNISH = ("n", "j", "eng", "vn", "b", "q", "m", "an", "zg")
_COMPARE = re.compile(r"^(?:较|比|同比|环比)")


def _phrase_after(after: str) -> str:
    """The noun phrase right after a figure's unit: "24台固定床间歇式煤气发生炉淘汰任务" -> its whole object,
    stopping where the predicate begins; a modifier ending in 的 gives way to the head after it."""
    follow = FIGURE_RE.match(after)
    if follow and follow.group("unit"):  # "8大类22条水污染防治重点措施任务": the kinds of the measures that follow
        after = after[follow.end() :]
    stop = re.search(f"[，；：。！？（{_CONJ}\\d]|$", after)
    segment = after[: stop.start()]
    modifier = re.match(r"^([^的]{1,8})的", segment)
    if modifier and pos_words(modifier.group(1))[0][1][0] in "dva":  # "未整改的国六重型燃气车" -> its head
        segment = segment[modifier.end() :]
    out: list[tuple[str, str]] = []
    predicate = False
    for w, flag in pos_words(segment):
        if w in _PREDICATE or flag[0] in "dpcufr" or (flag == "x" and not w.isalnum()):
            predicate = True
            break
        out.append((w, flag))
    # Up to a clause end the words are the object ("燃气锅炉低氮改造"); before a predicate, verbs belong to it
    # ("重点行业企业划分为" -> "重点行业企业").
    while out and (predicate or len(out) == 1) and not out[-1][1].startswith(_NOUNISH):
        out.pop()
    phrase = "".join(w for w, _ in out)
    # "对26个新改扩建项目进行了总量核定": the action done to them names the count ("总量核定新改扩建项目").
    action = re.match(r"(?:进行|开展|实施)了?([^，；：。！？、\d]{2,8}?)(?:[，；：。！？、]|$)", segment[len(phrase) :])
    if phrase and action:
        phrase = action.group(1) + phrase
    return _word_suffix(phrase, 16) if len(phrase) > 16 else phrase


def metric_phrase(sentence: str, start: int, end: int, prev_end: int = 0, prev_metric: str = "") -> str:
    """The words naming what the figure measures.

    A noun phrase after the figure's unit names it ("组织开展了28次文明志愿服务活动", "新建3座人工湿地和2个
    河流水质监测点位", "31件群众举报件已全部办结"); otherwise the words before it do ("处罚金额共计394.179万元"),
    from their head after a 的. A change against a baseline ("较“十三五”末改善23.4%") measures the
    previous figure's metric.
    """
    cut = max([sentence.rfind(c, 0, start) for c in "，；：。！？（"] + [prev_end - 1]) + 1
    raw = sentence[cut:start].replace("“", "").replace("”", "")
    pre = _TRAILING.sub("", _LEADING.sub("", raw)).strip("、")
    after = sentence[end:].replace("“", "").replace("”", "")
    within = re.match(f"内([{CJK}]{{2,8}}?)(?:[，；：。！？、{_CONJ}]|$)", after)
    if within and re.search(r"(?:分钟|小时|天|日|周|月|年)$", sentence[start:end]):
        return within.group(1) + "时间"  # "5分钟内智能识别": how long 智能识别 takes
    post = _phrase_after(after).lstrip("、")
    if _COMPARE.match(pre) and prev_metric:
        verb = re.search(f"([{CJK}]{{2}})$", pre)
        return prev_metric + (verb.group(1) if verb else "变化")
    if len(post) >= 2 or (post and (not pre or cut == prev_end or raw.rstrip()[-1:] in _CONJ)):
        return post
    if "的" in pre[:-1]:
        pre = pre[pre.rindex("的") + 1 :]
    pre = re.sub(r"^.*?指标(?=.{2,})", "", pre)  # "高质量发展指标PM2.5年均浓度": the indicator named after it
    return _word_suffix(pre, 14) if len(pre) > 14 else pre


# --- rule-based extraction --------------------------------------------------------------

_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:-|~|～|—|至|到)\s*$")


def _number(raw: str) -> float | None:
    if re.match(r"\d", raw):
        return float(raw.replace(",", ""))
    return cn_to_number(raw)


@dataclass
class _ArticleScope:
    """What an article says for all its figures: the place it is about, its main year, and the year of writing."""

    place: str
    year: int | None
    this_year: int | None


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
            place = primary_place(article.title, body)
            named = years_in(body)
            years = [int(y) for y in named]
            main = most_named(named)
            scope = _ArticleScope(
                place=place,
                year=int(main) if main else None,
                # "今年" is the year of writing: at least the latest year the article names ("2025年，我们要…").
                this_year=max(years) if years else None,
            )
            article_chunks = [c for c in chunks if c.article == a_idx]
            prev_metric = ""
            para_start, para_year = -1, None  # the paragraph read, and the last year it named before this sentence
            for s, e in bounded_spans(doc.text, sentence_spans(doc.text, article.body_start, article.end)):
                sentence = doc.text[s:e]
                # The paragraph's start, never before the article's (its first paragraph may have no line above it).
                start = max(doc.text.rfind("\n", max(article.start, para_start), s) + 1, article.start)
                if start != para_start:
                    para_start, para_year = start, None
                prev_end = 0
                for m in figure_matches(sentence):
                    if _in_slogan(sentence, m.start()):
                        continue  # a number inside a slogan or a name ("六个百分百", "十个点位") is not a fact
                    fact = self._fact(m, sentence, doc.text, scope, para_year, prev_end, prev_metric)
                    prev_end = m.end()
                    if fact is None:
                        continue
                    prev_metric = fact.metric
                    offset = s + m.start()
                    chunk = next((c for c in article_chunks if c.start <= offset < c.end), None)
                    fact.title, fact.source, fact.doc_id = full_heading(article.title, article.subtitle), source, doc_id
                    fact.chunk_id = chunk.chunk_id if chunk else ""
                    facts.append(fact)
                para_year = ([int(y) for y in years_in(sentence)] or [para_year])[-1]
        return facts

    def _fact(self, m: re.Match, sentence: str, text: str, scope: _ArticleScope, para_year: int | None,
              prev_end: int = 0, prev_metric: str = ""):
        value = _number(m.group("num"))
        if value is None:
            return None
        unit = (m.group("mag") or "") + (m.group("unit") or "").replace("％", "%")
        value_max = None
        rng = _RANGE.search(sentence[: m.start()])
        if rng:  # "3至5个": the figure is the range's upper end
            value, value_max = float(rng.group(1)), value
        qualifier = m.group("qual") or m.group("qual2")
        before = sentence[: m.start()]
        if re.search(r"(?:约|近|超过|逾)$", before):
            qualifier = re.search(r"(约|近|超过|逾)$", before).group(1)
        if sentence[m.end() : m.end() + 2] == "以上":
            qualifier = "以上"
        own_years = [int(y) for y in years_in(before)] or [int(y) for y in years_in(sentence)]
        if not own_years and scope.this_year and "今年" in sentence:
            own_years = [scope.this_year]
        year = own_years[-1] if own_years else para_year or scope.year
        subject = _sentence_place(before, scope.place, text) or scope.place or "未知"
        metric = metric_phrase(sentence, m.start(), m.end(), prev_end, prev_metric) or "数值"
        span_start = max(sentence.rfind(c, 0, m.start()) for c in "，；：。！？") + 1
        span_end = min([i for i in (sentence.find(c, m.end()) for c in "，；。！？") if i >= 0] or [len(sentence)])
        try:
            return Fact(
                subject=subject, year=year, metric=metric[:40], value=value, value_max=value_max, unit=unit,
                qualifier=qualifier, span=strip_spaces(sentence[span_start:span_end]) or m.group(0),
                context=strip_spaces(sentence),
            )
        except ValidationError:
            return None


# --- LLM extraction ---------------------------------------------------------------------


class _Draft(BaseModel):
    subject: str
    year: int | None = None
    metric: str
    value: float
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
        from ..llm.prompts import render

        facts: list[Fact] = []
        for chunk in chunks:
            if not figure_matches(chunk.text):
                continue  # a chunk with no figures yields nothing, without a call
            prompt = render("extract_facts", self.prompts_dir, title=full_heading(chunk.title, chunk.subtitle), text=chunk.text)
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
