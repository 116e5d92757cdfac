"""Hostile requests against a real `assistant serve`: foreign hosts and origins, oversized and endless bodies,
unauthenticated uploads, malformed text and names. Each is refused in the API's error shape, before the server reads
what it need not, and leaves the index as it was."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from .test_http_api import served_seeds

CANONICAL = "沁水县2024年处罚金额多少？"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_seeds(tmp_path_factory.mktemp("hostile")) as s:
        yield s


def _shape(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The project's error shape with this status (never a plain-text 500, never {"detail": …})."""
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in error["message"]
    assert code is None or error["code"] == code, error
    return error


def _documents(url: str) -> list[str]:
    return [d["doc_id"] for d in httpx.get(f"{url}/v1/documents", timeout=30).json()["documents"]]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _server_pid(url: str) -> int:
    port = urlparse(url).port
    for fd_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (fd_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and str(port).encode() in cmd:
            return int(fd_dir.name)
    raise AssertionError("the server's process was not found")


def test_a_host_the_server_does_not_answer_to_is_refused(served):
    url, _ = served
    _shape(httpx.get(f"{url}/v1/status", headers={"Host": "evil.example"}, timeout=30), 421, "invalid_host")
    _shape(httpx.get(f"{url}/", headers={"Host": "rebound.attacker.example:7860"}, timeout=30), 421, "invalid_host")
    port = urlparse(url).port
    for name in ("127.0.0.1", "localhost"):
        assert httpx.get(f"{url}/v1/status", headers={"Host": f"{name}:{port}"}, timeout=30).status_code == 200


def test_a_page_of_another_site_cannot_change_the_index(served, tmp_path):
    url, _ = served
    before = _documents(url)
    note = tmp_path / "evil.txt"
    note.write_text("恶意页面上传的文章\n2024年某县处罚金额999万元。\n", encoding="utf-8")
    evil = {"Origin": "http://evil.example"}
    with note.open("rb") as f:
        _shape(httpx.post(f"{url}/v1/ingest", files={"files": f}, headers=evil, timeout=30), 403, "forbidden_origin")
    _shape(httpx.delete(f"{url}/v1/documents/{before[0]}", headers=evil, timeout=30), 403, "forbidden_origin")
    _shape(httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, headers={"Sec-Fetch-Site": "cross-site"},
                      timeout=30), 403, "forbidden_origin")
    assert _documents(url) == before
    # The server's own page, and a client that is no browser (no Origin), are served.
    own = {"Origin": url}
    assert httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, headers=own, timeout=60).json()["answer"] == "394.179万元"
    assert httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60).status_code == 200


def _json_reply(s: socket.socket) -> bytes:
    """A raw HTTP reply read off a socket until its JSON body has ended (or the server closed the connection)."""
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply


def test_a_huge_declared_body_is_refused_unread(served):
    url, _ = served
    pid = _server_pid(url)
    before = _rss_kb(pid)
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as s:
        s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 400000000\r\n\r\n" % parsed.port + b'{"question": "' + b"a" * 65536)
        reply = _json_reply(s)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "too_large"
    assert _rss_kb(pid) - before < 50_000  # KB


def test_a_body_sent_without_its_length_is_cut_off_at_the_limit(served):
    url, _ = served

    def endless():
        for _ in range(64):  # 4 MB, over the 1 MB a JSON request may hold
            yield b"a" * 65536

    response = httpx.post(f"{url}/v1/ask", content=endless(), headers={"Content-Type": "application/json"}, timeout=60)
    _shape(response, 413, "too_large")


@pytest.mark.parametrize("body, status, code", [
    ('{"question": "\\ud800沁水县2024年处罚金额多少？"}', 400, "invalid_question"),
    ('{"question": "沁水县", "history": ["\\udfff"]}', 400, "invalid_question"),
    ('{"question": ', 400, "invalid_json"),
    (json.dumps({"question": CANONICAL, "history": ["那阳城县呢？"] * 60}), 422, "invalid_request"),
    (json.dumps({"messages": [{"role": "user", "content": "你好"}] * 500}), 422, "invalid_request"),
    (b'{"question": "\xb6T\x16\xf1"}', 400, "invalid_json"),
], ids=["lone surrogate", "surrogate in history", "broken JSON", "history too long", "too many messages", "not UTF-8"])
def test_malformed_text_is_a_clear_4xx(served, body, status, code):
    url, _ = served
    body = body if isinstance(body, bytes) else body.encode("utf-8")
    path = "/v1/chat/completions" if b'"messages"' in body else "/v1/ask"
    _shape(httpx.post(f"{url}{path}", content=body, headers={"Content-Type": "application/json"}, timeout=60),
           status, code)


def test_a_page_of_facts_past_any_archive_is_a_422_not_a_crash(served):
    url, _ = served
    _shape(httpx.get(f"{url}/v1/facts", params={"offset": 10**20}, timeout=30), 422, "invalid_request")
    assert httpx.get(f"{url}/v1/facts", params={"offset": 10**9}, timeout=30).json()["facts"] == []


@pytest.mark.parametrize("name", ["a\x00b.txt", "a\x01b.txt", "长" * 100 + ".txt"], ids=["NUL", "control", "300 bytes"])
def test_an_upload_with_an_unusable_name_is_refused_and_nothing_is_written(served, name):
    url, index_dir = served
    before = sorted(p.name for p in (index_dir / "uploads").glob("*")) if (index_dir / "uploads").exists() else []
    # The multipart body written by hand: a client library would escape the name's control characters.
    boundary = "hostile-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\n2024年某县处罚金额999万元。\r\n--{boundary}--\r\n").encode("utf-8")
    response = httpx.post(f"{url}/v1/ingest", content=body,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
    _shape(response, 400)
    after = sorted(p.name for p in (index_dir / "uploads").glob("*")) if (index_dir / "uploads").exists() else []
    assert after == before


def test_no_reply_names_where_the_server_keeps_its_files(served):
    url, index_dir = served
    replies = [httpx.get(f"{url}/v1/status", timeout=30).text, httpx.get(f"{url}/v1/documents", timeout=30).text,
               httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60).text,
               httpx.post(f"{url}/v1/ingest", files={"files": ("empty.txt", b"   ", "text/plain")}, timeout=30).text]
    for reply in replies:
        assert str(index_dir) not in reply and str(index_dir.parent) not in reply, reply


def test_an_unauthenticated_upload_writes_nothing(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {"ASSISTANT_API_TOKENS": "the-token", "TMPDIR": str(spool)}
    with served_seeds(tmp_path, env=env) as (url, index_dir):
        payload = "2024年某县处罚金额999万元。\n".encode() * 200_000  # 7 MB: a form parser would spool it to disk
        spooled = set(spool.rglob("*"))  # what the server made at its start
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/ingest", files={"files": ("big.txt", payload, "text/plain")}, timeout=60)
        _shape(response, 401, "invalid_token")
        assert time.monotonic() - started < 30
        assert set(spool.rglob("*")) == spooled
        # Refused before the body is read: the 401 comes while most of a declared 7 MB has not been sent at all.
        parsed = urlparse(url)
        with socket.create_connection((parsed.hostname, parsed.port), timeout=20) as s:
            s.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n"
                      % (parsed.port, len(payload) + 200) + b'--b\r\nContent-Disposition: form-data; name="files"; '
                      b'filename="big.txt"\r\n\r\n' + payload[:65536])
            assert s.recv(12) == b"HTTP/1.1 401"
        assert not (index_dir / "uploads").exists() or not list((index_dir / "uploads").iterdir())
        ok = httpx.post(f"{url}/v1/ingest", files={"files": ("small.txt", "某县简报\n2024年某县新建公园3座。\n".encode(), "text/plain")},
                        headers={"Authorization": "Bearer the-token"}, timeout=60)
        assert ok.status_code == 200, ok.text


def test_a_flood_of_questions_is_answered_or_told_to_come_back(served):
    """200 questions at once: each is answered, or refused at once with 503 and Retry-After (no other error, no
    unbounded queue), and the server answers normally afterwards."""
    import asyncio

    url, _ = served

    async def flood():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.gather(*(client.post(f"{url}/v1/ask", json={"question": CANONICAL}) for _ in range(200)))

    replies = asyncio.run(flood())
    statuses = [r.status_code for r in replies]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 32, sorted(set(statuses))
    for r in replies:
        if r.status_code == 503:
            _shape(r, 503, "busy")
            assert r.headers["retry-after"] == "1"
        else:
            assert r.json()["answer"] == "394.179万元"
    assert httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60).json()["answer"] == "394.179万元"


def test_an_upload_onto_a_full_disk_is_a_507_and_reads_go_on(tmp_path):
    with served_seeds(tmp_path, env={"ASSISTANT_MIN_FREE_MB": "1e12"}) as (url, index_dir):
        before = _documents(url)
        note = "某县简报\n2024年某县新建公园3座。\n".encode()
        error = _shape(httpx.post(f"{url}/v1/ingest", files={"files": ("note.txt", note, "text/plain")}, timeout=60), 507,
                       "insufficient_storage")
        assert "磁盘空间不足" in error["message"] and str(index_dir) not in error["message"]
        assert _documents(url) == before
        assert httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60).json()["answer"] == "394.179万元"


def test_clients_that_send_too_slowly_are_let_go(served):
    """One client sends its headers a byte a second, another stops halfway through a body: the server closes the
    first (HEADERS_TIMEOUT_S) and answers the second 408 in the error shape (BODY_IDLE_S), each within a minute,
    and answers everyone else meanwhile."""
    import threading

    url, _ = served
    host, port = urlparse(url).hostname, urlparse(url).port
    outcome: dict[str, object] = {}

    def trickle():
        with socket.create_connection((host, port), timeout=90) as s:
            started = time.monotonic()
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200:
                    s.sendall(bytes([byte]))
                    time.sleep(1)
                    if time.monotonic() - started > 60:
                        break
                outcome["trickle"] = "still open after 60 s"
            except OSError:
                outcome["trickle"] = "closed"

    def stall():
        with socket.create_connection((host, port), timeout=90) as s:
            body = json.dumps({"question": CANONICAL}).encode()
            s.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
            outcome["stall"] = _json_reply(s)

    threads = [threading.Thread(target=trickle), threading.Thread(target=stall)]
    for t in threads:
        t.start()
    time.sleep(2)
    assert httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60).json()["answer"] == "394.179万元"
    for t in threads:
        t.join()
    assert outcome["trickle"] == "closed"
    head, _, body = outcome["stall"].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert json.loads(body)["error"]["code"] == "request_timeout"


@pytest.mark.parametrize("method,path,status,code", [
    ("GET", "/no-such-page", 404, "not_found"),
    ("DELETE", "/gradio_api/no-such-route", 404, "not_found"),
    ("POST", "/config", 405, "method_not_allowed"),
    ("POST", "/gradio_api/queue/join", 422, "invalid_request"),
])
def test_the_frameworks_own_errors_come_in_the_error_shape(served, method, path, status, code):
    url, _ = served
    reply = httpx.request(method, f"{url}{path}", json={}, timeout=30)
    _shape(reply, status, code)
    assert "detail" not in reply.json()
