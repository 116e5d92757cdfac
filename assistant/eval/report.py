"""Evaluation reports a person reads: Markdown, and self-contained HTML with inline SVG charts."""

from __future__ import annotations

import html
from pathlib import Path

from .evaluation import EvalRun

_METRICS = [
    ("accuracy", "准确率"),
    ("short_n", "短答案题数"),
    ("short_correct", "短答案·正确"),
    ("short_wrong", "短答案·错误"),
    ("short_declined", "短答案·拒答"),
    ("decline_evidence", "拒答时原文含答案"),
    ("em", "EM"),
    ("f1", "F1"),
    ("decline_precision", "拒答精确率"),
    ("decline_recall", "拒答召回率"),
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("mrr", "MRR"),
    ("citation_support", "引用支持率"),
    ("latency_p50_ms", "延迟 p50 (ms)"),
    ("latency_p95_ms", "延迟 p95 (ms)"),
]


def _fmt(value, metric: str = "") -> str:
    if value is None:
        return "–"
    if metric.startswith("latency") or metric.startswith("mean_"):
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n] + "…"


def _failures(run: EvalRun) -> list[dict]:
    return [r for r in run.rows if not r["correct"]]


def _baseline_rows(run: EvalRun) -> list[tuple[str, str, str, str]]:
    ours, base = run.summary["overall"], run.baseline or {}
    rows = []
    for metric, label in [("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR"), ("mean_retrieved_chars", "每段平均字数")]:
        a, b = ours.get(metric), base.get(metric)
        ratio = f"{a / b:.2f}" if a is not None and b else "–"
        rows.append((label, _fmt(a, metric), _fmt(b, metric), ratio))
    return rows


def render_markdown(run: EvalRun) -> str:
    s = run.summary
    lines = [f"# 评测报告：{Path(run.gold_path).name}", ""]
    status = "（已中断，部分结果）" if run.partial else ""
    lines.append(f"已评测 {len(run.rows)}/{run.total} 条{status}，用时 {run.seconds:.1f} 秒。")
    lines += ["", "## 总体指标", "", "| 指标 | 数值 |", "| --- | --- |"]
    lines += [f"| {label} | {_fmt(s['overall'].get(m), m)} |" for m, label in _METRICS]
    lines += ["", "## 按类型", "", "| 类型 | 条数 | 准确率 | F1 | hit@5 | 引用支持率 |", "| --- | --- | --- | --- | --- | --- |"]
    for t, b in s["by_type"].items():
        lines.append(
            f"| {t} | {b['n']} | {_fmt(b['accuracy'])} | {_fmt(b['f1'])} | {_fmt(b['hit@5'])} | {_fmt(b['citation_support'])} |"
        )
    lines += ["", "## 按问题类别（回答器的判断）", "", "| 类别 | 条数 | 准确率 | EM | F1 | 作答率 |", "| --- | --- | --- | --- | --- | --- |"]
    for kind, b in s.get("by_kind", {}).items():
        answered = sum(1 for r in run.rows if r.get("kind") == kind and r["answered"]) / max(b["n"], 1)
        lines.append(f"| {kind} | {b['n']} | {_fmt(b['accuracy'])} | {_fmt(b['em'])} | {_fmt(b['f1'])} | {answered:.3f} |")
    if run.baseline:
        lines += [
            "", "## 与 llama-index 默认流程对比", "",
            f"默认流程：{run.baseline.get('pipeline', '')}", "",
            "| 指标 | 本系统 | llama-index 默认 | 比值（本系统/默认） |", "| --- | --- | --- | --- |",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _baseline_rows(run)]
    failures = _failures(run)
    lines += ["", f"## 错误条目（{len(failures)}）", ""]
    for r in failures:
        lines.append(f"### {r['id']}（{r['type']}）")
        if r.get("history"):
            lines.append(f"- 上文：{' / '.join(r['history'])}")
        lines.append(f"- 问题：{r['question']}")
        expected = "、".join(r["expected"]) if r["answerable"] else "应拒答"
        lines.append(f"- 期望：{expected}")
        lines.append(f"- 实际：{r['answer']}（answered={str(r['answered']).lower()}）")
        lines.append(f"- 检索命中位置：{r['retrieval_rank'] or '未命中'}")
        for i, p in enumerate(r["top_passages"], start=1):
            lines.append(f"  {i}. 《{_clip(p['title'], 40)}》 {p['doc_id']}：{_clip(p['text'])}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _bar_chart(data: list[tuple[str, float]], title: str, max_value: float = 1.0, fmt: str = "{:.2f}") -> str:
    """A horizontal bar chart as inline SVG."""
    width, bar_h, gap, left = 560, 22, 8, 130
    height = 30 + len(data) * (bar_h + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(data):
        y = 28 + i * (bar_h + gap)
        w = 0 if not max_value else (width - left - 60) * max(value, 0) / max_value
        parts.append(f'<text x="0" y="{y + 16}" font-size="12">{html.escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#3b7dd8"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}" font-size="12">{fmt.format(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: list[float], title: str, bins: int = 10) -> str:
    """Latency histogram: even bins up to the 95th percentile, then one bin for the slow tail."""
    if not values:
        return ""
    from .evaluation import percentile

    lo, cap = min(values), percentile(values, 95)
    step = (cap - lo) / bins or 1.0
    counts = [0] * bins
    tail = 0
    for v in values:
        if v > cap:
            tail += 1
        else:
            counts[min(int((v - lo) / step), bins - 1)] += 1
    data = [(f"{lo + i * step:.0f}–{lo + (i + 1) * step:.0f} ms", float(c)) for i, c in enumerate(counts)]
    if tail:
        data.append((f"> {cap:.0f} ms", float(tail)))
    return _bar_chart(data, title, max_value=max(c for _, c in data), fmt="{:.0f}")


def render_html(run: EvalRun) -> str:
    s = run.summary
    by_type = [(t, b["accuracy"] or 0.0) for t, b in s["by_type"].items()]
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(label)}</td><td>{_fmt(s['overall'].get(m), m)}</td></tr>" for m, label in _METRICS)
    type_rows = "".join(
        f"<tr><td>{esc(t)}</td><td>{b['n']}</td><td>{_fmt(b['accuracy'])}</td><td>{_fmt(b['f1'])}</td>"
        f"<td>{_fmt(b['hit@5'])}</td><td>{_fmt(b['citation_support'])}</td></tr>"
        for t, b in s["by_type"].items()
    )
    baseline = ""
    if run.baseline:
        brs = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in _baseline_rows(run))
        baseline = (
            f"<h2>与 llama-index 默认流程对比</h2><p>{esc(run.baseline.get('pipeline', ''))}</p>"
            f"<table><tr><th>指标</th><th>本系统</th><th>llama-index 默认</th><th>比值</th></tr>{brs}</table>"
        )
    failures = []
    for r in _failures(run):
        passages = "".join(
            f"<li>《{esc(_clip(p['title'], 40))}》 {esc(p['doc_id'])}：{esc(_clip(p['text'], 240))}</li>" for p in r["top_passages"]
        )
        expected = "、".join(r["expected"]) if r["answerable"] else "应拒答"
        history = f"<div>上文：{esc(' / '.join(r['history']))}</div>" if r.get("history") else ""
        failures.append(
            f"<details><summary><b>{esc(r['id'])}</b>（{esc(r['type'])}）{esc(r['question'])}</summary>{history}"
            f"<div>期望：{esc(expected)}</div><div>实际：{esc(r['answer'])}</div>"
            f"<div>检索命中位置：{r['retrieval_rank'] or '未命中'}</div><ol>{passages}</ol></details>"
        )
    status = "（已中断，部分结果）" if run.partial else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>评测报告：{esc(Path(run.gold_path).name)}</title>
<style>body{{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}
details{{margin:.5em 0;padding:.4em;border:1px solid #eee}}</style></head><body>
<h1>评测报告：{esc(Path(run.gold_path).name)}</h1>
<p>已评测 {len(run.rows)}/{run.total} 条{status}，用时 {run.seconds:.1f} 秒。</p>
<h2>总体指标</h2><table>{rows}</table>
<h2>按类型</h2>{_bar_chart(by_type, "各类型准确率")}
<table><tr><th>类型</th><th>条数</th><th>准确率</th><th>F1</th><th>hit@5</th><th>引用支持率</th></tr>{type_rows}</table>
<h2>延迟分布</h2>{_histogram([r["latency_ms"] for r in run.rows], "每题延迟（毫秒）")}
{baseline}
<h2>错误条目（{len(failures)}）</h2>{"".join(failures)}
</body></html>
"""


def write_reports(run: EvalRun, markdown_path: str | Path) -> tuple[Path, Path]:
    """Write OUT.md, OUT.html and the metrics alone as OUT.json beside them."""
    import json

    md = Path(markdown_path)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(run), encoding="utf-8")
    page = md.with_suffix(".html")
    page.write_text(render_html(run), encoding="utf-8")
    md.with_suffix(".json").write_text(json.dumps(run.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return md, page
