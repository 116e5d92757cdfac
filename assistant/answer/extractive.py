"""Offline extractive answers: find the figure, name, date or place a question asks for in retrieved passages.

Each candidate span must lie in a cited passage, in an article that mentions every place and year the
question names, in a sentence that covers enough of what the question asks about. The learned reader
(reader_model.py) scores the candidates and states the best only when its calibrated confidence clears the
threshold; below it, it declines and quotes the sentence most likely to hold the answer ("未找到确切答案。最相关的原文：
「…」"), and with no sentence at all it says "资料中未提及……". A 为什么/如何 question it answers the same way, with the
sentence that states it. The hand-set rules (ASSISTANT_READER=rules) rank by knobs.py and state what they find,
for 为什么/如何 the clause that states it.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from functools import cached_property, lru_cache
from dataclasses import dataclass, field, replace
from typing import Callable

from ..text.names import byline_names
from ..retrieve.retrieval import Passage
from ..store.records import ArticleText
from ..text.chars import CJK, CLAUSE_PUNCT, clause_spans, fold_width, sentence_spans, strip_spaces, tidy_spacing
from ..text.figures import DATE_RE, figure_matches, most_named, YEAR_RE, years_in
from ..text.names import short_place
from ..text.tokens import pos_words, STOPWORDS
from .frame import LOCATIVE, RATE_UNITS, ROLE_PATTERN, UNIT_FAMILY, QuestionFrame, unit_fits
from .knobs import KNOBS, Knobs
from .reader_model import DISTANCE_CAP, ReaderModel, agrees

_PLACE_SUFFIX = (
    "国家湿地公园|湿地公园|公园|景区|库区|水库|湿地|社区|村|镇|乡|县|区|市|湖|河|山|桥|断面|厂|公司|基地|园区|站|广场|学校|医院"
)

DECLINE_PREFIX = "资料中未提及"
# Questions whose answer is a clause or sentence that states it, not a short span.
NON_FACTOID = ("reason", "method")
# A decline that still shows the passage most likely to hold the answer.
NOT_FOUND = "未找到确切答案。最相关的原文："
_BYLINE_ROLE = re.compile(r"(?:记者|通讯员|编辑|责编|摄影|实习生|报道员)[：:\s]*$")


_NUMERAL = re.compile(r"[\d零〇一二两三四五六七八九十百千万亿]")
_COPULA = re.compile(r"(?:是|为|叫|称|即|名为|叫做|称为)$")


def _after_byline_role(sentence: str, start: int) -> bool:
    """The span follows 记者/通讯员/编辑: a byline inside the text ("（记者 李明）")."""
    return bool(_BYLINE_ROLE.search(sentence[max(0, start - 5) : start]))


# What a question about money or a ratio is measured in; a figure counted in things cannot answer it.
_NOT_COUNTED = {"元", "%"}

# --- candidates -------------------------------------------------------------------------


@dataclass
class Candidate:
    span: str
    passage: Passage
    sentence: str
    score: float
    coverage: float
    sentence_at: int = 0  # where the sentence starts in its article's text (its year is read from there)
    source: str = "typed"  # typed | gap | whole | byline: how the span was found
    features: dict[str, float] | None = None  # reader_model.FEATURES by name (absent ones are 0)
    confidence: float | None = None  # calibrated probability that the span is the answer (learned reader only)


@dataclass
class Extraction:
    """The answerer's verdict before it is dressed as an Answer."""

    answered: bool
    answer: str
    passages: list[Passage]
    sentence: str = ""
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    answered_as: str = ""  # the question actually answered, when a stage rewrote it (a misspelt place corrected)
    confidence: float | None = None  # the reader's calibrated confidence in the span, when the reader chose one


# Qualifiers written around a figure belong to the answer: 近500人, 超过3亿元, 38人以上, 12年半.
_QUALIFIER_BEFORE = re.compile(r"(?:至少|至多|最多|高达|多达|近|约|超过|超|逾|不到|不足|不少于|将近|接近|大约|仅)$")
_QUALIFIER_AFTER = re.compile(r"以上|以下|左右|之多|多|余|半")


def _figure_spans(sentence: str) -> list[tuple[int, int, str]]:
    out = []
    for m in figure_matches(sentence):
        a, b = m.start(), m.end()
        before = _QUALIFIER_BEFORE.search(sentence, max(0, a - 3), a)
        after = _QUALIFIER_AFTER.match(sentence, b)
        out.append((before.start() if before else a, after.end() if after else b, (m.group("unit") or "").replace("％", "%")))
    return out


_NAME = re.compile(f"[{CJK}]{{2,3}}")


# What ends a transliterated surname: the verb, numeral ("一行"), particle ("等人") or other function word after it.
_AFTER_NAME = ("v", "m", "u", "p", "c", "d", "r", "y")


def _surname_end(sentence: str, start: int, end: int) -> int:
    """Where the last part of a dotted name (sentence[start:end], after its last "·") ends: at its first word, and
    the words after it up to a verb or function word ("罗纳尔多打进一球" -> 罗纳尔多, "马多戈一行" -> 马多戈)."""
    at = start
    for i, (w, flag) in enumerate(pos_words(sentence[start:end])):
        if i and flag.startswith(_AFTER_NAME):
            break
        at += len(w)
    return at


def _person_spans(sentence: str, qtext: str = "") -> list[tuple[int, int, str]]:
    out, pos = [], 0
    for w, flag in pos_words(sentence):
        start = sentence.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        if flag == "nr" and _NAME.fullmatch(w):
            out.append((start, start + len(w), ""))
    # Transliterated names joined by "·" ("玛丽莲·曼森") are one name.
    # The match runs as far as the CJK run does: the question's words before the name ("助理总干事菲尔明·马多戈" for
    # "…助理总干事是谁") and the words after its surname are cut off.
    for m in re.finditer(f"[{CJK}]{{1,8}}(?:·[{CJK}]{{1,10}})+", sentence):
        out = [sp for sp in out if not (m.start() <= sp[0] < m.end())]
        first = m.group().split("·")[0]
        said = next((k for k in range(len(first) - 2, 1, -1) if first[:k] in qtext), 0)
        out.append((m.start() + said, _surname_end(sentence, m.start() + m.group().rindex("·") + 1, m.end()), ""))
    # Role + name ("局长王大勇表示") where the tagger missed the name.
    for m in re.finditer(ROLE_PATTERN + f"([{CJK}]{{2,3}}?)(?=表示|介绍|说|主持|指出|强调|在|，|。|、|等|$)", sentence):
        if not any(s <= m.start(1) < e for s, e, _ in out):
            out.append((m.start(1), m.end(1), ""))
    return out


_ORG_END = re.compile(r"(?:公司|集团|银行|局|部|委|委员会|办公室|厅|院|所|中心|协会|学会|联合会|大学|学院|学校|医院|政府|法院|检察院|组织|基金会|交易所|研究院)$")


def _org_spans(sentence: str) -> list[tuple[int, int, str]]:
    """Organization names: jieba's nt words, and noun runs ending in 公司/集团/局/部/委/学会…"""
    ws = _tagged_offsets(sentence)
    out = []
    for j, (start, end, w, flag) in enumerate(ws):
        if flag == "nt" or (_ORG_END.search(w) and len(w) >= 2):
            a = start
            i = j - 1
            while i >= 0 and j - i <= 4 and ws[i][1] == a and _plain_word(ws[i][2]) and ws[i][3][:1] in ("n", "j"):
                a = ws[i][0]
                i -= 1
            out.append((a, end, ""))
    return out


def _tagged_offsets(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, word, part-of-speech flag) for the text's words."""
    out, pos = [], 0
    for w, flag in pos_words(text):
        if not w.strip():
            continue
        start = text.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        out.append((start, pos, w, flag))
    return out


# Parts of speech a span never starts or ends with: particles, prepositions, conjunctions, adverbs, punctuation.
_EDGE_FLAGS = ("u", "p", "c", "d", "y", "e", "x", "w", "r")
# Longest n-gram candidate, in words and in characters, and how far from a question word it may start or end.
NGRAM_WORDS = 4
NGRAM_CHARS = 16
NGRAM_WINDOW = 24


def _ngram_spans(sentence: str, qtext: str, marks: list[tuple[int, int, str]]) -> list[tuple[int, int, str, str]]:
    """Runs of one to NGRAM_WORDS whole words near a question word that the question does not already say: the
    answer to a "什么/哪个" question when no typed span fits. Spans never start or end inside a word. Each span
    carries the part-of-speech flags of its words."""
    if not marks:
        return []
    ws = _tagged_offsets(sentence)
    out = []
    for i in range(len(ws)):
        if ws[i][3].startswith(_EDGE_FLAGS) or not _plain_word(ws[i][2]):
            continue
        for j in range(i, min(i + NGRAM_WORDS, len(ws))):
            if j > i and (ws[j][0] != ws[j - 1][1] or not _plain_word(ws[j][2])):
                break
            a, b = ws[i][0], ws[j][1]
            if b - a > NGRAM_CHARS:
                break
            if ws[j][3].startswith(_EDGE_FLAGS):
                continue
            text = sentence[a:b]
            if text in qtext or all(w[2] in qtext for w in ws[i : j + 1]):
                continue
            if not any(a - NGRAM_WINDOW <= me and ms <= b + NGRAM_WINDOW for ms, me, _ in marks):
                continue
            out.append((a, b, "", " ".join(w[3] for w in ws[i : j + 1])))
    return out


def _word_offsets(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, word, is_verb) for the text's words."""
    return [(a, b, w, flag.startswith("v") and flag != "vn") for a, b, w, flag in _tagged_offsets(text)]


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


def _term_marks(sentence: str, terms: dict[str, float]) -> list[tuple[int, int, str]]:
    """Where each of the question's words occurs in the sentence: (start, end, word), found once per sentence."""
    lowered = sentence.lower()
    out = []
    for t in terms:
        at = lowered.find(t)
        while at >= 0:
            out.append((at, at + len(t), t))
            at = lowered.find(t, at + len(t))  # non-overlapping, as re.finditer finds them
    return out


def _anchor_alignment(sentence: str, marks: list[tuple[int, int, str]], a: int, b: int, frame: QuestionFrame,
                      window: int) -> float:
    """How well the candidate sits where the question word sits (0..1): the best-placed anchor word in the same
    clause, by its rarity and closeness ("B级企业30家" for "多少家B级企业", not "共有A级企业2家"; "56件，立案查处24件"
    puts 立案查处 beside 24件, not 56件)."""
    anchors = set(frame.left + frame.right)
    if not anchors:
        return 0.0
    top = max(frame.terms.get(w, 8.0) for w in anchors)
    best = 0.0
    for ms, me, w in marks:
        if w not in anchors:
            continue
        gap = a - me if me <= a else (ms - b if ms >= b else window + 1)
        if 0 <= gap <= window and _one_clause(sentence, min(me, b), max(ms, a)):
            best = max(best, (1.0 - gap / (window + 1)) * frame.terms.get(w, 8.0) / top)
    return best


_BEFORE = re.compile(r"(?:之|以)?前")
_BECAUSE = re.compile(r"(?:因为|由于|因)([^，。；！？]{2,40})")
_LONG_DATE = re.compile(
    r"(?:公元前|公元)?\d{1,4}年代?(?:\d{1,2}月(?:\d{1,2}日)?)?(?:至\d{1,2}[月日]?\d{0,2}日?)?(?:春季|夏季|秋季|冬季|春|夏|秋|冬|初|底|末|中)?"
    r"|\d{1,2}世纪(?:\d{1,2}0年代)?(?:初|初期|中叶|中期|末|末期|上半叶|下半叶)?"
)


def _whole(sentence: str) -> list[tuple[int, int, str]]:
    text = sentence.strip()
    return [(0, len(text), "")] if text else []


def _date_spans(sentence: str) -> list[tuple[int, int, str]]:
    """Dates of any precision: 4月24日, 2006年5月11日至13日, 1990年代, 2009年春季, 20世纪中叶, 光绪十年."""
    spans = [(m.start(), m.end(), "") for m in DATE_RE.finditer(sentence)]
    for m in _YEAR_SPAN.finditer(sentence):
        if not any(a <= m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), ""))
    for m in _LONG_DATE.finditer(sentence):
        if m.end() - m.start() >= 3 and not any(a <= m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), ""))
    return spans


def _role_before(sentence: str, start: int) -> str | None:
    m = re.search(ROLE_PATTERN + r"$", sentence[max(0, start - 6) : start])
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


# The longest piece of the question matched beside a span, in characters; and the connecting characters skipped.
EDGE_MATCH_CHARS = 8
EDGE_GAP = 2  # "检查各类企业及单位[918家次]": up to this many characters between the match and the span
EDGE_SKIP = 4  # the question's measure word or head after its question word ("多少[家次]企业") may be skipped


def _edge_marks(sentence: str, left: str, right: str) -> tuple[dict[int, int], dict[int, int]]:
    """Where pieces of the question beside its question word occur in the sentence, found once per sentence: for
    each end position, the longest piece of the text before the question word ending there; for each start
    position, the longest piece of the text after it (its first EDGE_SKIP characters may be skipped) starting there."""
    ends: dict[int, int] = {}
    for k in range(1, min(EDGE_MATCH_CHARS, len(left)) + 1):
        piece = left[-k:]
        at = sentence.find(piece)
        while at >= 0:
            ends[at + k] = max(ends.get(at + k, 0), k)
            at = sentence.find(piece, at + 1)
    starts: dict[int, int] = {}
    for j in range(min(EDGE_SKIP, len(right)) + 1):
        for k in range(1, min(EDGE_MATCH_CHARS, len(right) - j) + 1):
            piece = right[j : j + k]
            at = sentence.find(piece)
            while at >= 0:
                starts[at] = max(starts.get(at, 0), k)
                at = sentence.find(piece, at + 1)
    return ends, starts


def _edge_match(edges: tuple[dict[int, int], dict[int, int]], a: int, b: int) -> tuple[int, int]:
    """How many characters of the question's text before its question word end right before the span, and of its
    text after the question word start right after it: "检查了[多少]家次企业" against "检查了[918家次]企业"."""
    ends, starts = edges
    return (max((ends.get(a - g, 0) for g in range(EDGE_GAP + 1)), default=0),
            max((starts.get(b + g, 0) for g in range(EDGE_GAP + 1)), default=0))


def _pos_class(flag: str | None, ch: str) -> str:
    """A word's part of speech as the boundary features read it: p(reposition), v(erb), u (particle), n(oun), punct."""
    if flag is None or not ch or ch in CLAUSE_PUNCT or ch in "（）()《》“”「」":
        return "punct"
    if flag.startswith("v") and flag != "vn":
        return "v"
    return flag[:1] if flag[:1] in ("p", "u", "n", "c") else "other"


def _boundary_features(sentence: str, a: int, b: int, starts: dict[int, str], ends: dict[int, str]) -> dict[str, float]:
    """What stands beside the span (a preposition before it, a verb after it...) and whether it cuts a word."""
    before = _pos_class(ends.get(a) if a > 0 else None, sentence[a - 1] if a > 0 else "")
    after = _pos_class(starts.get(b) if b < len(sentence) else None, sentence[b] if b < len(sentence) else "")
    return {
        f"before_{before}": 1.0, f"after_{after}": 1.0,
        "cuts_word": float((a > 0 and a not in ends) or (b < len(sentence) and b not in starts)),
    }


def _term_hits(text: str, terms: dict[str, float]) -> float:
    lowered = text.lower()
    return sum(w for t, w in terms.items() if t in lowered)


def _context_coverage(sentence: str, neighbours: str, title: str, article: str, terms: dict[str, float],
                      knobs: Knobs) -> float:
    """Weighted share of the question's terms found in the sentence (1), next to it, in the title or in the article
    (at the knobs' lower weights)."""
    total = sum(terms.values())
    if not total:
        return 1.0
    got = 0.0
    for t, w in terms.items():
        if t in sentence.lower():
            got += w
        elif t in neighbours.lower():
            got += knobs.neighbour_weight * w
        elif t in title.lower():
            got += knobs.title_weight * w
        elif t in article.lower():
            got += knobs.article_weight * w
    return got / total


_DIGIT_RUN = re.compile(r"\d+(?:\.\d+)?")


def _in_question(span: str, question: str) -> float:
    """The share of the span's characters the question already says. A number counts only when the question says
    the same number: the 2 and 4 of "24件" are not said by "2024年"."""
    said = set(_DIGIT_RUN.findall(question))
    numbers = sum(len(n) for n in _DIGIT_RUN.findall(span) if n in said)
    return (numbers + sum(ch in question for ch in _DIGIT_RUN.sub("", span))) / len(span)


def _one_clause(text: str, i: int, j: int) -> bool:
    """No clause ends between offsets i and j: "[56件]，立案查处" does not put 立案查处 beside 56件."""
    return not any(ch in CLAUSE_PUNCT for ch in text[i:j])


def _word_before(text: str, a: int, word: str, slack: int) -> bool:
    """The word ends at most `slack` characters before offset a, in the same clause."""
    i = text.find(word, max(0, a - len(word) - slack), a)
    return i >= 0 and _one_clause(text, i + len(word), a)


def _word_after(text: str, b: int, word: str, slack: int) -> bool:
    """The word starts at most `slack` characters after offset b, in the same clause."""
    i = text.find(word, b, b + len(word) + slack)
    return i >= 0 and _one_clause(text, b, i)


def _nearest_term_distance(marks: list[tuple[int, int, str]], a: int, b: int) -> int:
    best = 10_000
    for ms, me, _ in marks:
        d = a - me if me <= a else (ms - b if ms >= b else 0)
        best = min(best, max(d, 0))
    return best


@lru_cache(maxsize=64)
def _year_marks(article_text: str) -> tuple[list[int], list[str], str | None]:
    """Where the article names each year (end offsets, in order), the years, and its main year: read once per
    article, not once per sentence (a reader tries dozens of sentences of the same article)."""
    found = list(YEAR_RE.finditer(fold_width(article_text)))
    years = [m.group(1) for m in found]
    return [m.end() for m in found], years, most_named(years)


def effective_years(article_text: str, sent_start: int, sentence: str) -> set[str]:
    """The year(s) a sentence speaks of: its own, else the last year named before it, else the article's main year
    (a lead sentence of a review of 2024 speaks of 2024, not of the 2025 its plans name)."""
    own = set(years_in(sentence))
    if own:
        return own
    ends, years, main = _year_marks(article_text)
    before = bisect_right(ends, sent_start)
    if before:
        return {years[before - 1]}
    return {main} if main else set()


# A year as written: 2024年, 公元前221年, 西元1829年, and a reign's year (民国37年, 光绪十年, 宣统二年).
_YEAR_SPAN = re.compile(r"(?:公元前|公元|西元|前)?\d{3,4}年(?!代)|(?<![\d])[" + CJK + r"]{2}(?:元|[一二三四五六七八九十\d]{1,3})年(?!代|级|间|来|内|前|后)")


# A clause whose characters are at least this share the question's own restates the question: the next clause answers.
RESTATED_SHARE = 0.6


def _stating_clause(sentence: str, frame: QuestionFrame) -> str:
    """The clause of a sentence that answers a 为什么/如何 question: the one holding most of the question's words, or
    the clause after it when that one only restates the question ("…对该标志展开调查，[称其可能违反了许可规定]")."""
    clauses = [(a, b) for a, b in clause_spans(sentence, 0, len(sentence)) if sentence[a:b].strip("，、；：。！？,;: ")]
    if not clauses:
        return strip_spaces(sentence)
    at = max(range(len(clauses)), key=lambda i: _term_hits(sentence[clauses[i][0] : clauses[i][1]], frame.terms))
    chars = [ch for ch in sentence[clauses[at][0] : clauses[at][1]] if ch not in CLAUSE_PUNCT and not ch.isspace()]
    if chars and sum(ch in frame.text for ch in chars) / len(chars) >= RESTATED_SHARE and at + 1 < len(clauses):
        at += 1
    a, b = clauses[at]
    return strip_spaces(sentence[a:b]).strip("，、；：。！？,;: ")


def kind_spans(kind: str, sentence: str) -> list[tuple[int, int, str]]:
    """Spans of a kind that needs no more of the question to find: figure, date, year, person (start, end, unit)."""
    if kind == "figure":
        return _figure_spans(sentence)
    if kind == "date":
        return _date_spans(sentence)
    if kind == "year":
        return [(m.start(), m.end(), "") for m in _YEAR_SPAN.finditer(sentence)]
    if kind == "person":
        return _person_spans(sentence)
    return []


@dataclass
class _Read:
    """A sentence the reader reads for a question: where it is, how much of the question it covers (with its
    neighbours and article, and alone), and the names of the article's byline."""
    sentence: str
    passage: Passage
    rank: int  # the passage's rank in retrieval
    sentence_at: int  # the sentence's offset in its article
    coverage: float
    hits: float
    bylined: set[str]

    @cached_property
    def clauses(self) -> list[tuple[int, int]]:
        return clause_spans(self.sentence, 0, len(self.sentence))

    @cached_property
    def word_edges(self) -> tuple[dict[int, str], dict[int, str]]:
        """The part of speech of the word starting, and of the word ending, at each offset."""
        tagged = _tagged_offsets(self.sentence)
        return {a: flag for a, _, _, flag in tagged}, {b: flag for _, b, _, flag in tagged}


def _unit_answers(frame: QuestionFrame, unit: str) -> bool:
    """A figure in this unit can answer the question's measure (always true for other kinds of question)."""
    if frame.kind != "figure":
        return True
    if frame.unit_family and UNIT_FAMILY.get(unit, unit) != frame.unit_family:
        return False  # a count of 件 never answers 多少家
    if frame.unit_hints == RATE_UNITS and unit not in RATE_UNITS + ("个百分点",):
        return False  # "增长了多少" is answered by a rate, never by an amount
    if frame.unit_hints and not frame.unit_family and unit in UNIT_FAMILY and set(frame.unit_hints) & _NOT_COUNTED:
        return False  # a count of things (300天, 56件) is never a sum of money or a ratio
    return True


class ExtractiveAnswerer:
    """Chooses the best-supported span of the expected kind among retrieved passages, or declines."""

    def __init__(self, article_lookup: Callable[[Passage], ArticleText], knobs: Knobs = KNOBS,
                 model: ReaderModel | None = None, min_confidence: float | None = None, learned: bool | None = None):
        self.article_lookup = article_lookup  # the whole article a passage belongs to
        self.knobs = knobs
        self.model = model  # None: the hand-set rules rank spans, and every span found is stated
        self.min_confidence = (model.threshold if model else 0.0) if min_confidence is None else min_confidence
        # The learned reader's candidates (wider reading, word runs, its features): with a model, or for fitting one.
        self.learned = model is not None if learned is None else learned

    def answer(self, frame: QuestionFrame, passages: list[Passage], places: list[str] | None = None) -> Extraction:
        """Answer one self-contained question from these passages; `places` adds places the answer's article
        must name (a comparison knows its subjects even when the question writes them without 市/县)."""
        extra = [short_place(p) for p in places or []]
        if any(p not in frame.places for p in extra):
            frame = replace(frame, places=[*frame.places, *(p for p in dict.fromkeys(extra) if p not in frame.places)])
        if not passages:
            return Extraction(False, f"{DECLINE_PREFIX}与该问题相关的内容。", [], reason="no passages")
        best, in_place, in_year, evidence = self._search(frame, passages)
        if best is None:
            if frame.places and not in_place:
                what = "、".join(frame.places)
                return Extraction(False, f"{DECLINE_PREFIX}{what}的相关内容。", [], reason="place")
            if frame.years:
                other_year = self._other_year(frame, passages) if frame.kind == "figure" else None
                if other_year is not None:
                    return other_year
            if frame.years and not in_year:
                what = "、".join(f"{y}年" for y in frame.years)
                subject = "、".join(frame.places)
                return Extraction(False, f"{DECLINE_PREFIX}{subject}{what}的相关内容。", [], reason="year")
            if evidence is not None:
                return self._not_found(evidence)
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案。", [], reason="no supported span")
        if frame.kind in NON_FACTOID and evidence is not None and evidence.coverage >= self.knobs.min_coverage:
            # 为什么/如何/采取了哪些措施: the clause of the best-covered sentence that states it. The learned reader
            # quotes the sentence instead, unanswered: on the training sets the clause is right 56 times in 302 (its
            # sentence holds the answer 232 times), far below the precision it states answers at.
            if self.model is not None:
                return self._not_found(evidence)
            return Extraction(True, _stating_clause(evidence.sentence, frame), [evidence.passage],
                              sentence=evidence.sentence.strip())
        unsure = best.confidence is not None and best.confidence < self.min_confidence  # None: a byline, or the rules
        if self.model is not None and (best.source == "whole" or unsure):
            return self._not_found(best)
        cited = [best.passage] + [p for p in passages if p.chunk_id != best.passage.chunk_id and best.span in strip_spaces(p.text)][:1]
        return Extraction(True, best.span, cited, sentence=best.sentence.strip(), confidence=best.confidence)

    @staticmethod
    def _not_found(best: Candidate) -> Extraction:
        """Decline, but show the sentence most likely to hold the answer, cited."""
        quote = " ".join(tidy_spacing(best.sentence.strip()).split()).rstrip("。；;")  # "2023-08-06 15:32" keeps its space
        return Extraction(False, f"{NOT_FOUND}「{quote}」[1]", [best.passage], sentence=best.sentence.strip(),
                          reason="low confidence", confidence=best.confidence)

    def _other_year(self, frame: QuestionFrame, passages: list[Passage]) -> Extraction | None:
        """When the articles hold the figure only for another year: decline, and say plainly which year the
        figure they do hold is for ("资料只有2024年的数据：38微克/立方米")."""
        best, _, _, _ = self._search(replace(frame, years=[]), passages)
        if best is None:
            return None
        article = self.article_lookup(best.passage).text
        years = sorted(effective_years(article, best.sentence_at, best.sentence))
        if not years or set(years) & set(frame.years):
            return None
        asked = "、".join(frame.places) + "、".join(f"{y}年" for y in frame.years)
        note = f"{DECLINE_PREFIX}{asked}的数据；资料只有{'、'.join(f'{y}年' for y in years)}的数据：{best.span}。"
        return Extraction(False, note, [best.passage], sentence=best.sentence.strip(), reason="other year")

    def candidates(self, frame: QuestionFrame, passages: list[Passage]) -> tuple[list[Candidate], int, int, Candidate | None]:
        """Every candidate span with its features (see reader_model.FEATURES), how many passages came from articles
        naming the places and the years, and the best-covered sentence read (the evidence when nothing answers)."""
        k = self.knobs
        total = frame.term_total or 1.0
        out: list[Candidate] = []
        in_place = in_year = 0
        evidence: Candidate | None = None
        reads: list[_Read] = []  # the sentences that may answer
        learned = self.learned
        min_hits = k.learned_min_sentence_hits if learned else k.min_sentence_hits
        min_cov = k.learned_min_coverage if learned else k.min_coverage
        for rank, passage in enumerate(passages):
            art = self.article_lookup(passage)
            title, article, offset = art.title, art.text, passage.start - art.start
            if any(p not in article and p not in title for p in frame.places):
                continue
            in_place += 1
            if frame.years and not any(y in article or y in title for y in frame.years):
                continue
            in_year += 1
            if frame.kind == "author" and art.byline:
                names = byline_names(art.byline)
                cov = (_term_hits(title + article, frame.terms) / total) if frame.terms else 1.0
                out.append(Candidate("、".join(names), passage, art.byline, 0.0, cov, source="byline"))
                continue  # an article without a byline: look for the name in its sentences
            bylined = set(byline_names(art.byline)) if art.byline else set()
            spans = sentence_spans(passage.text)
            for si, (s_a, s_b) in enumerate(spans):
                sentence = passage.text[s_a:s_b]
                if frame.years:
                    eff = effective_years(article, offset + s_a, sentence)
                    if not eff & set(frame.years):
                        continue
                sent_hits = _term_hits(sentence, frame.terms) / total
                if sent_hits < min_hits and frame.terms:
                    continue
                around = "".join(passage.text[x:y] for x, y in spans[max(si - 1, 0) : si + 2])
                sent_cov = _context_coverage(sentence, around, title, article, frame.terms, k)
                if frame.terms and sent_cov < min_cov:
                    continue  # too little of the question is here to answer from this sentence
                if strip_spaces(sentence) and (evidence is None or sent_cov > evidence.coverage):
                    evidence = Candidate(strip_spaces(sentence), passage, sentence, 0.0, sent_cov, offset + s_a)
                reads.append(_Read(sentence, passage, rank, offset + s_a, sent_cov, sent_hits, bylined))
        if learned:
            reads.sort(key=lambda r: -r.coverage)
            reads = reads[: k.learned_sentences]  # the best-covered sentences only: the model reads each word run
        for read in reads:
            sentence = read.sentence
            marks = _term_marks(sentence, frame.terms)
            edges = _edge_marks(sentence, frame.wh_left, frame.wh_right)
            for a, b, unit, source in self._spans(frame, sentence, marks):
                span = strip_spaces(sentence[a:b])
                if not span or not _unit_answers(frame, unit):
                    continue
                source, _, flags = source.partition(":")
                x = self._features(frame, read, marks, edges, a, b, span, unit, source, flags)
                out.append(Candidate(span, read.passage, sentence, 0.0, read.coverage, read.sentence_at, source=source,
                                     features=x))
        if out:
            best_cov = max(c.coverage for c in out)
            counts: dict[str, int] = {}
            for c in out:
                counts[c.span] = counts.get(c.span, 0) + 1
            for c in out:
                if c.features is not None:
                    c.features["cov_gap"] = c.coverage - best_cov
                    c.features["sent_best"] = float(c.coverage >= best_cov)
                    c.features["support"] = math.log1p(counts[c.span] - 1)
        return out, in_place, in_year, evidence

    def _features(self, frame: QuestionFrame, read: _Read, marks: list[tuple[int, int, str]],
                  edges: tuple[dict[int, int], dict[int, int]], a: int, b: int, span: str, unit: str, source: str,
                  flags: str) -> dict[str, float]:
        """The features of the span sentence[a:b] (see reader_model.FEATURES), but those that compare it with the
        other candidates (cov_gap, sent_best, support)."""
        sentence = read.sentence
        total = frame.term_total or 1.0
        clause = next((sentence[c:d] for c, d in read.clauses if c <= a < d), sentence)
        x = dict(
            sent_cov=read.coverage, sent_hits=read.hits, clause_cov=_term_hits(clause, frame.terms) / total,
            rank=read.rank, rank_inv=1.0 / (1 + read.rank), typed=float(source == "typed"), gap=float(source == "gap"),
            whole=float(source == "whole"), ngram=float(source == "ngram"), length=math.log1p(len(span)) / 3,
            quoted=float(a > 0 and sentence[a - 1] in "《“「" and b < len(sentence) and sentence[b] in "》”」"),
            after_copula=float(bool(_COPULA.search(sentence, max(0, a - 2), a))),
            in_question=_in_question(span, frame.text),
            byline=float(frame.kind != "author" and (span in read.bylined or _after_byline_role(sentence, a))),
        )
        if self.learned:
            x.update(_boundary_features(sentence, a, b, *read.word_edges))
        lm, rm = _edge_match(edges, a, b)
        x["left_match"], x["right_match"] = lm / EDGE_MATCH_CHARS, rm / EDGE_MATCH_CHARS
        x["numeric"] = float(bool(_NUMERAL.search(span)))
        if flags:
            tags = flags.split()
            x["noun_end"] = float(tags[-1].startswith(("n", "j")))
            x["person_name"] = float(any(t in ("nr", "nrt", "nrfg") for t in tags))
            x["place_name"] = float("ns" in tags)
            x["org_name"] = float("nt" in tags)
            x["proper"] = float(any(t in ("nz", "eng") for t in tags))
            x["verb_in"] = float(any(t.startswith("v") and t != "vn" for t in tags))
            x["words"] = len(tags) / NGRAM_WORDS
        if frame.kind == "figure":
            x["unitless"] = float(not unit)
            x["unit_fit"] = float(bool(unit) and unit_fits(frame, unit))
            x["unit_hint"] = float(any(h in unit for h in frame.unit_hints))
        if frame.head and sentence[a:b].rstrip(LOCATIVE).endswith(frame.head):
            x["head"] = 1.0  # the span is the kind of thing asked for ("…集团" for 什么集团)
        if frame.terms:
            x["distance"] = min(_nearest_term_distance(marks, a, b), DISTANCE_CAP) / DISTANCE_CAP
            x["anchor"] = _anchor_alignment(sentence, marks, a, b, frame, self.knobs.anchor_window)
            low = sentence.lower()
            x["adj_left"] = float(any(_word_before(low, a, w, 2) for w in frame.left[:1]))
            x["adj_right"] = float(any(_word_after(low, b, w, 2) for w in frame.right[:1]))
            # The same words on the other side: "B级企业[30家]" for "多少家B级企业", "[30家]企业" for "企业有多少家".
            x["right_before"] = float(any(_word_before(low, a, w, 1) for w in frame.right[:2]))
            x["left_after"] = float(any(_word_after(low, b, w, 1) for w in frame.left[:2]))
        return x

    def _search(self, frame: QuestionFrame, passages: list[Passage]) -> tuple[Candidate | None, int, int, Candidate | None]:
        """The best candidate span (its score the model's, its confidence calibrated), how many passages came from
        articles naming the places and the years, and the evidence sentence."""
        cands, in_place, in_year, evidence = self.candidates(frame, passages)
        if not cands:
            return None, in_place, in_year, evidence
        if frame.kind == "author" and cands[0].source == "byline":
            k = self.knobs
            for rank, c in enumerate(cands):
                c.score = c.coverage * k.author_coverage_weight - rank * k.author_rank_penalty
            best = max(cands, key=lambda c: c.score)
            return (best if best.coverage >= k.min_coverage or not frame.terms else None), in_place, in_year, evidence
        model = self.model
        if model is None:  # the hand-set rules
            for c in cands:
                c.score = self._rule_score(frame, c.features)
                c.confidence = None  # the rules rank, they do not say how sure they are
            best = max(cands, key=lambda c: c.score)
            return best, in_place, in_year, evidence
        scores = model.scores(frame.kind, [c.features for c in cands])
        at = max(range(len(cands)), key=scores.__getitem__)
        best = cands[at]
        best.score = scores[at]
        spans = [c.span for c in cands]
        best.confidence = model.confidence(frame.kind, scores, spans, at, best.features,
                                           agrees(spans, at, self.rule_pick(frame, cands)))
        return best, in_place, in_year, evidence

    def rule_pick(self, frame: QuestionFrame, cands: list[Candidate]) -> int | None:
        """The candidate the hand-set rules would choose among those they generate (not the word runs): a second
        opinion whose agreement the confidence reads."""
        scored = [(self._rule_score(frame, c.features), i) for i, c in enumerate(cands)
                  if c.features is not None and c.source != "ngram"]
        return max(scored)[1] if scored else None

    def _rule_score(self, frame: QuestionFrame, x: dict[str, float]) -> float:
        """The hand-set score (knobs.py): sentence and clause coverage, rank, unit, head, distance and anchor."""
        k = self.knobs
        score = k.sentence_weight * x["sent_cov"] + x["clause_cov"] - x["rank"] * k.rank_penalty
        if frame.kind == "figure":
            score -= k.unitless_penalty * x.get("unitless", 0.0)
            if frame.unit_hints:
                score += k.unit_hint_bonus if x.get("unit_hint", 0.0) else -k.unit_hint_bonus
        score += k.head_bonus * x.get("head", 0.0)
        if frame.terms:
            score -= k.distance_penalty * min(x["distance"] * DISTANCE_CAP, k.distance_cap)
            score += k.anchor_weight * x["anchor"]
        return score

    def _spans(self, frame: QuestionFrame, sentence: str, marks: list | None = None) -> list[tuple[int, int, str, str]]:
        """Candidate spans (start, end, unit, source): "typed" when of the kind asked for, else "gap" (the words
        the question leaves out) or "whole" (the sentence)."""
        typed = self._typed_spans(frame, sentence) or []
        out = [(a, b, u, "typed") for a, b, u in typed]
        if frame.kind in ("figure", "date", "year", "rank") or (frame.kind in ("person", "author") and frame.role):
            return out  # only the kind's own spans answer these
        if not self.learned:  # the hand-set rules: the kind's own spans, else the gap, else the sentence
            if out:
                return out
            gap = [(a, b, u, "gap") for a, b, u in _gap_spans(sentence, frame)]
            return gap or ([(a, b, u, "whole") for a, b, u in _whole(sentence)] if frame.kind in ("other", "reason", "method") else [])
        out += [(a, b, u, "gap") for a, b, u in _gap_spans(sentence, frame)]
        if frame.kind not in NON_FACTOID:
            seen = {(a, b) for a, b, _, _ in out}
            out += [(a, b, u, "ngram:" + flags) for a, b, u, flags in _ngram_spans(sentence, frame.text, marks if marks is not None else _term_marks(sentence, frame.terms))
                    if (a, b) not in seen]
        if frame.kind in ("other", "reason", "method"):
            out += [(a, b, u, "whole") for a, b, u in _whole(sentence)]
        return out

    def _typed_spans(self, frame: QuestionFrame, sentence: str) -> list[tuple[int, int, str]] | None:
        if frame.kind == "figure":
            return _figure_spans(sentence)
        if frame.kind == "date":
            if frame.deadline:  # a deadline is a date written with 前 ("务必于5月底前全部办结"), not the day of a meeting
                return [(a, m.end(), u) for a, b, u in _date_spans(sentence) if (m := _BEFORE.match(sentence, b))]
            return _date_spans(sentence)
        if frame.kind == "rank":
            return [(m.start(), m.end(), "") for m in re.finditer(r"第[一二三四五六七八九十\d]+(?:名|位)?", sentence)]
        if frame.kind == "year":
            return kind_spans("year", sentence)
        if frame.kind in ("person", "author"):
            spans = [sp for sp in _person_spans(sentence, frame.text) if sentence[sp[0] : sp[1]] not in frame.text]
            if frame.role:  # "副局长叫什么名字" wants the name right after 副局长, not after 局长
                return [sp for sp in spans if _role_before(sentence, sp[0]) == frame.role]
            if frame.kind == "person" and self.learned:  # 谁 may be an organization: "谁发布了…" -> "国家统计局"
                spans += [sp for sp in _org_spans(sentence) if sentence[sp[0] : sp[1]] not in frame.text]
            return spans
        if frame.kind == "which" and frame.head:
            return _head_spans(sentence, frame.head, frame.head_text, frame.text)
        if frame.kind in ("place", "which"):
            return _place_spans(sentence, frame.text)
        if frame.kind == "reason":
            return [(m.start(1), m.end(1), "") for m in _BECAUSE.finditer(sentence)]
        return None
