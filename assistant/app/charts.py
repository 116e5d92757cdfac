"""Facts to bar charts: the filtered figures of the facts tab drawn as bars, one chart per unit, each bar opening
the passage it came from."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..store.records import Fact
from ..store.records import Passage, full_heading

CHART_MAX_GROUPS = 4  # charts shown at most (the units with the most figures first); the table has the rest
CHART_MAX_BARS = 12  # bars per chart at most: more would not fit beside the table at 1280 px
ASK_FOR_A_METRIC = "在“指标”中输入要比较的指标（如 PM2.5、处罚金额、营业收入），这里会按主体和时期画出柱状图，点击柱子可查看原文。"
NOTHING_TO_DRAW = "没有可画的数据。"


@dataclass(frozen=True)
class Bar:
    label: str
    fact: Fact
    share: float  # the bar's length as a share of the chart's largest value, 0..1


@dataclass(frozen=True)
class Chart:
    unit: str
    bars: list[Bar]
    left_out: int  # figures of this unit not drawn (over CHART_MAX_BARS)
    shared: list[str]  # the subject and period every bar shares, if any


def _lead_in(f: Fact) -> str:
    """The clause before the figure's own words in its sentence: what a bar of an otherwise same-named figure is
    about ("县河流域水污染治理与水生态保护修复项目，投资5800余万元" -> the project)."""
    at = f.context.find(f.span)
    before = f.context[: max(at, 0)].rstrip("，；：、,;: ")
    return re.split(r"[，。；：！？,;:!?]", before)[-1] if before else ""


def _common(facts: list[Fact]) -> list[str]:
    """What every bar of a chart shares (its subject, its period), said once in the caption instead of on each bar."""
    out = []
    if len({f.subject for f in facts}) == 1:
        out.append(facts[0].subject)
    if len({f.when for f in facts}) == 1 and facts[0].when:
        out.append(facts[0].when)
    return out


def _labels(facts: list[Fact]) -> list[str]:
    """A bar is named by what tells it from the others: subject, period, metric (those they all share left out), then,
    for figures named alike, the clause that says what each is about, then a count."""
    same_place = len({f.subject for f in facts}) == 1
    same_year = len({f.when for f in facts}) == 1
    same_metric = len({f.metric for f in facts}) == 1
    labels = []
    for f in facts:
        parts = [] if same_place else [f.subject]
        if not same_year:
            parts.append(f.when or "时期不详")
        if not same_metric or not parts:
            parts.append(f.metric)
        labels.append(" ".join(parts))
    if len(set(labels)) < len(labels):
        # The metric every bar shares is the one the user asked for: the lead-in replaces it rather than follows it.
        labels = [
            (_lead_in(f) or label) if same_metric and label == f.metric else f"{label} {_lead_in(f)}".strip()
            for label, f in zip(labels, facts)
        ]
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if labels.count(label) == 1 else f"{label}（{seen[label]}）")
    return out


def build_charts(facts: list[Fact]) -> list[Chart]:
    """One chart per unit (figures in different units are never drawn on one scale), largest group first."""
    groups: dict[str, list[Fact]] = {}
    for f in facts:
        if f.base_value >= 0:
            groups.setdefault(f.base_unit, []).append(f)
    charts = []
    for unit, members in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:CHART_MAX_GROUPS]:
        distinct: dict[tuple, Fact] = {}  # a figure restated in the same article is one bar
        for f in members:
            distinct.setdefault((f.doc_id, f.subject, f.when, f.metric, f.base_value), f)
        kept = list(distinct.values())
        if len({f.subject for f in kept}) == 1:  # one subject over time: in time order
            kept.sort(key=lambda f: (f.year or 0, f.when, -f.base_value))
        else:  # places side by side: largest first
            kept.sort(key=lambda f: -f.base_value)
        shown = kept[:CHART_MAX_BARS]
        top = max((f.base_value for f in shown), default=0) or 1.0
        bars = [Bar(label, f, f.base_value / top) for label, f in zip(_labels(shown), shown)]
        charts.append(Chart(unit=unit or "（无单位）", bars=bars, left_out=len(kept) - len(shown), shared=_common(shown)))
    return charts


def render_charts(
    facts: list[Fact],
    filtered_by_metric: bool,
    passages: Callable[[list[str]], list[Passage]],
    highlight: Callable[[str, str, str], str],
) -> str:
    """The charts as HTML. passages(chunk_ids) fetches what the bars open; highlight(text, evidence, answer)
    marks the figure in its passage the way the chat marks an answer."""
    if not filtered_by_metric:
        return f'<div class="chart-hint">{ASK_FOR_A_METRIC}</div>'
    charts = build_charts(facts)
    if not charts:
        return f'<div class="chart-hint">{NOTHING_TO_DRAW}</div>'
    wanted = sorted({b.fact.chunk_id for c in charts for b in c.bars if b.fact.chunk_id})
    by_id = {p.chunk_id: p for p in passages(wanted)}
    out = []
    for chart in charts:
        caption = "　".join([*chart.shared, f"单位：{chart.unit}"])
        out.append(f'<figure class="fact-chart"><figcaption>{html.escape(caption)}</figcaption>')
        for bar in chart.bars:
            f = bar.fact
            passage = by_id.get(f.chunk_id)
            text = passage.text if passage else f.context
            heading = full_heading(passage.title, passage.subtitle) if passage else f.title
            source = Path(f.source).name if f.source else f.doc_id
            out.append(
                '<details class="bar">'
                f'<summary title="{html.escape(bar.label)}"><span class="bar-label">{html.escape(bar.label)}</span>'
                f'<span class="bar-track"><span class="bar-fill" style="width:{max(bar.share, 0.01) * 100:.1f}%">'
                f'</span></span><span class="bar-value">{html.escape(f.display())}</span></summary>'
                f'<div class="passage">{highlight(text, f.context, f.display())}</div>'
                f'<div class="meta">指标：{html.escape(f.metric)}　文章：{html.escape(heading)}　'
                f"来源文件：{html.escape(source)}</div></details>"
            )
        if chart.left_out:
            out.append(f'<div class="chart-more">另有 {chart.left_out} 条未画出，见左侧表格。</div>')
        out.append("</figure>")
    return "".join(out)
