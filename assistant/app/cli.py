"""The `assistant` command: a thin layer over the Python API (ingest, ask, status, documents)."""

from __future__ import annotations

import json
import re
import sys
import time
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from ..errors import AssistantError, IndexMissing
from ..store.records import Passage, full_heading
from .cli_zh import speak_chinese, usage_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="中文新闻问答助手：离线检索、抽取式回答并给出引用段落。",
    options_metavar="[选项]",
    subcommand_metavar="命令 [参数]...",
)
command = partial(app.command, options_metavar="[选项]")

IndexDirOption = typer.Option(
    None, "--index-dir", help="索引目录（也可用环境变量 ASSISTANT_INDEX_DIR；默认 ./index）", show_default=False
)
JsonOption = typer.Option(False, "--json", help="以 JSON 输出")


def _assistant(index_dir: Optional[Path]):
    from .api import Assistant

    return Assistant(index_dir=index_dir)


def _err(message: str) -> None:
    typer.echo(f"错误：{message}", err=True)


@command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="要导入的文件或文件夹（.txt、.md、.jsonl）", metavar="路径"),
    index_dir: Optional[Path] = IndexDirOption,
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出导入结果"),
) -> None:
    """导入文档：重复导入相同文件不会新增内容，文件改变时替换旧的段落。"""
    assistant = _assistant(index_dir)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress_ctx = Progress(
        TextColumn("导入中"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.description}"), transient=True, disable=as_json or not sys.stderr.isatty(),
        console=None,
    )
    with progress_ctx as progress:
        task = progress.add_task("", total=None)

        def on_file(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, description=Path(name).name)

        report = assistant.ingest(*paths, progress=on_file)
    status = assistant.status()
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "status": status.to_dict()}, ensure_ascii=False))
    else:
        typer.echo(
            f"新增 {len(report.added)} 篇，更新 {len(report.replaced)} 篇，未变 {len(report.unchanged)} 篇；"
            f"写入 {report.chunks_written} 个段落，用时 {report.seconds:.2f} 秒。"
        )
        typer.echo(
            f"索引现有 {status.documents} 篇文档、{status.articles} 篇文章、{status.chunks} 个段落。"
        )
        if report.vectors_pending:
            typer.echo(
                f"已可提问（关键词检索）；还有 {report.vectors_pending} 个段落等待计算向量："
                "运行 assistant embed，或启动 assistant serve（在后台进行）。"
            )
    for note in report.renamed_notes():
        typer.echo(f"提示：{shown(note)}", err=True)
    for w in report.warnings:
        typer.echo(f"提示：{w}", err=True)
    if report.skipped:
        for item in report.skipped:
            typer.echo(f"已跳过：{shown(str(item))}", err=True)
        raise AssistantError(f"{len(report.skipped)} 个文件或行被跳过（见上），其余内容已导入。", 1)


@command()
def embed(index_dir: Optional[Path] = IndexDirOption) -> None:
    """计算导入后尚未完成的段落向量（可随时中断，下次从中断处继续）。"""
    assistant = _assistant(index_dir)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    started = time.perf_counter()
    with Progress(TextColumn("计算向量"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("", total=None)
        added = assistant.embed_pending(progress=lambda done, total: progress.update(task, completed=done, total=total))
    info = assistant.status()
    typer.echo(f"新计算 {added} 个段落的向量，用时 {time.perf_counter() - started:.1f} 秒；"
               f"向量 {info.vectors} / 段落 {info.chunks}（{info.embedding}）。")


def _named(passage: Passage) -> str:
    """A citation's article as the terminal shows it: 《headline——subtitle》, or the 无标题 label."""
    heading = full_heading(passage.title, passage.subtitle)
    return f"《{heading}》" if passage.title else heading


def _print_answer(answer, streamed: bool = False) -> None:
    """The human-readable form of an Answer; `streamed` when its text was printed already, piece by piece."""
    typer.echo("" if streamed else f"答：{answer.answer}")
    for w in answer.warnings:
        typer.echo(f"提示：{w}", err=True)
    if answer.evidence:
        typer.echo(f"依据：{answer.evidence}")
    for n, c in enumerate(answer.citations, start=1):
        marker = answer.markers[n - 1] if n - 1 < len(answer.markers) else n
        typer.echo(f"[{marker}] {_named(c)} {Path(c.source).name}（段落 {c.chunk_id}）")
        typer.echo("    " + c.text.replace("\n", "\n    "))


def _stream_answer(assistant, question: str, history: list[str] | None = None):
    """Print the checked answer's text as it comes (answer/turn.py: only checked text is streamed); return the final
    Answer."""
    final, items = None, assistant.stream(question, history=history)  # a question it refuses raises here
    typer.echo("答：", nl=False)
    for item in items:
        if isinstance(item, str):
            typer.echo(item, nl=False)
            sys.stdout.flush()
        else:
            final = item
    return final


@command()
def ask(
    question: str = typer.Argument(..., help="问题，例如：沁水县2024年处罚金额多少？", metavar="问题"),
    index_dir: Optional[Path] = IndexDirOption,
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出答案与引用"),
    stream: bool = typer.Option(False, "--stream", help="边生成边输出（配置了大模型时）"),
    history: Optional[list[str]] = typer.Option(None, "--history", help="追问时，本次对话之前的问题（可重复，由早到晚）"),
) -> None:
    """提问：给出简短答案及其出处段落；资料中没有时明确说明。"""
    assistant = _assistant(index_dir)
    history = list(history or [])
    if stream and not as_json:
        _print_answer(_stream_answer(assistant, question, history), streamed=True)
        return
    answer = assistant.ask(question, history=history)
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    _print_answer(answer)


@command()
def chat(index_dir: Optional[Path] = IndexDirOption) -> None:
    """多轮对话：逐行提问，追问会结合前文（输入 exit 或 Ctrl-D 结束）。"""
    assistant = _assistant(index_dir)
    history: list[str] = []
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo(f"多轮问答（{assistant.backend}）。输入 exit 结束。")
    while True:
        try:
            line = input("问：" if interactive else "")
        except EOFError:
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in ("exit", "quit", "退出"):
            break
        if not interactive:
            typer.echo(f"问：{question}")
        try:
            answer = _stream_answer(assistant, question, history)
        except AssistantError as exc:
            _err(str(exc))
            if exc.exit_code != 2:
                raise
            continue
        _print_answer(answer, streamed=True)
        history.append(question)


@command()
def status(
    index_dir: Optional[Path] = IndexDirOption,
    as_json: bool = JsonOption,
) -> None:
    """索引概况：文档、文章、段落数量与所用的嵌入方式。"""
    assistant = _assistant(index_dir)
    try:
        info = assistant.status()
    except IndexMissing:
        if not as_json:
            raise
        typer.echo(json.dumps({"documents": 0, "articles": 0, "chunks": 0, "index_dir": str(assistant.index_dir)}))
        return
    if as_json:
        typer.echo(json.dumps(info.to_dict(), ensure_ascii=False))
    else:
        typer.echo(
            f"索引目录：{info.index_dir}\n文档：{info.documents}  文章：{info.articles}  "
            f"段落：{info.chunks}  向量：{info.vectors}\n"
            + (f"嵌入：{info.embedding}  向量库：{info.vector_store}" if info.embedding != "none"
               else "嵌入：无（ASSISTANT_EMBEDDING=none，仅按关键词检索，不建向量库）")
        )
        if info.vectors_pending:
            typer.echo(f"等待计算向量的段落：{info.vectors_pending}（运行 assistant embed，或由 assistant serve 在后台完成）")


@command()
def documents(
    index_dir: Optional[Path] = IndexDirOption,
    as_json: bool = JsonOption,
) -> None:
    """列出已导入的文档及其文章、段落数量。"""
    assistant = _assistant(index_dir)
    docs = assistant.documents()
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in docs], ensure_ascii=False))
        return
    for d in docs:
        typer.echo(f"{shown(d.doc_id)}\t文章 {d.articles}\t段落 {d.chunks}\t{shown(d.source)}")
        for heading in d.article_titles:
            typer.echo(f"    · {shown(heading)}")


@command()
def delete(
    doc_id: str = typer.Argument(..., help="文档编号（assistant documents 列出的第一列）", metavar="文档"),
    index_dir: Optional[Path] = IndexDirOption,
) -> None:
    """删除一篇文档（其段落、向量与数据一并删除）。"""
    assistant = _assistant(index_dir)
    if not assistant.delete(doc_id):
        raise AssistantError(f"没有找到文档 {shown(doc_id)}（用 assistant documents 查看已导入的文档）。", 2)
    typer.echo(f"已删除 {shown(doc_id)}。")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: str) -> str:
    """A name as one printable line: a newline, tab or terminal escape in a file name is shown as \\n, \\t, \\x1b."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


@command("eval")
def eval_command(
    gold: Path = typer.Argument(..., help="金标准文件（.jsonl，格式见 evals/README.md）", metavar="金标准文件"),
    index_dir: Optional[Path] = IndexDirOption,
    results: Optional[Path] = typer.Option(None, "--results", help="逐条结果输出（.jsonl）"),
    report: Optional[Path] = typer.Option(None, "--report", help="报告输出（.md，同时写出同名 .html）"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出指标"),
    baseline: bool = typer.Option(False, "--baseline", help="同时评测 llama-index 默认流程作为对照"),
    floors: Optional[Path] = typer.Option(None, "--floors", help="指标下限配置（JSON）；低于下限时退出码为 1"),
) -> None:
    """评测：对照金标准答案计算准确率、拒答、检索命中、引用支持、EM/F1 与延迟。"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..eval.evaluation import FactsEvalRun

    assistant = _assistant(index_dir)
    progress_ctx = Progress(
        TextColumn("评测中"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True, disable=as_json or not sys.stderr.isatty(),
    )
    with progress_ctx as progress:
        task = progress.add_task("", total=None)
        run = assistant.evaluate(
            gold, results=results, report=report, baseline=baseline,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if isinstance(run, FactsEvalRun):  # a facts gold file: extraction precision and recall
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        if as_json:
            typer.echo(json.dumps(run.to_dict(), ensure_ascii=False))
        else:
            typer.echo(
                f"{Path(gold).name}：{run.n} 个人工核对的数字；抽取 {run.predicted} 个，其中 {run.claimed} 个对应核对项\n"
                f"精确率 {fmt(run.precision)}  召回率 {fmt(run.recall)}  "
                + "  ".join(f"{k} {fmt(v)}" for k, v in run.field_accuracy.items())
            )
        _enforce_floors(run.to_dict(), gold, floors)
        return
    o = run.summary["overall"]
    if as_json:
        typer.echo(json.dumps(run.to_dict(), ensure_ascii=False))
    else:
        status = "（已中断，部分结果）" if run.partial else ""
        typer.echo(f"{Path(gold).name}：{len(run.rows)}/{run.total} 条{status}，用时 {run.seconds:.1f} 秒")
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        typer.echo(
            f"准确率 {fmt(o['accuracy'])}  EM {fmt(o['em'])}  F1 {fmt(o['f1'])}  "
            f"拒答精确率 {fmt(o['decline_precision'])}  拒答召回率 {fmt(o['decline_recall'])}"
        )
        typer.echo(
            f"hit@1 {fmt(o['hit@1'])}  hit@5 {fmt(o['hit@5'])}  MRR {fmt(o['mrr'])}  引用支持率 {fmt(o['citation_support'])}  "
            f"延迟 p50 {o['latency_p50_ms']:.1f} ms  p95 {o['latency_p95_ms']:.1f} ms"
        )
        if run.baseline:
            b = run.baseline
            typer.echo(
                f"llama-index 默认流程：hit@1 {fmt(b['hit@1'])}  hit@5 {fmt(b['hit@5'])}  MRR {fmt(b['mrr'])}  "
                f"每段 {b['mean_retrieved_chars']:.0f} 字（本系统 {o['mean_retrieved_chars']:.0f} 字）"
            )
        if report:
            typer.echo(f"报告：{report} 与 {Path(report).with_suffix('.html')}")
    if run.partial:
        raise AssistantError("评测被中断；已写出部分结果。", 130)
    _enforce_floors(o, gold, floors)


def _enforce_floors(metrics: dict, gold: Path, floors: Optional[Path]) -> None:
    from ..eval.evaluation import check_floors

    if floors:
        failed = check_floors(metrics, gold, floors)
        if failed:
            raise AssistantError(f"低于 {floors} 中的下限：" + "；".join(failed), 1)


@command()
def facts(
    index_dir: Optional[Path] = IndexDirOption,
    subject: Optional[str] = typer.Option(None, "--subject", help="主体：地区、公司、机构等（包含即可），例如 沁水、联想"),
    metric: Optional[str] = typer.Option(None, "--metric", help="指标（包含即可），例如 处罚金额"),
    year: Optional[int] = typer.Option(None, "--year", help="年份"),
    fmt: str = typer.Option("table", "--format", help="table、csv 或 json"),
) -> None:
    """数字事实表：文章中的数字及其主体、指标、数值、单位、时期和原文出处。"""
    import csv

    if fmt not in ("table", "csv", "json"):
        raise AssistantError("--format 只能是 table、csv 或 json。", 2)
    assistant = _assistant(index_dir)
    rows = assistant.facts(subject=subject, metric=metric, year=year)
    fields = ["subject", "metric", "value", "value_max", "unit", "qualifier", "year", "period", "span", "title", "source",
              "chunk_id"]
    if fmt == "json":
        typer.echo(json.dumps([{k: getattr(f, k) for k in fields} for f in rows], ensure_ascii=False))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        for f in rows:
            writer.writerow([getattr(f, k) if getattr(f, k) is not None else "" for k in fields])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("主体", "指标", "数值", "单位", "时期", "原文")
        for f in rows:
            table.add_row(f.subject, f.metric, f.display_value(), f.unit, f.when, f.span)
        Console().print(table)
        typer.echo(f"共 {len(rows)} 条。")


@command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址；非本机地址需设置 ASSISTANT_UI_AUTH（网页）与 ASSISTANT_API_TOKENS（API）"),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="端口"),
    index_dir: Optional[Path] = IndexDirOption,
) -> None:
    """启动网页界面（问答、数据表、文档管理）与 HTTP API（/v1，说明见 /docs）。"""
    from .server import serve as serve_ui

    assistant = _assistant(index_dir)
    shown = '127.0.0.1' if host in ('0.0.0.0', '::') else host
    typer.echo(f"网页界面：http://{shown}:{port}/  HTTP API：http://{shown}:{port}/docs  （Ctrl-C 退出）")
    try:
        serve_ui(assistant, host, port)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise AssistantError(f"无法在 {host}:{port} 上启动网页界面（{str(exc).splitlines()[0]}）。", 1) from exc


def main() -> None:
    """Entry point: every failure a user can cause ends in one line and a non-zero exit code."""
    from pydantic import ValidationError
    from typer._click.exceptions import ClickException, UsageError

    from ..settings import invalid_settings

    speak_chinese()
    if len(sys.argv) == 1:
        sys.argv.append("--help")
    try:
        code = app(standalone_mode=False)
        if code == 130:  # Ctrl-C, which click turns into a return value without standalone mode
            _err("已中断。")
        if isinstance(code, int) and code:
            sys.exit(code)
    except AssistantError as exc:
        _err(str(exc))
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _err("已中断。")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except UsageError as exc:
        _err(usage_error(exc))
        sys.exit(exc.exit_code or 2)
    except ClickException as exc:
        _err(exc.format_message())
        sys.exit(exc.exit_code or 2)
    except SystemExit:
        raise
    except ValidationError as exc:  # a setting from the environment or .env that Settings refuses
        _err(invalid_settings(exc))
        sys.exit(2)
    except Exception as exc:  # anything unexpected still ends in one line
        _err(f"{type(exc).__name__}: {exc}".strip().splitlines()[0])
        sys.exit(1)


if __name__ == "__main__":
    main()
