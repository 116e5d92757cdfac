"""The Gradio web UI: chat with numbered, openable citations; the facts table; documents; status."""

from __future__ import annotations

import asyncio
import atexit
import csv
import hmac
import html
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from itertools import groupby
from pathlib import Path

from ..errors import DiskFull, IndexBusy, IndexMissing, InputError, QuestionError, StoreUnavailable, UIError
from .api import Answer, Assistant, Status
from .charts import render_charts
from .uploads import Refusal, UploadService, human, report_lines
from ..store.records import full_heading
from ..text.figures import figure_matches, figure_values, same_figure
from ..text.tokens import pos_words

APP_TITLE = "新闻问答助手"
# Example questions are the archive's own: figure questions made from its facts, each kept only if it is answered.
EXAMPLE_COUNT = 3
EXAMPLE_CANDIDATE_FACTS = 400  # facts read to pick the examples from (one per document, the first ones)
EXAMPLE_TRIES = 12  # questions asked at start-up to find EXAMPLE_COUNT that answer (a few ms each)
EXAMPLE_MAX_METRIC_CHARS = 8  # "处罚金额" reads as a question; a long clause of a metric does not
FACT_HEADERS = ["主体", "指标", "数值", "单位", "时期", "原文", "来源"]
DOCUMENT_HEADERS = ["文档", "标题（各篇文章）", "文章数", "段落数", "文件"]
# Shares of the table's width, so every column fits a 1280 px window and long text wraps inside its cell.
FACT_COLUMN_WIDTHS = ["12%", "14%", "9%", "8%", "10%", "29%", "18%"]
# Rows on one page of the facts table: a page is read from the index on its own, never the whole table.
FACT_PAGE_ROWS = 50
CHAT_HEIGHT = 440  # px: at 1280×800 the question box and the example questions stay above the fold
DOCUMENT_COLUMN_WIDTHS = ["18%", "46%", "8%", "8%", "20%"]

CSS = """
footer .divider:last-child { display: none; }  /* the separator Gradio leaves after the one footer link shown */
.offscreen { position: absolute !important; left: -9999px !important; width: 1px; height: 1px; overflow: hidden; }
.citations { margin-top: .6em; font-size: .92em; }
.citation { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: .3em .6em; margin: .3em 0; }
.citation summary { cursor: pointer; }
.citation .passage { margin-top: .4em; line-height: 1.7; }
.citation .evidence { background: #fff3c4; }
.citation mark { background: #ffd54a; font-weight: 600; }
.warning { color: #a15c00; }
.fact-chart { margin: 0 0 1em 0; }
.fact-chart figcaption { font-weight: 600; margin-bottom: .3em; }
.fact-chart .bar summary { display: flex; align-items: center; gap: .5em; cursor: pointer; padding: .15em 0; }
.fact-chart .bar-label { flex: 0 0 14em; overflow-wrap: anywhere; line-height: 1.35; }  /* wraps, never cut */
.fact-chart .bar-track { flex: 1 1 auto; background: var(--background-fill-secondary); height: 1.1em; }
.fact-chart .bar-fill { display: block; height: 100%; background: #4a7fd0; }
.fact-chart .bar[open] .bar-fill { background: #e0a100; }
.fact-chart .bar-value { flex: 0 0 auto; font-variant-numeric: tabular-nums; }
.fact-chart .passage { margin: .3em 0 .2em 1em; line-height: 1.7; font-size: .92em; }
.fact-chart .passage .evidence { background: #fff3c4; }
.fact-chart .passage mark { background: #ffd54a; font-weight: 600; }
.fact-chart .meta, .chart-more, .chart-hint { color: var(--body-text-color-subdued); font-size: .88em; }
.fact-chart .meta { margin-left: 1em; }
"""


# Gradio's labels its zh-CN translation lacks or that its components hard-code in English (tooltips, screen-reader
# labels), in Chinese.
GRADIO_LABELS_ZH = {
    "Copy message": "复制消息", "Copied message": "已复制消息", "Copy": "复制", "Copied": "已复制",
    "Copy table data": "复制表格数据", "Scroll down": "滚动到最新消息", "Fullscreen": "全屏",
    "Exit fullscreen": "退出全屏", "Exit fullscreen mode": "退出全屏", "Click to upload or drop files": "点击上传或拖放文件",
    "File upload": "上传文件", "chatbot conversation": "对话记录", "Textbox": "文本框", "Dataframe": "数据表格",
    "Open cell menu": "打开单元格菜单", "Table actions": "表格操作", "More tabs": "更多标签页",
    "Gradio footer navigation": "页脚导航", "Stop Recording": "停止录音", "Clear": "清除", "Download": "下载",
    "Share": "分享", "Retry": "重试", "Undo": "撤销", "Edit": "编辑", "Like": "赞", "Dislike": "踩", "Close": "关闭",
    "Sort ascending": "升序排列", "Sort descending": "降序排列", "Clear sort": "取消排序", "Search": "搜索",
    "Remove": "移除", "Loading...": "加载中…", "Error": "错误",
    # Gradio's i18n keys that its zh-CN table lacks, shown as the key itself
    "common.complete": "完成", "common.upload": "上传", "common.download": "下载", "common.clear": "清除",
    "common.remove": "移除", "common.edit": "编辑", "common.copy": "复制", "common.close": "关闭",
}
# A chat message's screen-reader label is "<role>'s message: <its HTML>": read aloud as who speaks and the plain text.
GRADIO_LABEL_PREFIXES_ZH = {"user's message:": "你的问题：", "bot's message:": "助手的回答：",
                            "assistant's message:": "助手的回答："}
# The page is Chinese whatever the browser's language: the served document says so, Gradio's own labels (which
# follow navigator.language) are pinned to zh-CN by a script that runs before Gradio's own (see
# server.ChinesePage), and the labels that stay English are replaced as they appear (attributes and text alike).
PIN_CHINESE = (
    '<script>Object.defineProperty(navigator, "language", {get: () => "zh-CN"});'
    'Object.defineProperty(navigator, "languages", {get: () => ["zh-CN", "zh"]});'
    "(() => { const zh = " + json.dumps(GRADIO_LABELS_ZH, ensure_ascii=False) + ";"
    "const prefixes = " + json.dumps(GRADIO_LABEL_PREFIXES_ZH, ensure_ascii=False) + ";"
    "const attrs = ['aria-label', 'title', 'placeholder', 'alt'];"
    "const plain = (html) => new DOMParser().parseFromString(html, 'text/html').body.textContent"  # inert: loads nothing
    ".replace(/\\s+/g, ' ').trim();"
    "const fix = (el) => { for (const a of attrs) { const v = el.getAttribute && el.getAttribute(a);"
    " if (!v) continue; if (zh[v.trim()]) { el.setAttribute(a, zh[v.trim()]); continue; }"
    " for (const [en, cn] of Object.entries(prefixes)) if (a === 'aria-label' && v.startsWith(en))"
    " el.setAttribute(a, cn + plain(v.slice(en.length))); } };"
    "const text = (n) => { const t = n.nodeValue.trim(); if (t && zh[t]) n.nodeValue = n.nodeValue.replace(t, zh[t]); };"
    "const walk = (root) => { if (root.nodeType === 3) { text(root); return; } if (root.nodeType !== 1) return;"
    " fix(root); for (const el of root.querySelectorAll('*')) fix(el);"
    " const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT); while (w.nextNode()) text(w.currentNode); };"
    "new MutationObserver((ms) => { for (const m of ms) { if (m.type === 'attributes') fix(m.target);"
    " else if (m.type === 'characterData') text(m.target); else m.addedNodes.forEach(walk); } })"
    ".observe(document.documentElement, {subtree: true, childList: true, characterData: true, attributes: true,"
    " attributeFilter: attrs}); })();</script>"
)

log = logging.getLogger(__name__)


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- what the chat shows ----------------------------------------------------------------


def _positions(text: str) -> tuple[str, list[int]]:
    """text without whitespace, and for each of its characters the index in text."""
    kept = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(ch for _, ch in kept), [i for i, _ in kept]


def _find(text: str, needle: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Where needle occurs in text[start:end], ignoring whitespace on both sides (print layout breaks lines)."""
    end = len(text) if end is None else end
    plain, index = _positions(text[start:end])
    target = re.sub(r"\s+", "", needle or "")
    at = plain.find(target) if target else -1
    if at < 0:
        return None
    return start + index[at], start + index[at + len(target) - 1] + 1


def highlight(text: str, evidence: str, answer: str) -> str:
    """The passage as HTML: the evidence sentence shaded and the answer's figures or words marked within it."""
    shaded = [False] * len(text)
    marked = [False] * len(text)
    scope = _find(text, evidence) if evidence else None
    lo, hi = scope if scope else (0, len(text))
    if scope:
        shaded[lo:hi] = [True] * (hi - lo)
    # The answer's parts ("394.179万元", "晋中市"), or for a sentence-long answer its figures, as the text has them.
    parts = [p.strip() for p in re.split(r"[；;，,、（）()。]", re.sub(r"\[\d+\]", "", answer))]
    parts = [p for p in parts if p and not p.startswith("资料中未提及")]
    for part in [*parts, *(m.group(0) for m in figure_matches(answer))]:
        found = _find(text, part, lo, hi) or (_find(text, part) if scope else None)
        if found:
            marked[found[0] : found[1]] = [True] * (found[1] - found[0])
    # Runs of equal state, so tags always nest: <span class="evidence">…<mark>…</mark>…</span>.
    out = []
    for shade, run in groupby(range(len(text)), key=shaded.__getitem__):
        run = list(run)
        inner = "".join(
            f"<mark>{piece}</mark>" if mark else piece
            for mark, sub in groupby(run, key=marked.__getitem__)
            for piece in [html.escape("".join(text[i] for i in sub))]
        )
        out.append(f'<span class="evidence">{inner}</span>' if shade else inner)
    return "".join(out)


def render_answer(answer: Answer) -> str:
    """The chat message for an answer: the text, its warnings, then the numbered citations, each openable. A decline
    marks nothing as the answer: its evidence sentence is shaded only."""
    parts = [html.escape(answer.answer)]
    for w in answer.warnings:
        parts.append(f'<div class="warning">⚠ {html.escape(w)}</div>')
    if answer.citations:
        items = []
        for i, c in enumerate(answer.citations, start=1):
            n = answer.markers[i - 1] if i - 1 < len(answer.markers) else i
            source = Path(c.source).name if c.source else c.doc_id
            items.append(
                f'<details class="citation"><summary>[{n}] {html.escape(c.heading)}'
                f" · {html.escape(source)}</summary>"
                f'<div class="passage">{highlight(c.text, answer.evidence, answer.answer if answer.answered else "")}</div>'
                f'<div class="meta">文章：{html.escape(full_heading(c.title, c.subtitle))}　来源文件：{html.escape(c.source)}</div>'
                "</details>"
            )
        parts.append('<div class="citations"><div>引用：</div>' + "".join(items) + "</div>")
    return "\n".join(parts)


# --- status, facts, documents -----------------------------------------------------------


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


STATUS_REFRESH_S = 3.0  # how often an open page refreshes the status line while vectors are pending


def status_text(assistant: Assistant) -> str:
    return status_line(assistant)[0]


def status_line(assistant: Assistant) -> tuple[str, int]:
    """The status line, and how many passages wait for their vectors."""
    try:
        info = assistant.status()
    except IndexMissing:
        return f"**回答方式**：{_backend(assistant)}　|　**索引**：尚无数据，请在“文档”页上传。", 0
    except Exception as exc:  # an unreadable index must not take the page down
        return f"**索引**：无法读取（{type(exc).__name__}）。", 0
    mb = _size(assistant.index_dir) / 1e6
    pending = info.vectors_pending
    return (
        f"**回答方式**：{_backend(assistant, info)}　|　**索引**：{info.documents} 篇文档、{info.articles} 篇文章、"
        f"{info.chunks} 个段落、{info.facts} 条数据，占用 {mb:.1f} MB"
        + (f"　|　**向量**：后台计算中，还剩 {pending} 个段落（已可按关键词回答）" if pending else "")
        + (f"　|　**注意**：{info.degraded}" if info.degraded else "")
    ), pending


class BackgroundEmbedder:
    """Computes the vectors ingestion left pending, in a daemon thread, a batch at a time under the write lock,
    so answers never wait and an upload waits at most one batch. kick() after anything that adds passages; passages
    another process ingests are found within IDLE_POLL_S."""

    def __init__(self, assistant: Assistant, lock: threading.Lock):
        self.assistant = assistant
        self.lock = lock
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def kick(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="embed-pending", daemon=True)
                self._thread.start()

    STOP_WAIT_S = 3.0  # at a server's stop, how long the batch being embedded may take to finish and close its workers

    def stop(self) -> None:
        """End the background run: the batch in hand lands, the worker processes close (a process that exited under a
        running pool had its interpreter warn of "leaked semaphore objects"); after STOP_WAIT_S the server stops
        anyway, since a daemon thread cannot hold it."""
        self.stopping.set()
        with self._guard:
            thread = self._thread
        if thread is not None:
            thread.join(self.STOP_WAIT_S)

    BUSY_RETRY_S = 5.0  # while another process writes the index (an `assistant ingest`), try again this often
    IDLE_POLL_S = 10.0  # with nothing pending, look this often for passages another process ingested
    FAILED_RETRY_S = 30.0  # after a vector write failed (a full disk, a stuck write): try again this much later

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    if not self.assistant.pending_count() or not self.assistant.embed_pending(
                            stop=self.stopping.is_set, lock=self.lock):
                        self.stopping.wait(self.IDLE_POLL_S)
                except (IndexBusy, IndexMissing):
                    self.stopping.wait(self.BUSY_RETRY_S)
                except (DiskFull, StoreUnavailable) as exc:  # said once in the log; answers go on meanwhile
                    log.warning("background embedding paused for %.0f s: %s", self.FAILED_RETRY_S, exc)
                    self.stopping.wait(self.FAILED_RETRY_S)
        except Exception:  # a failing embedder must not take the server down; answers still work lexically
            log.exception("background embedding stopped")


def _backend(assistant: Assistant, info: Status | None = None) -> str:
    if assistant.backend.startswith("llm"):
        model = (info.llm_model if info else None) or assistant.settings.llm_model
        url = (info.llm_base_url if info else None) or ""
        return f"大模型 {model}" + (f"（{url}）" if url else "")
    return "离线抽取式（无需网络与模型）"


def _fact_filters(subject: str | None, metric: str | None, year: str | None) -> dict:
    """The filter boxes as the facts' filters (an empty box, or one the page sends as None, filters nothing)."""
    subject, metric, year = ((v or "").strip() for v in (subject, metric, year))
    if year and not re.fullmatch(r"(?:19|20)\d{2}", year):
        raise UIError("年份应是四位数字，例如 2024。")
    return {"subject": subject or None, "metric": metric or None, "year": int(year) if year else None}


def filtered_facts(assistant: Assistant, subject: str | None = "", metric: str | None = "", year: str | None = "",
                   page: int | None = None) -> list:
    """The facts the filter boxes select: all of them, or page `page` (from 1) of FACT_PAGE_ROWS rows."""
    paging = {} if page is None else {"limit": FACT_PAGE_ROWS, "offset": (max(page, 1) - 1) * FACT_PAGE_ROWS}
    try:
        return assistant.facts(**_fact_filters(subject, metric, year), **paging)
    except IndexMissing:
        return []


def counted_facts(assistant: Assistant, subject: str | None = "", metric: str | None = "", year: str | None = "") -> int:
    try:
        return assistant.count_facts(**_fact_filters(subject, metric, year))
    except IndexMissing:
        return 0


def _source(f) -> str:
    """Where a figure comes from: its article's heading, else the document's name."""
    return f.title or (Path(f.source).name if f.source else f.doc_id)


def facts_rows(facts: list) -> list[list]:
    """The facts table's rows: 主体, 指标, 数值, 单位, 时期, 原文, 来源."""
    return [[f.subject, f.metric, f.display_value(), f.unit, f.when, f.span, _source(f)] for f in facts]


def page_count(total: int) -> int:
    return max(1, -(-total // FACT_PAGE_ROWS))


def facts_chart(assistant: Assistant, facts: list, metric: str | None) -> str:
    """The bar charts beside the table: drawn once a metric is asked for, each bar opening its passage."""
    return render_charts(facts, bool((metric or "").strip()), assistant.passages, highlight)


def write_csv(rows: list[list], directory: Path, keep: int = 50) -> Path:
    """A new CSV per query (two users never overwrite each other's download); only the newest `keep` stay."""
    directory.mkdir(parents=True, exist_ok=True)
    old = sorted(directory.glob("*/facts.csv"), key=lambda p: p.stat().st_mtime)
    for stale in old[: max(0, len(old) - keep + 1)]:
        shutil.rmtree(stale.parent, ignore_errors=True)
    path = Path(tempfile.mkdtemp(dir=directory)) / "facts.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # the BOM lets Excel read the Chinese
        writer = csv.writer(fh)
        writer.writerow(FACT_HEADERS)
        writer.writerows(rows)
    return path


def document_rows(assistant: Assistant) -> list[list]:
    try:
        docs = assistant.documents()
    except IndexMissing:
        return []
    return [
        [d.doc_id, d.title or "；".join(d.article_titles), d.articles, d.chunks, Path(d.source).name]
        for d in docs
    ]


def parse_auth(raw: str | None, path: Path | None) -> list[tuple[str, str]]:
    """Users from "name:password,name2:password2" and/or a file with one "name:password" per line."""
    pairs: list[str] = [p for p in (raw or "").split(",") if p.strip()]
    if path is not None:
        try:
            pairs += [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
        except OSError as exc:
            raise UIError(f"无法读取用户文件 {path}（{exc.strerror}）。") from None
    users = []
    for p in pairs:
        name, sep, password = p.strip().partition(":")
        if not sep or not name or not password:
            raise UIError("登录用户的格式应为“用户名:密码”，多个用户以逗号分隔。")
        users.append((name, password))
    return users


class LoginGuard:
    """Gradio's login check: the users' passwords, compared in constant time; wrong passwords are answered slowly
    and one at a time, and a name that keeps failing is locked for a while (even its right password is refused)."""

    FAILURE_DELAY_S = 1.0  # each wrong password waits this long, one at a time: 50 guesses take 50 s, not 0.3 s
    MAX_FAILURES = 5  # wrong passwords for one name within LOCK_S before the name is locked
    LOCK_S = 300.0

    def __init__(self, users: list[tuple[str, str]], clock=time.monotonic):
        self.users = dict(users)
        self.clock = clock
        self.failures: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self._slow: asyncio.Lock | None = None  # wrong passwords wait in line (made on the server's loop)

    def verdict(self, name: str, password: str) -> bool:
        """True for a right password of a name that is not locked; a wrong one is counted against the name."""
        now = self.clock()
        with self.lock:
            recent = [t for t in self.failures.get(name, []) if now - t < self.LOCK_S]
            expected = self.users.get(name)
            right = expected is not None and hmac.compare_digest(expected.encode(), (password or "").encode())
            if right and len(recent) < self.MAX_FAILURES:
                self.failures.pop(name, None)
                return True
            self.failures[name] = [*recent, now]
        if len(recent) >= self.MAX_FAILURES:
            log.warning("login refused: %r is locked after %d wrong passwords", name, len(recent))
        return False

    async def check(self, name: str, password: str) -> bool:
        """Gradio's auth callback (a coroutine, so a wrong password's wait never blocks the server's loop)."""
        if self.verdict(name, password):
            return True
        self._slow = self._slow or asyncio.Lock()
        async with self._slow:
            await asyncio.sleep(self.FAILURE_DELAY_S)
        return False


# --- the app ----------------------------------------------------------------------------


# Which figures make the best examples: money, shares and concentrations first (what people ask about most), counts last.
EXAMPLE_UNIT_ORDER = ("元", "%", "立方米")
# An example's metric names a quantity, as people ask for one ("处罚金额", "净利润", "PM2.5浓度均值", "优良天数"); the
# facts' other metrics ("数值", "完成总工程量") read badly as questions.
EXAMPLE_METRIC_ENDS = ("金额", "收入", "利润", "营收", "浓度", "均值", "比例", "率", "面积", "产量", "产值", "人数", "人次",
                       "总额", "投资", "价格", "数量", "销量", "规模", "天数", "增速", "增幅", "涨幅", "跌幅", "总量", "资金",
                       "费用", "成本", "里程", "长度", "排放量")


def _example_question(fact) -> str | None:
    """A figure question a person would type for this fact, or None when its metric does not name a quantity."""
    metric = fact.metric
    if fact.qualifier or not 2 <= len(metric) <= EXAMPLE_MAX_METRIC_CHARS or not fact.unit:
        return None
    if not metric.endswith(EXAMPLE_METRIC_ENDS):
        return None
    words = pos_words(metric)
    if len(words) > 2 and words[0][1] == "v":  # a clause ("完成总工程量"), not a quantity's name
        return None
    scope = f"{fact.subject}{f'{fact.year}年' if fact.year else ''}"
    if any(u in fact.unit for u in EXAMPLE_UNIT_ORDER):
        return f"{scope}{metric}是多少？"
    return f"{scope}{metric}有多少{fact.unit}？"  # a count: 有多少家


def archive_examples(assistant: Assistant) -> list[str]:
    """A few figure questions about the archive's own articles, made from its facts ("沁水县2024年处罚金额是多少？"),
    each of another subject and metric, each kept only if the assistant answers it with that fact's figure. None for
    an empty archive."""
    try:
        facts = assistant.facts(limit=EXAMPLE_CANDIDATE_FACTS)
    except (IndexMissing, UIError):
        return []
    # The metrics the archive states most often, in most documents, make the examples (noise is rare), money and
    # shares first among equals.
    docs_stating: dict[str, set] = {}
    for f in facts:
        docs_stating.setdefault(f.metric, set()).add(f.doc_id)
    unit_rank = lambda f: next((i for i, u in enumerate(EXAMPLE_UNIT_ORDER) if u in f.unit), len(EXAMPLE_UNIT_ORDER))  # noqa: E731
    chosen: list[str] = []
    seen_subjects, seen_metrics, tries = set(), set(), 0
    for fact in sorted(facts, key=lambda f: (-len(docs_stating[f.metric]), unit_rank(f))):
        if len(chosen) >= EXAMPLE_COUNT or tries >= EXAMPLE_TRIES:
            break
        if fact.subject in seen_subjects or fact.metric in seen_metrics:
            continue
        question = _example_question(fact)
        if question is None:
            continue
        tries += 1
        try:
            answer = assistant.ask_offline(question)  # never an LLM call (or its cost) at start-up
        except Exception:  # noqa: BLE001 - an example that cannot be asked is simply not shown
            continue
        stated = figure_values(answer.answer)[:1] if answer.answered else []
        if stated and same_figure(stated[0][0], fact.base_value):  # answered with that fact's figure
            chosen.append(question)
            seen_subjects.add(fact.subject)
            seen_metrics.add(fact.metric)
    return chosen


def build_app(assistant: Assistant, service: UploadService):
    """The Gradio page. Uploads and deletions go through `service`, as the HTTP API's do: one at a time, under the
    server's write lock, an upload's vectors then computed in the background (the status line counts them down)."""
    import gradio as gr

    exports = Path(tempfile.mkdtemp(prefix="assistant-facts-"))  # the facts table's CSV downloads
    atexit.register(shutil.rmtree, exports, ignore_errors=True)  # one folder a server, gone when it stops

    def chat(question: str, messages: list, asked: list):
        question = (question or "").strip()
        if not question:
            yield messages, "", asked
            return
        # What one types is shown as text: markup in one's own question never runs in the page.
        messages = [*messages, {"role": "user", "content": html.escape(question)}, {"role": "assistant", "content": "…"}]
        yield messages, "", asked
        try:
            # Only checked text is ever shown (answer/turn.py): the page shows "…" until the answer is checked, then
            # the rendered answer, citations and all, at once.
            text = render_answer(assistant.ask(question, history=list(asked)))
        except (QuestionError, IndexMissing) as exc:
            text = f'<div class="warning">{html.escape(exc.message_for("ui"))}</div>'
        except Exception as exc:  # a failing service (embeddings endpoint, disk): one sentence, details in the log
            log.exception("answering %r failed", question)
            text = f'<div class="warning">回答时出错（{html.escape(_one_line(exc))}），请稍后再试。</div>'
        messages[-1] = {"role": "assistant", "content": text}
        yield messages, "", [*asked, question]

    def clear():
        return [], "", []

    def ask_api(question: str, history: list[str] | None = None) -> dict:
        """Answer one question; history is the earlier questions of the conversation, oldest first."""
        try:
            return assistant.ask(question, history=list(history or [])).to_dict()
        except (QuestionError, IndexMissing) as exc:
            return {"question": question, "answered": False, "error": exc.message_for("ui")}

    def facts_page(filters: list, page: int):
        """One page of the facts the applied filters select, and the line that says which."""
        total = counted_facts(assistant, *filters)
        page = min(max(int(page or 1), 1), page_count(total))
        rows = facts_rows(filtered_facts(assistant, *filters, page=page))
        shown = f"共 {total} 条" + (f"，第 {page} / {page_count(total)} 页（每页 {FACT_PAGE_ROWS} 条）" if total > FACT_PAGE_ROWS else "")
        return rows, shown, page

    def filter_facts(subject: str | None, metric: str | None, year: str | None):
        """Apply the filter boxes: the first page, and the chart of the asked metric's figures."""
        filters = [subject, metric, year]
        try:
            rows, shown, page = facts_page(filters, 1)
            charted = filtered_facts(assistant, *filters) if (metric or "").strip() else []
        except UIError as exc:
            gr.Warning(str(exc))
            filters, (rows, shown, page), charted = ["", "", ""], ([], "共 0 条", 1), []
        return rows, shown, facts_chart(assistant, charted, metric), filters, page

    # Paging and export read the applied filters, which filter_facts validated (a State stays on the server).
    def turn_page(filters: list, page: int, step: int):
        return facts_page(filters, int(page or 1) + step)

    def export_facts(filters: list):
        """Every fact the applied filters select, as a CSV written when asked for (never on each filter)."""
        return str(write_csv(facts_rows(filtered_facts(assistant, *filters)), exports))

    def refreshed(message: str, keep_choice: bool = True):
        """What the documents tab shows after a change: the message, the list, the status, the delete choices."""
        rows = document_rows(assistant)
        choices = gr.update(choices=[r[0] for r in rows], **({} if keep_choice else {"value": None}))
        return message, rows, status_text(assistant), choices

    def upload(files, progress=gr.Progress()):
        files = files or []
        if not files:
            return refreshed("请先选择要上传的文件。")
        lines, saved = [], []
        for f in files:
            src = Path(f if isinstance(f, str) else f.name)
            kept = service.keep_file(src, getattr(f, "orig_name", None) or src.name)
            if isinstance(kept, Refusal):
                lines.append(kept.message)
            else:
                saved.append(kept)
        if saved:
            progress(0, desc="导入中")

            def on_file(done: int, total: int, name: str) -> None:
                progress(done / max(total, 1), desc=f"导入 {Path(name).name}（{done}/{total}）")

            try:
                report = service.ingest(saved, progress=on_file)
            except (InputError, IndexBusy) as exc:
                lines.append(str(exc))
            except Exception as exc:  # nothing already ingested is lost: a batch commits whole or not at all
                log.exception("ingesting %s failed", [p.name for p in saved])
                lines.append(f"导入失败（{_one_line(exc)}），已有的文档不受影响。")
            else:
                lines[:0] = report_lines(report)
        return refreshed("\n\n".join(lines))

    def delete(doc_id: str, answered: str = ""):
        if answered == "取消":
            return refreshed("已取消，没有删除任何文档。")
        if not doc_id:
            return refreshed("请先选择要删除的文档。")
        try:
            removed = service.delete(doc_id)
        except IndexBusy as exc:
            return refreshed(str(exc))
        message = f"已删除 {doc_id}（其段落与数据一并删除）。" if removed else f"没有找到文档 {doc_id}。"
        return refreshed(message, keep_choice=False)

    examples = archive_examples(assistant)
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"## {APP_TITLE}\n根据已导入的新闻回答问题，每个回答都附有可展开的原文引用。")
        status = gr.Markdown(status_text(assistant), elem_id="status")
        # While vectors are computed in the background, the status line counts them down on its own.
        ticker = gr.Timer(STATUS_REFRESH_S, active=False)
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                chatbot = gr.Chatbot(label="对话", height=CHAT_HEIGHT, elem_id="chatbot", sanitize_html=False,
                                     render_markdown=False, buttons=["copy"])
                asked = gr.State([])
                with gr.Row():
                    question = gr.Textbox(placeholder=f"输入问题{f'，例如：{examples[0]}' if examples else ''}", show_label=False,
                                          scale=8, elem_id="question", autofocus=True)
                    send = gr.Button("提问", variant="primary", scale=1, elem_id="send")
                    reset = gr.Button("清空对话", scale=1, elem_id="clear")
                if examples:
                    gr.Examples(examples, inputs=question, label="示例问题（来自已导入的文章）", elem_id="chat-examples")
                send.click(chat, [question, chatbot, asked], [chatbot, question, asked], api_name="chat")
                question.submit(chat, [question, chatbot, asked], [chatbot, question, asked], api_visibility="private")
                reset.click(clear, None, [chatbot, question, asked], api_visibility="private")
            with gr.Tab("数据表", id="facts"):
                with gr.Row():
                    subject = gr.Textbox(label="主体", placeholder="如 沁水、联想集团", elem_id="fact-subject")
                    metric = gr.Textbox(label="指标", placeholder="如 处罚金额、营业收入", elem_id="fact-metric")
                    year = gr.Textbox(label="年份", placeholder="如 2024", elem_id="fact-year")
                    search = gr.Button("筛选", variant="primary", elem_id="fact-filter")
                applied = gr.State(["", "", ""])  # the filters of the rows shown, which paging and export keep
                page_no = gr.State(1)
                count = gr.Markdown(elem_id="facts-count")
                # The chart of a filtered metric above the table, each the page's whole width: a table beside a
                # chart left "微克/立方米" wrapped over three lines at 1280 px.
                chart = gr.HTML(elem_id="facts-chart")
                table = gr.Dataframe(headers=FACT_HEADERS, value=[], interactive=False, wrap=True,
                                     elem_id="facts", column_widths=FACT_COLUMN_WIDTHS)
                with gr.Row():
                    previous = gr.Button("上一页", size="sm", elem_id="facts-prev")
                    following = gr.Button("下一页", size="sm", elem_id="facts-next")
                    export = gr.Button("下载 CSV", size="sm", elem_id="facts-csv")
                # Filled when 下载 CSV is clicked, then clicked by the page: the CSV is written on demand.
                download = gr.DownloadButton("facts.csv", elem_id="facts-csv-file", elem_classes="offscreen")
                search.click(filter_facts, [subject, metric, year], [table, count, chart, applied, page_no],
                             api_name="facts")
                previous.click(lambda f, p: turn_page(f, p, -1), [applied, page_no], [table, count, page_no],
                               api_visibility="private")
                following.click(lambda f, p: turn_page(f, p, 1), [applied, page_no], [table, count, page_no],
                                api_visibility="private")
                export.click(export_facts, [applied], [download], api_visibility="private").then(
                    None, js="() => document.querySelector('#facts-csv-file')?.click()")
            with gr.Tab("文档", id="documents"):
                files = gr.File(label=f"上传文档（.txt、.md、.jsonl；UTF-8 或 GBK；每个不超过 {human(service.max_bytes)}）",
                                file_count="multiple", elem_id="upload")  # types checked by upload(), in Chinese
                ingest_btn = gr.Button("导入", variant="primary", elem_id="ingest")
                ingest_log = gr.Markdown(elem_id="ingest-log")
                docs = gr.Dataframe(headers=DOCUMENT_HEADERS, value=[], interactive=False, wrap=True,
                                    elem_id="documents", column_widths=DOCUMENT_COLUMN_WIDTHS)  # filled on load
                with gr.Row():
                    victim = gr.Dropdown(choices=[], value=None, label="选择要删除的文档",
                                         elem_id="delete-choice")
                    remove = gr.Button("删除文档", variant="stop", elem_id="delete")
                changes = [ingest_btn.click(upload, [files], [ingest_log, docs, status, victim],
                                            api_visibility="private", concurrency_limit=1)]
                answered = gr.Textbox(visible=False)  # what the confirm dialog was answered: "" or "取消"
                changes.append(remove.click(delete, [victim, answered], [ingest_log, docs, status, victim],
                             api_visibility="private", concurrency_limit=1,
                             js="(d, _) => !d ? [null, ''] : confirm('确定删除文档 ' + d + '？其段落与数据将一并删除。')"
                                " ? [d, ''] : [null, '取消']"))
        gr.api(ask_api, api_name="ask")
        app.load(filter_facts, [subject, metric, year], [table, count, chart, applied, page_no],
                 api_visibility="private")
        app.load(lambda: refreshed(""), None, [ingest_log, docs, status, victim], api_visibility="private")

        def counting_down():
            text, pending = status_line(assistant)
            return text, gr.Timer(active=bool(pending))

        for event in (app.load, ticker.tick):
            event(counting_down, None, [status, ticker], api_visibility="private", show_progress="hidden")
        for change in changes:  # an upload leaves vectors pending
            change.then(counting_down, None, [status, ticker], api_visibility="private", show_progress="hidden")
    return app
