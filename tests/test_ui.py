"""The web UI in a real browser (Debian's Chromium driven by Playwright) and through gradio_client."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from assistant.app.ui import DOCUMENT_HEADERS, FACT_HEADERS, FACT_PAGE_ROWS

from .conftest import ROOT, SEEDS, run_cli
from .fake_openai import FakeOpenAI, passage_number
from .test_offline import offline_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run",
]
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots, kept by CI as test artifacts (git-ignored)
CANONICAL = "沁水县2024年处罚金额多少？"

# A small article of a kind the seeds do not have, saved as GBK the way a Windows editor would.
GBK_ARTICLE = """临汾市襄汾县扎实推进秸秆综合利用
科学导报记者 王明
2025年，襄汾县完成秸秆综合利用面积42.6万亩，秸秆综合利用率达到93.5%，全县建成秸秆收储点17个。
县生态环境局表示，下一步将继续加强秸秆禁烧巡查。
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(index_dir: Path, host: str = "127.0.0.1", env: dict | None = None, inherit: bool = True):
    """Start `assistant serve`; (process, url) once the page answers. Its output goes to `_log(proc)`."""
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ASSISTANT_LLM_", "ASSISTANT_UI_"))}
    log_path = index_dir.parent / f"serve-{port}.log"
    with log_path.open("w") as log:  # a file, not a pipe: a pipe nobody reads would block a chatty server
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.app.cli", "serve", "--host", host, "--port", str(port), "--index-dir",
             str(index_dir)],
            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT),
            env={**(base if inherit else {}), "GRADIO_TEMP_DIR": str(index_dir.parent / "gradio-tmp"), **(env or {})},
        )
    proc.log_path = log_path
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"assistant serve exited: {_log(proc)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("assistant serve did not start within 90 s")


def _log(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text(errors="replace")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`assistant serve` on a free port over its own index of seeds/ (the tests upload and delete documents)."""
    index_dir = tmp_path_factory.mktemp("ui") / "index"
    done = run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir))
    assert done.returncode == 0, done.stderr
    proc, url = _start(index_dir, env={"ASSISTANT_UI_MAX_UPLOAD_MB": "0.01"})  # 10 KB: small enough to test
    _SERVERS[url] = proc
    yield url
    _stop(proc)
    assert "Traceback" not in _log(proc), f"the server logged a traceback:\n{_log(proc)}"


_SERVERS: dict[str, subprocess.Popen] = {}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make test installs it (scripts/system-deps.sh)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=60_000)
    yield page
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _ask(page, question: str, n: int):
    """Ask in the chat and wait for the n-th answer (1-based) to be rendered in full."""
    page.fill("#question textarea", question)
    page.click("#send")
    page.wait_for_function(
        "n => { const b = document.querySelectorAll(\"#chatbot [data-testid='bot']\");"
        " return b.length >= n && !b[n-1].innerText.trim().startsWith('…') && b[n-1].innerText.trim().length > 1; }",
        arg=n, timeout=60_000,
    )
    return page.locator("#chatbot [data-testid='bot']").nth(n - 1)


_ERROR_BADGES = ".toast-body.error, .error, [data-testid='toast-body']"


@contextmanager
def _english_page(browser, server: str):
    """The page loaded by an English (en-US) browser at 1280 px: it must be Chinese all the same."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    try:
        page.goto(server)
        page.wait_for_selector("#question textarea", timeout=60_000)
        yield page
    finally:
        context.close()


def test_a_fresh_page_opens_every_tab_without_an_error(browser, server):
    """Load the page as a new user does, open each tab, and fail on any error badge or server traceback."""
    with _english_page(browser, server) as page:
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        for tab in ("数据表", "文档", "问答"):  # each tab's content, then back to the chat
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(1500)  # let the tab's load events finish
            _shot(page, f"tab-{tab}")
            badges = [b.inner_text() for b in page.locator(_ERROR_BADGES).all() if b.is_visible()]
            assert not badges, f"error shown on the {tab} tab: {badges}"
        assert "Drop File Here" not in page.locator("#upload").inner_text()  # Gradio's drop zone speaks Chinese
        for tab, table, headers in (("数据表", "#facts", FACT_HEADERS), ("文档", "#documents", DOCUMENT_HEADERS)):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(500)
            for header in headers:  # every column in sight at 1280 px, none cut off at the right edge
                box = page.locator(table).get_by_text(header, exact=True).first.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280, f"{tab}: column {header} is cut off"
        # Untitled stories are listed as untitled (with how they open), never under a sentence of their body.
        listed = page.locator("#documents").inner_text()
        assert "越是艰难越向前 不负山水不负民——阳城县生态环保工作综述" in listed
        assert "（无标题）开头：科学导报讯 为深入贯彻" in listed and "；为深入贯彻" not in listed
        page.get_by_role("tab", name="数据表").click()
        shown = re.search(r"共 (\d+) 条", page.locator("#facts-count").inner_text())
        assert shown and int(shown.group(1)) > 10  # the table is filled on load, unfiltered
    log = _log(_SERVERS[server])
    assert "Traceback" not in log and "Error" not in log, f"the server logged an error:\n{log}"


def test_status_shows_the_backend_and_index_size(page):
    status = page.locator("#status").inner_text()
    assert "离线抽取式" in status and "2 篇文档" in status and "MB" in status


def test_chat_answers_with_a_citation_that_opens_on_the_passage(page):
    answer = _ask(page, CANONICAL, 1)
    assert answer.inner_text().startswith("394.179万元")
    citation = answer.locator("details.citation").first
    summary = citation.locator("summary").inner_text()
    assert summary.startswith("[1]") and "000_b6794b346518e693.txt" in summary
    # The page printed only the 沁水 story's "——" line: the citation is titled by it, with no dashes or marker.
    assert "小记如画沁水的“生态守护神”" in summary and "——" not in summary and "副题" not in summary
    assert not citation.locator(".passage").is_visible()  # closed until the user opens it
    citation.locator("summary").click()
    passage = citation.locator(".passage")
    assert passage.is_visible()
    assert passage.locator("mark").first.inner_text() == "394.179万元"  # the answer span is highlighted
    assert "处罚金额共计" in passage.locator(".evidence").inner_text()
    assert "seeds/000_b6794b346518e693.txt" in citation.locator(".meta").inner_text()
    _shot(page, "chat-citation")

    # A follow-up keeps the conversation: the place and year come from the first question.
    follow = _ask(page, "处理了多少件群众投诉环境信访及网格化平台交办问题？", 2)
    assert follow.inner_text().startswith("56件")
    # "那阳城县呢？" re-asks that question for 阳城县, whose article does not say: no 沁水 figure comes back.
    swapped = _ask(page, "那阳城县呢？", 3).inner_text()
    assert swapped.startswith(("资料中未提及", "未找到确切答案")), swapped  # declined, perhaps with 阳城's closest sentence
    assert "56件" not in swapped and "24件" not in swapped
    _shot(page, "chat-followup")

    page.click("#clear")
    page.wait_for_function("() => document.querySelectorAll(\"#chatbot [data-testid='bot']\").length === 0")


def test_an_example_question_can_be_asked(page):
    # The examples are the archive's own figure questions; the first one asked answers with a figure.
    page.wait_for_function("() => (document.querySelector('#chat-examples')?.innerText || '').includes('？')",
                           timeout=30_000)
    examples = page.locator("#chat-examples button, #chat-examples td, #chat-examples .example").all_inner_texts()
    first = next(e.strip() for e in examples if e.strip().endswith("？"))
    page.get_by_text(first, exact=True).first.click()
    page.wait_for_function("q => document.querySelector('#question textarea').value === q", arg=first, timeout=30_000)
    answer = _ask(page, page.input_value("#question textarea"), 1).inner_text()
    assert re.match(r"\d", answer), answer


def test_the_page_title_and_examples_are_the_archives_own(tmp_path):
    # Not the seeds' questions whatever the archive: an archive of one 襄汾 article gets an example about 襄汾
    # that answers, and the page is titled as a news assistant, not as the seeds' environmental one.
    from assistant.app.api import Assistant
    from assistant.app.ui import APP_TITLE, archive_examples

    article = tmp_path / "襄汾秸秆.txt"
    article.write_text(GBK_ARTICLE, encoding="utf-8")
    assistant = Assistant(index_dir=tmp_path / "index")
    assistant.ingest(article)
    examples = archive_examples(assistant)
    assert examples and all(q.startswith("襄汾县2025年") for q in examples), examples
    assert all(assistant.ask(q).answered for q in examples)
    assert "环保" not in APP_TITLE and "沁水" not in " ".join(examples)


ENGLISH_LEFT = r"""() => {
  const out = new Set();
  const english = s => s && /[A-Za-z]{3,}/.test(s) && !/[\u4e00-\u9fff]/.test(s) && !/\.(txt|md|jsonl|csv)$/.test(s.trim());
  // a label a screen reader reads: English words before a colon ("user's message: ..."), or markup read as text
  const spoken = s => s && (/^[A-Za-z' ]{3,}:/.test(s.trim()) || /<[a-z]+[ >]/.test(s));
  for (const el of document.querySelectorAll('*')) {
    for (const a of ['aria-label', 'title', 'placeholder', 'alt']) {
      const v = el.getAttribute(a);
      const key = v && /^[a-z_]+\.[a-z_]+$/.test(v.trim()) && !/\.(txt|md|jsonl|csv|json)$/.test(v.trim());
      if (english(v) || (a === 'aria-label' && spoken(v)) || key) out.add(a + ': ' + v.slice(0, 80));
    }
  }
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (w.nextNode()) {
    const p = w.currentNode.parentElement, t = w.currentNode.textContent.trim();
    if (!p || ['script', 'style'].includes(p.tagName.toLowerCase())) continue;
    const live = p.closest('[role=status], [aria-live], .sr-only');  // hidden from the eye, read aloud
    if ((p.offsetParent !== null || live) && english(t)) out.add('text: ' + t);
    if (/^[a-z_]+\.[a-z_]+$/.test(t) && !/\.(txt|md|jsonl|csv|json)$/.test(t)) out.add('untranslated key: ' + t);  // Gradio's i18n key with no text
  }
  return [...out];
}"""


def test_no_english_label_is_left_for_an_english_browser(browser, server, tmp_path):
    # Tooltips and screen-reader labels too ("Copy message", "Fullscreen", "Click to upload or drop files"...), on
    # every tab, after an answer has its message buttons.
    with _english_page(browser, server) as page:
        _ask(page, CANONICAL, 1)
        left = set(page.evaluate(ENGLISH_LEFT))
        for tab in ("数据表", "文档", "问答"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(1000)
            left |= set(page.evaluate(ENGLISH_LEFT))
        page.get_by_role("tab", name="文档").click()  # a file chosen, not yet imported: the upload box's buttons
        chosen = tmp_path / "待导入.txt"
        chosen.write_text("芮城县生态环境简报\n2024年芮城县新建污水管网12.5公里。\n", encoding="utf-8")
        page.set_input_files("#upload input[type=file]", str(chosen))
        page.wait_for_timeout(1500)
        left |= set(page.evaluate(ENGLISH_LEFT))
        assert not left, sorted(left)
        assert page.title() == "新闻问答助手"


def test_facts_tab_filters_and_downloads_csv(page, tmp_path):
    page.get_by_role("tab", name="数据表").click()
    page.fill("#fact-subject input, #fact-subject textarea", "沁水")
    page.fill("#fact-metric input, #fact-metric textarea", "处罚金额")
    page.click("#fact-filter")
    page.wait_for_function("() => document.querySelector('#facts').innerText.includes('394.179')", timeout=30_000)
    shown = page.locator("#facts").inner_text()
    assert "沁水县" in shown and "万元" in shown and "2024年" in shown  # 主体, 单位 and 时期 in their own columns
    _shot(page, "facts")
    with page.expect_download() as info:  # one click: the CSV is written when asked for, then downloaded
        page.click("#facts-csv")
    saved = tmp_path / "facts.csv"
    info.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join(FACT_HEADERS) and "394.179,万元,2024年" in text
    # A year that is not a year is refused with a sentence, not an error page.
    page.fill("#fact-year input, #fact-year textarea", "去年")
    page.click("#fact-filter")
    page.get_by_text("年份应是四位数字").first.wait_for(timeout=30_000)


def test_facts_tab_shows_one_page_at_a_time(page):
    """The unfiltered table is read a page at a time: the next page shows other rows, and the count says which."""
    page.get_by_role("tab", name="数据表").click()
    page.wait_for_function("() => /第 1 \\/ \\d+ 页/.test(document.querySelector('#facts-count').innerText)",
                           timeout=30_000)
    total = int(re.search(r"共 (\d+) 条", page.locator("#facts-count").inner_text()).group(1))
    first = page.locator("#facts").inner_text()
    assert total > FACT_PAGE_ROWS and f"每页 {FACT_PAGE_ROWS} 条" in page.locator("#facts-count").inner_text()
    page.click("#facts-next")
    page.wait_for_function("() => /第 2 \\/ \\d+ 页/.test(document.querySelector('#facts-count').innerText)",
                           timeout=30_000)
    second = page.locator("#facts").inner_text()
    assert "万元" in second or "%" in second or "个" in second
    assert second != first
    page.click("#facts-prev")
    page.wait_for_function("() => /第 1 \\/ \\d+ 页/.test(document.querySelector('#facts-count').innerText)",
                           timeout=30_000)
    page.wait_for_timeout(500)
    assert page.locator("#facts").inner_text() == first


def test_facts_chart_draws_the_filtered_metric_and_a_bar_opens_its_passage(page):
    page.get_by_role("tab", name="数据表").click()
    chart = page.locator("#facts-chart")
    chart.get_by_text("在“指标”中输入要比较的指标").wait_for(timeout=30_000)  # nothing drawn before a metric is asked
    page.fill("#fact-metric input, #fact-metric textarea", "投资")
    page.click("#fact-filter")
    chart.locator("details.bar").first.wait_for(timeout=30_000)
    captions = chart.locator("figcaption").all_inner_texts()
    assert captions == ["沁水县　2024年　单位：元"]  # place and year all bars share, said once
    values = chart.locator(".bar-value").all_inner_texts()
    assert values[0] == "5800余万元" and len(values) == 5  # largest first
    widths = [chart.locator(".bar-fill").nth(i).evaluate("e => e.getBoundingClientRect().width") for i in range(5)]
    assert widths == sorted(widths, reverse=True) and widths[0] > 4 * widths[-1]
    labels = chart.locator(".bar-label").all_inner_texts()
    assert len(set(labels)) == 5 and "县河流域水污染治理" in labels[0]  # the project each sum is for
    cut = chart.locator(".bar-label").evaluate_all("ls => ls.filter(l => l.scrollWidth > l.clientWidth + 1).length")
    assert cut == 0  # a long label wraps onto a second line; none is cut off with "…"
    first = chart.locator("details.bar").first
    assert not first.locator(".passage").is_visible()
    first.locator("summary").click()
    passage = first.locator(".passage")
    assert passage.is_visible() and passage.locator("mark").first.inner_text() == "5800余万元"
    assert "新建3座人工湿地" in passage.inner_text() and "000_b6794b346518e693.txt" in first.locator(".meta").inner_text()
    _shot(page, "facts-chart")
    # Figures in different units are never drawn on one scale: one chart per unit.
    page.fill("#fact-metric input, #fact-metric textarea", "PM2.5")
    page.click("#fact-filter")
    page.wait_for_function("() => document.querySelector('#facts-chart').innerText.includes('%')", timeout=30_000)
    units = [c.rsplit("单位：", 1)[1] for c in chart.locator("figcaption").all_inner_texts()]
    assert len(units) == len(set(units)) >= 2 and "%" in units and "微克/立方米" in units


def test_upload_a_gbk_file_ask_about_it_then_delete_it(page, tmp_path):
    path = tmp_path / "襄汾秸秆.txt"
    path.write_bytes(GBK_ARTICLE.encode("gbk"))
    page.get_by_role("tab", name="文档").click()
    page.set_input_files("#upload input[type=file]", str(path))
    page.click("#ingest")
    page.wait_for_function(
        "() => document.querySelector('#ingest-log').innerText.includes('新增 1 篇')", timeout=60_000
    )
    docs = page.locator("#documents").inner_text()
    assert "襄汾秸秆.txt" in docs and "2 篇文档" not in page.locator("#status").inner_text()
    _shot(page, "documents-uploaded")

    page.get_by_role("tab", name="问答").click()
    answer = _ask(page, "襄汾县2025年建成了多少个秸秆收储点？", 1)
    assert answer.inner_text().startswith("17个")
    assert "襄汾秸秆.txt" in answer.locator("details.citation summary").first.inner_text()
    _shot(page, "chat-uploaded")

    page.get_by_role("tab", name="文档").click()
    page.locator("#delete-choice input").fill("襄汾秸秆.txt")
    page.get_by_role("option", name="襄汾秸秆.txt").click()
    page.once("dialog", lambda dialog: dialog.dismiss())  # "确定删除文档 …？" answered 取消: nothing is deleted
    page.click("#delete")
    page.wait_for_function("() => document.querySelector('#ingest-log').innerText.includes('已取消')", timeout=30_000)
    assert "襄汾秸秆.txt" in page.locator("#documents").inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    page.wait_for_function("() => document.querySelector('#ingest-log').innerText.includes('已删除')", timeout=30_000)
    assert "襄汾秸秆.txt" not in page.locator("#documents").inner_text()
    page.get_by_role("tab", name="问答").click()
    gone = _ask(page, "襄汾县2025年建成了多少个秸秆收储点？", 2)
    assert gone.inner_text().startswith("资料中未提及")


def test_an_unsupported_upload_is_named_and_skipped(page, tmp_path):
    bad = tmp_path / "报表.pdf"
    bad.write_bytes(b"%PDF-1.4")
    page.get_by_role("tab", name="文档").click()
    page.set_input_files("#upload input[type=file]", str(bad))
    page.click("#ingest")
    page.wait_for_function("() => document.querySelector('#ingest-log').innerText.includes('报表.pdf')", timeout=30_000)
    assert "已跳过" in page.locator("#ingest-log").inner_text()


def test_an_upload_over_the_size_limit_is_refused_by_name(page, tmp_path):
    big = tmp_path / "长文.txt"
    big.write_text("襄汾县秸秆综合利用。" * 1200, encoding="utf-8")  # about 36 KB
    page.get_by_role("tab", name="文档").click()
    page.set_input_files("#upload input[type=file]", str(big))
    page.click("#ingest")
    page.wait_for_function("() => document.querySelector('#ingest-log').innerText.includes('长文.txt')", timeout=30_000)
    assert "超过 10 KB 的上传上限" in page.locator("#ingest-log").inner_text()
    assert "长文.txt" not in page.locator("#documents").inner_text()


def test_gradio_client_calls_the_ask_endpoint(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    reply = client.predict(CANONICAL, [], api_name="/ask")
    assert reply["answer"] == "394.179万元" and reply["answered"] is True
    assert any("394.179" in c["text"].replace(" ", "") for c in reply["citations"])
    follow = client.predict("处理了多少件群众投诉环境信访及网格化平台交办问题？", [CANONICAL], api_name="/ask")
    assert follow["answer"].startswith("56件")


def test_serving_beyond_loopback_requires_users(tmp_path):
    index_dir = tmp_path / "index"
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", str(_free_port()), "--index-dir", str(index_dir),
                      env={"ASSISTANT_UI_AUTH": ""})
    assert refused.returncode == 2 and "ASSISTANT_UI_AUTH" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr

    shutil.copytree(SEEDS, tmp_path / "seeds")
    assert run_cli("ingest", str(tmp_path / "seeds"), "--index-dir", str(index_dir)).returncode == 0
    proc, url = _start(index_dir, host="0.0.0.0", env={"ASSISTANT_UI_AUTH": "editor:s3cret"})
    try:
        from gradio_client import Client

        with pytest.raises(Exception):
            Client(url, verbose=False).predict(CANONICAL, [], api_name="/ask")
        reply = Client(url, auth=("editor", "s3cret"), verbose=False).predict(CANONICAL, [], api_name="/ask")
        assert reply["answer"] == "394.179万元"
        assert _login(url, "editor", "s3cret")
        for _ in range(5):  # someone guessing editor's password
            assert not _login(url, "editor", "guess")
        assert not _login(url, "editor", "s3cret")  # the name is locked for a while, even to its password
    finally:
        _stop(proc)


def _login(url: str, name: str, password: str) -> bool:
    data = urllib.parse.urlencode({"username": name, "password": password}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url.rstrip("/") + "/login", data=data), timeout=30) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def test_the_ui_serves_and_answers_with_no_network(tmp_path):
    index_dir = tmp_path / "index"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir)).returncode == 0
    env, _, attempts = offline_env(tmp_path, "socket-guard")  # records any non-loopback connection or lookup
    proc, url = _start(index_dir, env=env, inherit=False)
    try:
        from gradio_client import Client

        reply = Client(url, verbose=False).predict(CANONICAL, [], api_name="/ask")
        assert reply["answer"] == "394.179万元"
        with urllib.request.urlopen(url + "config", timeout=10) as r:  # the page's own config
            assert r.status == 200
    finally:
        _stop(proc)
    assert attempts.read_text() == "", f"the UI tried the network: {attempts.read_text()}"


def test_an_llm_answer_shows_only_once_checked_and_the_status_names_the_model(browser, tmp_path):
    """One streaming policy: the LLM's reply is checked before any of it is shown, so the chat shows "…" and then the
    whole cited answer, never a part of it."""
    index_dir = tmp_path / "index"
    assert run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir)).returncode == 0

    def reply(payload):
        n = passage_number(payload, "394.179万元")
        return f"根据沁水分局的执法统计，沁水县2024年共立案查处环境违法案件，处罚金额共计394.179万元[{n}]。"

    with FakeOpenAI(script=[{"content": reply, "pause": 0.15}]) as llm:
        proc, url = _start(index_dir, env={"ASSISTANT_LLM_BASE_URL": llm.base_url, "ASSISTANT_LLM_API_KEY": "sk-ui-test",
                                           "ASSISTANT_LLM_MODEL": "qwen-test"})
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
        try:
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("#question textarea", timeout=60_000)
            assert "大模型 qwen-test" in page.locator("#status").inner_text()
            page.evaluate(  # every state the answer's bubble passes through, as the user would have seen it
                "() => { window.seen = []; new MutationObserver(() => {"
                " const b = document.querySelector(\"#chatbot [data-testid='bot']\");"
                " if (b) window.seen.push([b.innerText.trim(), !!b.querySelector('details')]); })"
                ".observe(document.querySelector('#chatbot'), {subtree: true, childList: true, characterData: true}); }")
            page.fill("#question textarea", CANONICAL)
            page.click("#send")
            answer = page.locator("#chatbot [data-testid='bot']").first
            answer.locator("details.citation").first.wait_for(timeout=60_000)
            assert "394.179万元[" in answer.inner_text()
            seen = page.evaluate("() => window.seen")
            assert seen and all(text in ("", "…") or cited for text, cited in seen), seen  # nothing unchecked, ever
            citation = answer.locator("details.citation").first
            citation.locator("summary").click()
            assert "394.179万元" in citation.locator(".passage mark").first.inner_text()  # what the answer states
            _shot(page, "chat-llm")
        finally:
            context.close()
            _stop(proc)
    assert "sk-ui-test" not in _log(proc) and "Traceback" not in _log(proc)


def test_document_text_is_shown_as_text_never_as_markup():
    from assistant.app.api import Answer
    from assistant.retrieve.retrieval import Passage
    from assistant.app.ui import render_answer

    hostile = Passage(chunk_id="c1", doc_id="evil.txt", source="uploads/evil.txt", title="<img src=x onerror=alert(1)>",
                      text="处罚金额共计<b>12万元</b><script>alert(1)</script>。", score=1.0)
    shown = render_answer(Answer(question="q", answer="12万元", answered=True, citations=[hostile],
                                 evidence="处罚金额共计<b>12万元</b>"))
    assert "<script>" not in shown and "<img" not in shown and "<b>" not in shown
    assert "&lt;script&gt;" in shown and "&lt;img src=x" in shown


def test_users_for_the_ui_are_parsed_or_refused_with_a_sentence(tmp_path):
    from assistant.app.ui import UIError, parse_auth

    users = tmp_path / "users.txt"
    users.write_text("editor:s3cret\nviewer:pa:ss\n", encoding="utf-8")
    assert parse_auth("admin:x", users) == [("admin", "x"), ("editor", "s3cret"), ("viewer", "pa:ss")]
    with pytest.raises(UIError, match="用户名:密码"):
        parse_auth("nopassword", None)


def test_serve_embeds_what_ingestion_left_pending_in_the_background(browser, tmp_path):
    """`assistant ingest` returns before the e5 vectors; `assistant serve` computes them in the background while the
    page already answers, and the open page's status line counts them down on its own (no reload)."""
    corpus = ROOT / "evals" / "crud_news_sample_corpus.jsonl"  # 476 stories: minutes of e5, so the count is seen to fall
    index_dir = tmp_path / "index"
    done = run_cli("ingest", str(corpus), "--index-dir", str(index_dir), timeout=300)
    assert done.returncode == 0 and "等待计算向量" in done.stdout, done.stdout + done.stderr
    proc, url = _start(index_dir)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()

    def pending() -> int | None:
        found = re.search(r"后台计算中，还剩 (\d+) 个段落", page.locator("#status").inner_text())
        return int(found.group(1)) if found else None

    try:
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=60_000)
        first = pending()
        assert first is not None and first > 100, page.locator("#status").inner_text()
        question = "上海市体育局联合美团、大众点评发放的体育消费券是如何进行发放的？"
        assert _ask(page, question, 1).inner_text().strip()  # answered from the lexical index meanwhile
        deadline = time.monotonic() + 120
        while (pending() or 0) >= first and time.monotonic() < deadline:
            page.wait_for_timeout(1000)
        later = pending()
        assert later is not None and later < first  # the same page, never reloaded
    finally:
        context.close()
        _stop(proc)
    assert "Traceback" not in _log(proc), _log(proc)
    status = json.loads(run_cli("status", "--json", "--index-dir", str(index_dir)).stdout)
    assert 0 < status["vectors"] and status["vectors"] + status["vectors_pending"] == status["chunks"]


def test_a_name_that_keeps_failing_is_locked_even_for_its_right_password():
    from assistant.app.ui import LoginGuard

    now = [0.0]
    guard = LoginGuard([("editor", "s3cret")], clock=lambda: now[0])
    assert guard.verdict("editor", "s3cret")
    for _ in range(LoginGuard.MAX_FAILURES):
        assert not guard.verdict("editor", "guess")
    assert not guard.verdict("editor", "s3cret")  # locked
    assert guard.verdict("viewer", "x") is False and not guard.verdict("nobody", "s3cret")
    now[0] += LoginGuard.LOCK_S + 1
    assert guard.verdict("editor", "s3cret")  # the lock lapses


def test_markup_in_ones_own_question_is_shown_as_text_and_never_runs(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    hostile = '<img src=x onerror="alert(1)">沁水县2024年处罚金额多少？'
    _ask(page, hostile, 1)
    page.wait_for_timeout(500)
    assert not dialogs and page.locator("#chatbot img[src='x']").count() == 0
    assert "<img src=x" in page.locator("#chatbot [data-testid='user']").first.inner_text()


def test_a_low_confidence_answer_is_declined_with_its_evidence_shown_and_cited(browser, tmp_path):
    """The learned reader below its threshold (here every answer is): the chat says it found no exact answer, quotes
    the sentence most likely to hold it, and that sentence is shaded in the cited passage."""
    index_dir = tmp_path / "index"
    done = run_cli("ingest", str(SEEDS), "--index-dir", str(index_dir))
    assert done.returncode == 0, done.stderr
    proc, url = _start(index_dir, env={"ASSISTANT_READER": "learned", "ASSISTANT_READER_MIN_CONFIDENCE": "1"})
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=60_000)
        answer = _ask(page, "沁水分局2024年一共检查了多少家次企业和单位？", 1)
        text = answer.inner_text()
        assert text.startswith("未找到确切答案。最相关的原文：「") and "918家次" in text
        citation = answer.locator("details.citation").first
        citation.locator("summary").click()
        assert "918家次" in citation.locator(".passage .evidence").inner_text()
        _shot(page, "chat-decline-with-evidence")
        badges = [b.inner_text() for b in page.locator(_ERROR_BADGES).all() if b.is_visible()]
        assert not badges, badges
    finally:
        context.close()
        _stop(proc)
    assert "Traceback" not in _log(proc), _log(proc)
