"""Ingest and ask with networking disabled: nothing may reach the network at import, ingest or ask."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from .conftest import ROOT, SEEDS

GUARD = textwrap.dedent(
    '''
    # Loaded by Python at start-up (sitecustomize): refuse and record any non-loopback connection or lookup.
    import os, socket

    _log = os.environ["NET_ATTEMPTS_LOG"]
    _LOCAL = ("127.", "::1", "localhost", "0.0.0.0")

    def _record(what):
        with open(_log, "a", encoding="utf-8") as fh:
            fh.write(what + "\\n")
        raise OSError("network disabled in this test: " + what)

    _connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(_LOCAL):
            _record(f"connect {address}")
        return _connect(self, address)

    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOCAL):
            _record(f"getaddrinfo {host}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo
    '''
)


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def offline_env(tmp_path, isolation: str):
    """(env, command prefix, attempts log) for a subprocess with no network: a socket guard that records any
    non-loopback connection or lookup, plus `unshare -n` when asked (skipped where the machine forbids it)."""
    if isolation == "unshare-n" and not _unshare_works():
        pytest.skip("unshare -n is not permitted on this machine")
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "attempts.log"
    log.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{guard_dir}:{ROOT}",
        "NET_ATTEMPTS_LOG": str(log),
    }
    return env, (["unshare", "-n"] if isolation == "unshare-n" else []), log


@pytest.mark.parametrize("isolation", ["socket-guard", "unshare-n"])
def test_ingest_and_ask_run_with_no_network(tmp_path, isolation):
    env, prefix, log = offline_env(tmp_path, isolation)
    env["ASSISTANT_INDEX_DIR"] = str(tmp_path / "index")
    ingest = subprocess.run(
        [*prefix, sys.executable, "-m", "assistant.app.cli", "ingest", str(SEEDS)],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    ask = subprocess.run(
        [*prefix, sys.executable, "-m", "assistant.app.cli", "ask", "沁水县2024年处罚金额多少？", "--json"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["answer"] == "394.179万元"
    assert log.read_text() == "", f"network was attempted: {log.read_text()}"


def test_the_package_imports_without_llama_index():
    # llama-index is only where the offline tiktoken encodings are looked for; its absence must not break import.
    code = "import sys; sys.modules['llama_index'] = None; import assistant.offline as o; o.configure(); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
