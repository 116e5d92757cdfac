"""Offline extractive answers: find the figure, name, date or place a question asks for in retrieved passages.

Each candidate span must lie in a cited passage, in an article that mentions every place and year the
question names, in a sentence that covers most of what the question asks about; otherwise the answerer
declines ("资料中未提及……") rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..ingest.normalize import byline_names
from ..retrieve.retrieval import Passage
from ..text.zh import (
    CJK,
    DATE_RE,
    figure_matches,
    STOPWORDS,
    clause_spans,
    fold_width,
    pos_words,
    rarity,
    sentence_spans,
    strip_spaces,
    words,
    years_in,
)

DECLINE_PREFIX = "资料中未提及"
ANCHOR_WEIGHT = 0.8  # how much sitting where the question word sits counts, against term coverage

# --- question analysis ------------------------------------------------------------------

_REASON_Q = re.compile(r"为什么|为何|什么原因|原因是|原因为|因为什么|由于什么|何故")
_DATE_Q = re.compile(r"哪天|哪一天|几月几[日号]|何时|什么时候|什么时间|哪日|几号|日期|哪个月|几月份?")
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

_QUESTION_FILLERS = frozenset("是 有 为 叫 到 了 在 开 去 能 会 被 由 给 对 这次 那篇 那 这 该 其 一共 总共 共 已经 今年 现在 目前".split())

# Units a question may name after 多少/几 ("多少件", "几处"); compatible units share a family.
UNIT_FAMILY = {
    "件": "件", "起": "件", "宗": "件",
    "家": "家", "家次": "家次", "户": "户", "户次": "户",
    "个": "个", "项": "项", "处": "处", "辆": "辆", "台": "台", "座": "座", "条": "条", "套": "套",
    "名": "人", "人": "人", "位": "人", "人次": "人次", "次": "次", "天": "天", "日": "天", "小时": "小时",
    "所": "所", "批": "批", "类": "类", "只": "只", "棵": "棵", "株": "棵", "场": "场", "期": "期", "块": "块",
}
_UNIT_HINTS = [
    (re.compile(r"钱|金额|资金|投资|罚款|经费|费用|元"), ("元",)),
    (re.compile(r"浓度"), ("克/立方米", "微克", "毫克")),
    (re.compile(r"比例|比率|占比|百分|率"), ("%", "百分点")),
    (re.compile(r"面积"), ("平方米", "平方公里", "亩", "公顷")),
    (re.compile(r"重量|吨"), ("吨",)),
    (re.compile(r"长度|距离|多长|多远"), ("公里", "米", "千米")),
]
_ADMIN = re.compile(f"[{CJK}]{{2,6}}?(?:省|市|县|区|旗|州)$")
_PLACE_SUFFIX = (
    "国家湿地公园|湿地公园|公园|景区|库区|水库|湿地|社区|村|镇|乡|县|区|市|湖|河|山|桥|断面|厂|公司|基地|园区|站|广场|学校|医院"
)
_LOCATIVE = "内里中上下旁边处"


@dataclass
class QuestionFrame:
    """What a question asks for and what an answer must satisfy."""

    text: str
    kind: str  # figure | date | year | person | author | place | which | other
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


def short_place(word: str) -> str:
    return word[:-1] if len(word) >= 3 and word[-1] in "省市县区旗州" else word


def analyze(question: str) -> QuestionFrame:
    q = fold_width(question).strip().rstrip("？?。!！ ")
    kind = "other"
    if _REASON_Q.search(q):
        kind = "reason"
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
    m = re.search(r"(?:多少|几)(个百分点|百分点|家次|人次|户次|[件起宗家户个项处辆台座条套名人位次天日所批类只棵株场期块])", q)
    if m:
        unit_family = UNIT_FAMILY.get(m.group(1), m.group(1))
    hints: tuple[str, ...] = ()
    for pattern, units in _UNIT_HINTS:
        if pattern.search(q):
            hints += units

    head, head_text = None, ""
    if kind == "which":
        hm = _WHICH_Q.search(q)
        if hm:
            head_text = re.split(f"[的是有在了{_LOCATIVE}]|出现|开展|进行", hm.group("head"))[0]
            # The head noun is the noun run right after the question word, before any verb:
            # "由什么机构发行" -> 机构, "哪两个板块碰撞形成" -> 板块.
            nouns: list[str] = []
            for w, flag in pos_words(head_text):
                if flag.startswith(("n", "j")) or (flag == "x" and w.isalpha()):
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
            or (head and (w in head_text or w.rstrip(_LOCATIVE) == head))
            or re.fullmatch(r"[多余几]?[只个家件项处名位条座台辆套]|多[只个家件项处名位条座台辆套]", w)
            or re.fullmatch(r"[哪几何]\S*", w)
        ):
            continue
        terms[wl] = max(terms.get(wl, 0.0), rarity(wl))
    left, right = _anchors(ws, terms)
    role_m = re.search(_ROLES + r"(?=是谁|叫什么|姓名|名字|是哪位|为谁)", q)
    return QuestionFrame(
        q, kind, places, years, terms, unit_family, hints, head, head_text, left, right,
        role_m.group(0) if role_m else None,
    )


_WH_START = re.compile(r"^(?:多少|几|哪|谁|什么|何)")
_ROLES = r"(?:副局长|局长|党组书记|书记|副主任|主任|副组长|组长|副县长|县长|副市长|市长|处长|科长|站长|队长|主席|记者)"


def _anchors(ws: list[str], terms: dict[str, float]) -> tuple[list[str], list[str]]:
    """The question's content words nearest the question word, two on each side."""
    at = next((i for i, w in enumerate(ws) if _WH_START.match(w)), None)
    if at is None:
        return [], []
    left = [w.lower() for w in reversed(ws[:at]) if w.lower() in terms or w in ("由", "被")][:2]
    right = [w.lower() for w in ws[at + 1 :] if w.lower() in terms][:4]
    return left, right


# --- candidates -------------------------------------------------------------------------


@dataclass
class Candidate:
    span: str
    passage: Passage
    sentence: str
    score: float
    coverage: float


@dataclass
class Extraction:
    """The answerer's verdict before it is dressed as an Answer."""

    answered: bool
    answer: str
    passages: list[Passage]
    sentence: str = ""
    reason: str = ""
    warnings: list[str] = field(default_factory=list)


def _figure_spans(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), (m.group("unit") or "").replace("％", "%")) for m in figure_matches(sentence)]


_NAME = re.compile(f"[{CJK}]{{2,3}}")


def _person_spans(sentence: str) -> list[tuple[int, int, str]]:
    out, pos = [], 0
    for w, flag in pos_words(sentence):
        start = sentence.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        if flag == "nr" and _NAME.fullmatch(w):
            out.append((start, start + len(w), ""))
    # Transliterated names joined by "·" ("玛丽莲·曼森") are one name.
    for m in re.finditer(f"[{CJK}]{{1,8}}(?:·[{CJK}]{{1,10}})+", sentence):
        out = [sp for sp in out if not (m.start() <= sp[0] < m.end())]
        out.append((m.start(), m.end(), ""))
    # Role + name ("局长王大勇表示") where the tagger missed the name.
    for m in re.finditer(f"(?:局长|书记|主任|记者|组长|县长|市长|处长|科长|站长|队长|主席)([{CJK}]{{2,3}}?)(?=表示|介绍|说|主持|指出|强调|在|，|。|、|等|$)", sentence):
        if not any(s <= m.start(1) < e for s, e, _ in out):
            out.append((m.start(1), m.end(1), ""))
    return out


def _word_offsets(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, word, is_verb) for the sentence's words."""
    out, pos = [], 0
    for w, flag in pos_words(text):
        if not w.strip():
            continue
        start = text.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        out.append((start, pos, w, flag.startswith("v") and flag != "vn"))
    return out


_PLACE_END = re.compile(f"(?:{_PLACE_SUFFIX})$")


def _plain_word(w: str) -> bool:
    return bool(re.fullmatch(f"[{CJK}A-Za-z0-9]+", w)) and w not in STOPWORDS


def _phrase_start(ws: list[tuple[int, int, str, bool]], j: int, qtext: str, skip: str = "", max_words: int = 4) -> int | None:
    """Walk left from word j: skip the question's own modifiers of the head, then take words the question
    does not say, stopping at a containing place ("釜山景区" around "法水湖"). None if nothing new was taken."""
    i, a = j - 1, ws[j][0]
    while i >= 0 and ws[i][1] == a and ws[i][2] in skip and _plain_word(ws[i][2]):
        a = ws[i][0]
        i -= 1
    taken = 0
    while i >= 0 and taken < max_words:
        start, end, w, verb = ws[i]
        if end != a or w in qtext or verb or not _plain_word(w):
            break
        if taken >= 1 and _PLACE_END.search(w):
            break
        a = start
        taken += 1
        i -= 1
    return a if taken else None


def _head_spans(sentence: str, head: str, head_text: str, qtext: str) -> list[tuple[int, int, str]]:
    """Spans ending in the question's head noun ("哪个社区" -> "老窑头社区") with words the question lacks."""
    ws = _word_offsets(sentence)
    out = []
    for j, (start, end, w, _) in enumerate(ws):
        if not w.endswith(head):
            continue
        if w != head and w not in qtext:  # a name that contains the head: "法水湖"
            a = _phrase_start(ws, j, qtext) or start
            out.append((a, end, ""))
            continue
        a = _phrase_start(ws, j, qtext, skip=head_text)
        if a is not None:
            out.append((a, end, ""))
    return out


def _place_spans(sentence: str, qtext: str) -> list[tuple[int, int, str]]:
    """Place names in the sentence that the question does not already name ("昌源河国家湿地公园")."""
    ws = _word_offsets(sentence)
    out = []
    for j, (start, end, w, _) in enumerate(ws):
        if not _PLACE_END.search(w) or w in qtext:
            continue
        k = j  # extend right to a later place word of the same name ("昌源河" ... "公园")
        for m in range(j + 1, min(j + 5, len(ws))):
            if ws[m][0] != ws[m - 1][1] or not _plain_word(ws[m][2]) or ws[m][2] in qtext:
                break
            if _PLACE_END.search(ws[m][2]):
                k = m
        a = _phrase_start(ws, j, qtext)
        out.append((a if a is not None else start, ws[k][1], ""))
    return out


def _anchor_alignment(sentence: str, a: int, b: int, frame: QuestionFrame, window: int = 6) -> float:
    """How well the candidate sits where the question word sits (0..1): the best-placed anchor word,
    by its rarity and closeness ("B级企业30家" for "多少家B级企业", not "共有A级企业2家")."""
    anchors = set(frame.left + frame.right)
    if not anchors:
        return 0.0
    lowered = sentence.lower()
    top = max(frame.terms.get(w, 8.0) for w in anchors)
    best = 0.0
    for w in anchors:
        for m in re.finditer(re.escape(w), lowered):
            gap = a - m.end() if m.end() <= a else (m.start() - b if m.start() >= b else window + 1)
            if 0 <= gap <= window:
                best = max(best, (1.0 - gap / (window + 1)) * frame.terms.get(w, 8.0) / top)
    return best


_BECAUSE = re.compile(r"(?:因为|由于|因)([^，。；！？]{2,40})")
_LONG_DATE = re.compile(
    r"(?:公元前|公元)?\d{1,4}年代?(?:\d{1,2}月(?:\d{1,2}日)?)?(?:至\d{1,2}[月日]?\d{0,2}日?)?(?:春季|夏季|秋季|冬季|春|夏|秋|冬|初|底|末|中)?"
    r"|\d{1,2}世纪(?:\d{1,2}0年代)?(?:初|初期|中叶|中期|末|末期|上半叶|下半叶)?"
)


def _whole(sentence: str) -> list[tuple[int, int, str]]:
    text = sentence.strip()
    return [(0, len(text), "")] if text else []


def _date_spans(sentence: str) -> list[tuple[int, int, str]]:
    """Dates of any precision: 4月24日, 2006年5月11日至13日, 1990年代, 2009年春季, 20世纪中叶."""
    spans = [(m.start(), m.end(), "") for m in DATE_RE.finditer(sentence)]
    for m in _LONG_DATE.finditer(sentence):
        if m.end() - m.start() >= 3 and not any(a <= m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), ""))
    return spans


def _role_before(sentence: str, start: int) -> str | None:
    m = re.search(_ROLES + r"$", sentence[max(0, start - 6) : start])
    return m.group(0) if m else None


_QUOTED = re.compile(r"《[^》]{1,30}》|“[^”]{1,30}”")


def _gap_spans(sentence: str, frame: QuestionFrame) -> list[tuple[int, int, str]]:
    """The words the question leaves out between its anchors ("帮扶[顺世达铸业]等完成"), or right after the left one."""
    lowered = sentence.lower()
    out = []
    for lw in frame.left[:1]:
        for m in re.finditer(re.escape(lw), lowered):
            a = m.end()
            while a < len(sentence) and sentence[a] in "的了是为在":
                a += 1
            quoted = _QUOTED.match(sentence, a)
            if quoted:
                out.append((quoted.start(), quoted.end(), ""))
                continue
            ends = [lowered.find(rw, a) for rw in frame.right if lowered.find(rw, a) > a]
            stop = min(ends) if ends else a + 12
            clause_end = next((i for i in range(a, min(stop, len(sentence))) if sentence[i] in "，。；：！？（("), None)
            b = min(stop, clause_end if clause_end is not None else len(sentence), len(sentence))
            while b > a and sentence[b - 1] in "等的了和及与、":
                b -= 1
            last_de = sentence.rfind("的", a, b)
            if last_de >= 0 and b - last_de > 2:  # "当时非常强盛的列斯联" -> "列斯联"
                a = last_de + 1
            if b - a >= 2 and strip_spaces(sentence[a:b]) not in frame.text:
                out.append((a, b, ""))
    return out


def _term_hits(text: str, terms: dict[str, float]) -> float:
    lowered = text.lower()
    return sum(w for t, w in terms.items() if t in lowered)


def _context_coverage(sentence: str, neighbours: str, title: str, article: str, terms: dict[str, float]) -> float:
    """Weighted share of the question's terms found in the sentence (1), next to it (0.7), the title (0.5), the article (0.35)."""
    total = sum(terms.values())
    if not total:
        return 1.0
    got = 0.0
    for t, w in terms.items():
        if t in sentence.lower():
            got += w
        elif t in neighbours.lower():
            got += 0.7 * w
        elif t in title.lower():
            got += 0.5 * w
        elif t in article.lower():
            got += 0.35 * w
    return got / total


def _nearest_term_distance(sentence: str, a: int, b: int, terms: dict[str, float]) -> int:
    lowered = sentence.lower()
    best = 10_000
    for t in terms:
        for m in re.finditer(re.escape(t), lowered):
            d = a - m.end() if m.end() <= a else (m.start() - b if m.start() >= b else 0)
            best = min(best, max(d, 0))
    return best


def _effective_years(article_text: str, sent_start: int, sentence: str) -> set[str]:
    own = set(years_in(sentence))
    if own:
        return own
    before = years_in(article_text[:sent_start])
    if before:
        return {before[-1]}
    return set(years_in(article_text))


class ExtractiveAnswerer:
    """Chooses the best-supported span of the expected kind among retrieved passages, or declines."""

    def __init__(self, article_lookup, min_coverage: float = 0.55):
        # article_lookup(passage) -> (title, article text, byline, passage offset within article text)
        self.article_lookup = article_lookup
        self.min_coverage = min_coverage

    def answer(self, question: str, passages: list[Passage], places: list[str] | None = None) -> Extraction:
        """Answer one self-contained question from these passages; `places` adds places the answer's article
        must name (a comparison knows its subjects even when the question writes them without 市/县)."""
        frame = analyze(question)
        for place in places or []:
            short = re.sub(r"(?<=..)[省市县区]$", "", place)
            if short not in frame.places:
                frame.places.append(short)
        if not passages:
            return Extraction(False, f"{DECLINE_PREFIX}与该问题相关的内容。", [], reason="no passages")
        total = sum(frame.terms.values()) or 1.0
        best: Candidate | None = None
        in_place = in_year = 0
        for rank, passage in enumerate(passages):
            title, article, byline, offset = self.article_lookup(passage)
            if any(p not in article and p not in title for p in frame.places):
                continue
            in_place += 1
            if frame.years and not any(y in article or y in title for y in frame.years):
                continue
            in_year += 1
            if frame.kind == "author" and byline:
                names = byline_names(byline)
                cov = (_term_hits(title + article, frame.terms) / total) if frame.terms else 1.0
                cand = Candidate("、".join(names), passage, byline, cov * 3 - rank * 0.05, cov)
                if best is None or cand.score > best.score:
                    best = cand
                continue  # an article without a byline: look for the name in its sentences
            spans = sentence_spans(passage.text)
            for si, (s_a, s_b) in enumerate(spans):
                sentence = passage.text[s_a:s_b]
                if frame.years:
                    eff = _effective_years(article, offset + s_a, sentence)
                    if not eff & set(frame.years):
                        continue
                sent_hits = _term_hits(sentence, frame.terms) / total
                if sent_hits < 0.2 and frame.terms:
                    continue
                around = "".join(passage.text[x:y] for x, y in spans[max(si - 1, 0) : si + 2])
                sent_cov = _context_coverage(sentence, around, title, article, frame.terms)
                for cand in self._spans(frame, sentence):
                    a, b, unit = cand
                    clause = next(
                        (sentence[c:d] for c, d in clause_spans(sentence, 0, len(sentence)) if c <= a < d), sentence
                    )
                    clause_cov = _term_hits(clause, frame.terms) / total
                    score = 2.0 * sent_cov + clause_cov - rank * 0.02
                    if frame.kind == "figure":
                        if not unit:
                            score -= 0.2
                        if frame.unit_family and UNIT_FAMILY.get(unit, unit) != frame.unit_family:
                            continue
                        if frame.unit_hints:
                            score += 0.4 if any(h in unit for h in frame.unit_hints) else -0.4
                    if frame.head and sentence[a:b].rstrip(_LOCATIVE).endswith(frame.head):
                        score += 0.3  # the span is the kind of thing asked for ("…集团" for 什么集团)
                    if frame.terms:
                        score -= 0.004 * min(_nearest_term_distance(sentence, a, b, frame.terms), 60)
                        score += ANCHOR_WEIGHT * _anchor_alignment(sentence, a, b, frame)
                    span = strip_spaces(sentence[a:b])
                    if frame.terms and sent_cov < self.min_coverage:
                        continue  # too little of the question is here to answer from this sentence
                    if span and (best is None or score > best.score):
                        best = Candidate(span, passage, sentence, score, sent_cov)
        if best is None or (frame.terms and best.coverage < self.min_coverage):
            if frame.places and not in_place:
                what = "、".join(frame.places)
                return Extraction(False, f"{DECLINE_PREFIX}{what}的相关内容。", [], reason="place")
            if frame.years and not in_year:
                what = "、".join(f"{y}年" for y in frame.years)
                subject = "、".join(frame.places)
                return Extraction(False, f"{DECLINE_PREFIX}{subject}{what}的相关内容。", [], reason="year")
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案。", [], reason="no supported span")
        cited = [best.passage] + [p for p in passages if p.chunk_id != best.passage.chunk_id and best.span in strip_spaces(p.text)][:1]
        return Extraction(True, best.span, cited, sentence=best.sentence.strip())

    def _spans(self, frame: QuestionFrame, sentence: str) -> list[tuple[int, int, str]]:
        if frame.kind == "figure":
            return _figure_spans(sentence)
        if frame.kind == "date":
            return _date_spans(sentence)
        if frame.kind == "rank":
            return [(m.start(), m.end(), "") for m in re.finditer(r"第[一二三四五六七八九十\d]+(?:名|位)?", sentence)]
        if frame.kind == "year":
            return [(m.start(), m.end(), "") for m in re.finditer(r"(?:19|20)\d{2}年", sentence)]
        if frame.kind in ("person", "author"):
            spans = [sp for sp in _person_spans(sentence) if sentence[sp[0] : sp[1]] not in frame.text]
            if frame.role:  # "副局长叫什么" wants the name right after 副局长, not after 局长
                spans = [sp for sp in spans if _role_before(sentence, sp[0]) == frame.role]
            return spans or ([] if frame.role else _gap_spans(sentence, frame))
        if frame.kind == "which" and frame.head:
            return _head_spans(sentence, frame.head, frame.head_text, frame.text) or _gap_spans(sentence, frame)
        if frame.kind in ("place", "which"):
            return _place_spans(sentence, frame.text) or _gap_spans(sentence, frame)
        if frame.kind == "reason":
            return [(m.start(1), m.end(1), "") for m in _BECAUSE.finditer(sentence)] or _whole(sentence)
        # Anything else: the words where the question word sits, else the sentence itself.
        return _gap_spans(sentence, frame) or _whole(sentence)
