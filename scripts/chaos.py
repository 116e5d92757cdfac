"""Fault injection for the index (`make chaos`): kill -9 an ingestion, and the e5 vectors' computation, at many
moments; run writers side by side; ask from many threads while one ingests. After each, the index must open, answer
and hold everything once.
Writes a table to evals/reports/chaos.md (and .json)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from served import free_port, serve  # noqa: E402

CANONICAL, EXPECTED = "沁水县2024年处罚金额多少？", "394.179万元"
ENGLISH = "How much were the environmental fines in Qinshui County in 2024?"  # ranked by the e5 vectors


def cli(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.app.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def check(index_dir: Path, documents: int, vectors: int | None = None, question: str = CANONICAL) -> str:
    """'' when the index opens, holds `documents` documents (and at least `vectors` vectors, none beyond its
    passages; None: every passage's), and answers; else what is wrong."""
    status = cli("status", "--json", "--index-dir", str(index_dir))
    if status.returncode != 0:
        return f"status exit {status.returncode}: {status.stderr.strip()[-200:]}"
    info = json.loads(status.stdout)
    least = info["chunks"] if vectors is None else vectors
    if info["documents"] != documents or not least <= info["vectors"] <= info["chunks"]:
        return f"documents {info['documents']}/{documents}, vectors {info['vectors']}/{info['chunks']}"
    asked = cli("ask", question, "--json", "--index-dir", str(index_dir))
    if asked.returncode != 0 or json.loads(asked.stdout)["answer"] != EXPECTED:
        return f"ask exit {asked.returncode}: {(asked.stdout + asked.stderr)[-200:]}"
    return ""


def kills(base: Path, corpus: Path, total: int, moments: list[float], work: Path) -> list[dict]:
    """kill -9 an ingestion of `corpus` into a copy of `base` (the seeds with their vectors), then ingest again."""
    kept = json.loads(cli("status", "--json", "--index-dir", str(base)).stdout)["vectors"]
    rows = []
    for at in moments:
        index_dir = work / f"kill-{at}"
        shutil.copytree(base, index_dir)
        proc = subprocess.Popen([sys.executable, "-m", "assistant.app.cli", "ingest", str(corpus), "--index-dir",
                                 str(index_dir)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(at)
        finished = proc.poll() is not None
        proc.kill()
        proc.wait()
        again = cli("ingest", str(corpus), "--index-dir", str(index_dir))  # the user runs it again
        problem = "" if again.returncode == 0 else f"re-ingest exit {again.returncode}: {again.stderr.strip()[-200:]}"
        problem = problem or check(index_dir, total, vectors=kept)  # the new passages' vectors follow later
        rows.append({"kill_at_s": at, "finished_before_kill": finished, "ok": not problem, "problem": problem})
        print(f"kill -9 at {at:5.1f} s: {'ok' if not problem else problem}", flush=True)
        shutil.rmtree(index_dir, ignore_errors=True)
    return rows


def embed_kills(seeds: Path, moments: list[float], work: Path) -> list[dict]:
    """kill -9 `assistant embed` (its worker processes die with it) at many moments, then run it again: every
    passage gets its vector once, and an English question finds the figure through them."""
    rows = []
    for at in moments:
        index_dir = work / f"embed-kill-{at}"
        shutil.copytree(seeds, index_dir)
        proc = subprocess.Popen([sys.executable, "-m", "assistant.app.cli", "embed", "--index-dir", str(index_dir)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(at)
        finished = proc.poll() is not None
        proc.kill()
        proc.wait()
        again = cli("embed", "--index-dir", str(index_dir))
        problem = "" if again.returncode == 0 else f"embed exit {again.returncode}: {again.stderr.strip()[-200:]}"
        problem = problem or check(index_dir, 2, question=ENGLISH)
        rows.append({"kill_at_s": at, "finished_before_kill": finished, "ok": not problem, "problem": problem})
        print(f"kill -9 of embed at {at:5.1f} s: {'ok' if not problem else problem}", flush=True)
        shutil.rmtree(index_dir, ignore_errors=True)
    return rows


def side_by_side(base: Path, corpus: Path, total: int, trials: int, work: Path) -> list[dict]:
    rows = []
    for n in range(trials):
        index_dir = work / f"pair-{n}"
        shutil.copytree(base, index_dir)
        cmd = [sys.executable, "-m", "assistant.app.cli", "ingest", str(corpus), "--index-dir", str(index_dir)]
        runs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        codes = [p.wait() for p in runs]
        refused = sum(code == 3 for code in codes)
        problem = "" if all(c in (0, 3) for c in codes) else f"exit codes {codes}"
        problem = problem or check(index_dir, total, vectors=0)
        rows.append({"trial": n, "exit_codes": codes, "refused": refused, "ok": not problem, "problem": problem})
        print(f"two writers, trial {n}: exit codes {codes}: {'ok' if not problem else problem}", flush=True)
        shutil.rmtree(index_dir, ignore_errors=True)
    return rows


def readers_under_load(base: Path, corpus: Path, work: Path, threads: int = 8) -> dict:
    from assistant import Assistant

    index_dir = work / "load"
    shutil.copytree(base, index_dir)
    a = Assistant(index_dir=index_dir)
    errors, answers, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                answers.append(a.ask(CANONICAL).answer)
            except Exception as exc:  # noqa: BLE001 - counted, not raised
                errors.append(f"{type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=reader) for _ in range(threads)]
    for t in pool:
        t.start()
    try:
        a.ingest(corpus)
        writer_error = ""
    except Exception as exc:  # noqa: BLE001
        writer_error = f"{type(exc).__name__}: {exc}"
    stop.set()
    for t in pool:
        t.join()
    wrong = sum(x != EXPECTED for x in answers)
    print(f"{threads} readers while one ingests: {len(answers)} asks, {len(errors)} errors, {wrong} wrong answers, "
          f"writer {'ok' if not writer_error else writer_error}", flush=True)
    return {"threads": threads, "asks": len(answers), "errors": len(errors), "wrong": wrong, "writer_error": writer_error,
            "first_errors": errors[:3]}


# --- a full disk under a serving process ------------------------------------------------------------------------

FS_MB = 64  # the small filesystem each disk-full trial runs on
# Free space left on it before the upload, one figure a trial: from "full at the first write" to "the catalog fits,
# the vectors do not" to "everything fits".
LEAVE_MB = [0.2, 1, 2, 3, 4, 5, 6, 8, 10, 14]


def _mount(folder: Path, mb: int) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def _asking(url: str, stop: threading.Event, seen: list) -> None:
    """Ask the canonical question until `stop`: (status, seconds, answer) each."""
    import httpx

    while not stop.is_set():
        started = time.perf_counter()
        try:
            r = httpx.post(f"{url}/v1/ask", json={"question": CANONICAL}, timeout=60)
            seen.append((r.status_code, time.perf_counter() - started, r.json().get("answer")))
        except Exception as exc:  # noqa: BLE001 - counted as a failed read
            seen.append((0, time.perf_counter() - started, type(exc).__name__))
        time.sleep(0.2)


def disk_full(base: Path, corpus: Path, total: int, work: Path, trials: int, leave_mb: list[float] = LEAVE_MB) -> list[dict]:
    """A served index on a small filesystem that fills during an upload (no reserve: the writes meet ENOSPC
    themselves), while a client keeps asking; then SIGTERM, the disk freed, and a restart with no step by hand."""
    import httpx

    rows = []
    for n, leave in enumerate(leave_mb[:trials]):
        mnt = work / f"fs-{n}"
        if not _mount(mnt, FS_MB):
            return [{"skipped": "no small filesystem could be mounted here (mount -t tmpfs needs root)"}]
        try:
            index_dir = mnt / "index"
            shutil.copytree(base, index_dir)
            free = shutil.disk_usage(mnt).free
            with open(mnt / "filler", "wb") as f:
                f.truncate(0)
                f.write(b"\0" * max(0, int(free - leave * 1e6)))
            port, log = free_port(), work / f"fs-{n}.log"
            proc = serve(index_dir, port, log, {"ASSISTANT_MIN_FREE_MB": "0"})
            url = f"http://127.0.0.1:{port}"
            seen, stop = [], threading.Event()
            reader = threading.Thread(target=_asking, args=(url, stop, seen))
            reader.start()
            status, text, body, documents_served = 0, "", {}, -1
            try:
                reply = httpx.post(f"{url}/v1/ingest", files={"files": (corpus.name, corpus.read_bytes(), "application/jsonl")},
                                   timeout=600)
                status, text = reply.status_code, reply.text
                body = reply.json()
                time.sleep(20)  # the upload's vectors are written in the background meanwhile, onto the same disk
                documents_served = len(httpx.get(f"{url}/v1/documents", timeout=60).json()["documents"])
            except (httpx.HTTPError, ValueError) as exc:  # the server died, or answered what is not JSON
                text = text or f"{type(exc).__name__}: {exc}"
            finally:
                stop.set()
                reader.join()
            report = body.get("report", {}) if isinstance(body, dict) else {}
            committed = report.get("added", 0) + report.get("replaced", 0) if status == 200 else 0
            alive = proc.poll() is None  # still serving after the disk filled
            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
                stop_s = time.monotonic() - stopping
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                stop_s = None
            os.remove(mnt / "filler")  # the operator frees the disk, and starts the server again
            problem = check(index_dir, 2 + committed, vectors=0)
            if not problem and documents_served != 2 + committed:
                problem = f"the server listed {documents_served} documents, the upload reported {2 + committed}"
            again = cli("ingest", str(corpus), "--index-dir", str(index_dir), env={"ASSISTANT_MIN_FREE_MB": "0"})
            problem = problem or ("" if again.returncode == 0 else f"re-ingest exit {again.returncode}") or check(index_dir, total, vectors=0)
            reads_ok = sum(1 for status, _, answer in seen if status == 200 and answer == EXPECTED)
            tracebacks = log.read_text(encoding="utf-8", errors="replace").count("Traceback")
            if tracebacks and os.environ.get("CHAOS_LOGS"):
                shutil.copy(log, Path(os.environ["CHAOS_LOGS"]) / log.name)
            clear = status == 200 or (status == 507 and "磁盘空间不足" in text)
            row = {"free_mb": leave, "upload_status": status, "upload_said": text[:200], "committed": committed,
                   "server_alive": alive,
                   "upload_clear": clear, "reads": len(seen), "reads_ok": reads_ok,
                   "slowest_read_s": round(max((s for _, s, _ in seen), default=0), 2),
                   "stopped_in_s": None if stop_s is None else round(stop_s, 1), "tracebacks": tracebacks,
                   "whole_after_restart": not problem, "problem": problem}
            row["ok"] = (alive and clear and reads_ok == len(seen) and stop_s is not None and stop_s <= 10 and not tracebacks
                         and not problem)
            rows.append(row)
            print(f"disk full, {leave} MB free: {row}", flush=True)
        finally:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    return rows


# --- the Chroma server killed during a publish -------------------------------------------------------------------

KILL_AFTER_S = [1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6]  # how long into the writer's ingest the Chroma server is killed
CAUGHT_UP_WITHIN_S = 30


def _chroma(folder: Path, port: int) -> subprocess.Popen:
    import httpx

    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
            return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("chroma run did not start")


def chroma_kills(corpus: Path, total: int, work: Path, trials: int) -> list[dict]:
    """A serving process and a writer share a Chroma server; the server is killed (kill -9) while the writer
    publishes, and started again 2 s later. Then the serving process must hold every document the Chroma server
    holds within CAUGHT_UP_WITHIN_S, and, once the writer has run again, the whole corpus."""
    import httpx

    rows = []
    for n, at in enumerate(KILL_AFTER_S[:trials]):
        port = free_port()
        env = {"ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(port), "ASSISTANT_EMBEDDING": "none"}
        chroma = _chroma(work / f"chroma-{n}", port)
        served = None
        try:
            assert cli("ingest", str(ROOT / "seeds"), "--index-dir", str(work / f"w-{n}"), env=env).returncode == 0
            web, log = free_port(), work / f"served-{n}.log"
            served = serve(work / f"s-{n}", web, log, env)
            url = f"http://127.0.0.1:{web}"
            writer = subprocess.Popen([sys.executable, "-m", "assistant.app.cli", "ingest", str(corpus), "--index-dir",
                                       str(work / f"w-{n}")], cwd=ROOT, env={**os.environ, **env},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(at)
            chroma.kill()
            chroma.wait()
            time.sleep(2)
            chroma = _chroma(work / f"chroma-{n}", port)
            back = time.monotonic()
            written = writer.wait()
            writer_said = (writer.stderr.read().strip().splitlines() or [""])[-1][:300]

            def truth() -> int:
                fresh = work / f"probe-{n}-{time.monotonic_ns()}"
                done = cli("status", "--json", "--index-dir", str(fresh), env=env)
                shutil.rmtree(fresh, ignore_errors=True)
                return json.loads(done.stdout)["documents"]

            def caught_up(expected: int, since: float) -> float | None:
                while time.monotonic() - since < CAUGHT_UP_WITHIN_S:
                    try:
                        if httpx.get(f"{url}/v1/status", timeout=10).json()["documents"] == expected:
                            return time.monotonic() - since
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.5)
                return None

            on_server = truth()
            first = caught_up(on_server, back)
            again = subprocess.run([sys.executable, "-m", "assistant.app.cli", "ingest", str(corpus), "--index-dir",
                                    str(work / f"w-{n}")], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
            second = caught_up(total, time.monotonic())
        finally:
            if served is not None:
                served.terminate()
                served.wait(timeout=30)
            chroma.kill()
            chroma.wait()
        tracebacks = log.read_text(encoding="utf-8", errors="replace").count("Traceback")
        row = {"kill_after_s": at, "writer_exit": written, "writer_said": writer_said, "on_server_after_kill": on_server,
               "caught_up_in_s": None if first is None else round(first, 1), "rerun_exit": again.returncode,
               "whole_corpus_in_s": None if second is None else round(second, 1), "tracebacks": tracebacks}
        row["ok"] = first is not None and second is not None and again.returncode == 0 and not tracebacks
        rows.append(row)
        print(f"Chroma server killed after {at} s: {row}", flush=True)
    return rows


SCENARIOS = ("kills", "embed_kills", "pairs", "load", "disk_full", "chroma_kills")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=ROOT / "evals" / "crud_news_sample_corpus.jsonl")
    ap.add_argument("--moments", type=str, default="1,2,3,5,7,9,11,13,15,17,19,21,24,27,30")
    ap.add_argument("--embed-moments", type=str, default="1,2,3,4,5,6,8,10,12,15")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--trials", type=int, default=10, help="disk-full and Chroma-kill trials")
    ap.add_argument("--leave-mb", type=str, default=",".join(f"{x:g}" for x in LEAVE_MB),
                    help="disk-full trials: the free space left before each upload")
    ap.add_argument("--only", type=str, default=",".join(SCENARIOS),
                    help="the scenarios to run (the report keeps the others' last figures)")
    ap.add_argument("--out", type=Path, default=ROOT / "evals" / "reports" / "chaos.json")
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    result = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    try:
        seeds, base = work / "seeds", work / "base"
        assert cli("ingest", str(ROOT / "seeds"), "--index-dir", str(seeds)).returncode == 0
        shutil.copytree(seeds, base)
        assert cli("embed", "--index-dir", str(base)).returncode == 0
        total = 2 + sum(1 for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip())
        started = time.perf_counter()
        result.update({"corpus": args.corpus.name, "corpus_mb": round(args.corpus.stat().st_size / 1e6, 2)})
        runs = {
            "kills": lambda: kills(base, args.corpus, total, [float(x) for x in args.moments.split(",")], work),
            "embed_kills": lambda: embed_kills(seeds, [float(x) for x in args.embed_moments.split(",")], work),
            "pairs": lambda: side_by_side(base, args.corpus, total, args.pairs, work),
            "load": lambda: readers_under_load(base, args.corpus, work),
            "disk_full": lambda: disk_full(base, args.corpus, total, work, args.trials, [float(x) for x in args.leave_mb.split(",")]),
            "chroma_kills": lambda: chroma_kills(args.corpus, total, work, args.trials),
        }
        for name in SCENARIOS:
            if name in only:
                result[name] = runs[name]()
        result["seconds"] = round(time.perf_counter() - started, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    table = "\n".join(report_rows(result))
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)


def report_rows(result: dict) -> list[str]:
    rows = [f"| fault (corpus {result['corpus']}, {result['corpus_mb']} MB, after the two seed pages) | survived / tried |",
            "| --- | --- |"]
    if k := result.get("kills"):
        rows.append(f"| `kill -9` during ingestion at {len(k)} moments ({k[0]['kill_at_s']:g}–{k[-1]['kill_at_s']:g} s; "
                    f"{sum(not r['finished_before_kill'] for r in k)} while it ran), then the same ingest again | "
                    f"{sum(r['ok'] for r in k)} / {len(k)} |")
    if e := result.get("embed_kills"):
        rows.append(f"| `kill -9` of `assistant embed` (the seeds' e5 vectors) at {len(e)} moments ({e[0]['kill_at_s']:g}–"
                    f"{e[-1]['kill_at_s']:g} s; {sum(not r['finished_before_kill'] for r in e)} while it ran), then "
                    f"`assistant embed` again, and the English question answered | {sum(r['ok'] for r in e)} / {len(e)} |")
    if p := result.get("pairs"):
        rows.append(f"| two `assistant ingest` of the same file at once (the second told to wait: exit 3) | "
                    f"{sum(r['ok'] for r in p)} / {len(p)} |")
    if load := result.get("load"):
        rows.append(f"| {load['threads']} threads asking while one ingests: asks without an error or a wrong answer | "
                    f"{load['asks'] - load['errors'] - load['wrong']} / {load['asks']} |")
    if d := result.get("disk_full"):
        if "skipped" in d[0]:
            rows.append(f"| a full disk under a serving process: not run ({d[0]['skipped']}) | – |")
        else:
            stops = [r["stopped_in_s"] for r in d if r["stopped_in_s"] is not None]
            rows.append(f"| the disk fills during `POST /v1/ingest` on a served index ({FS_MB} MB tmpfs, "
                        f"{d[0]['free_mb']:g}–{d[-1]['free_mb']:g} MB left free; {sum(r['upload_status'] == 507 for r in d)} "
                        f"uploads told 507, {sum(r['upload_status'] == 200 for r in d)} committed): every read answered "
                        f"({sum(r['reads_ok'] for r in d)} / {sum(r['reads'] for r in d)}, slowest "
                        f"{max(r['slowest_read_s'] for r in d)} s), SIGTERM stops it within 10 s (slowest "
                        f"{max(stops, default=0)} s), no traceback, whole after a restart with no step by hand | "
                        f"{sum(r['ok'] for r in d)} / {len(d)} |")
    if c := result.get("chroma_kills"):
        caught = [r["caught_up_in_s"] for r in c if r["caught_up_in_s"] is not None]
        rows.append(f"| the Chroma server killed (`kill -9`) {c[0]['kill_after_s']:g}–{c[-1]['kill_after_s']:g} s into "
                    f"another process's publish, started again 2 s later: the serving process holds every document "
                    f"the server holds within {CAUGHT_UP_WITHIN_S} s (slowest {max(caught, default=0)} s), and the whole "
                    f"corpus once the writer ran again (the writer itself said it succeeded: "
                    f"{sum(r['writer_exit'] == 0 for r in c)} / {len(c)}) | {sum(r['ok'] for r in c)} / {len(c)} |")
    return rows


if __name__ == "__main__":
    main()
