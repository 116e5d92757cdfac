"""Fault injection for the index (`make chaos`): kill -9 an ingestion, and the e5 vectors' computation, at many
moments; run writers side by side; ask from many threads while one ingests. After each, the index must open, answer
and hold everything once.
Writes a table to evals/reports/chaos.md (and .json)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CANONICAL, EXPECTED = "沁水县2024年处罚金额多少？", "394.179万元"
ENGLISH = "How much were the environmental fines in Qinshui County in 2024?"  # ranked by the e5 vectors


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.app.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=ROOT / "evals" / "crud_news_sample_corpus.jsonl")
    ap.add_argument("--moments", type=str, default="1,2,3,5,7,9,11,13,15,17,19,21,24,27,30")
    ap.add_argument("--embed-moments", type=str, default="1,2,3,4,5,6,8,10,12,15")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "evals" / "reports" / "chaos.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    try:
        seeds, base = work / "seeds", work / "base"
        assert cli("ingest", str(ROOT / "seeds"), "--index-dir", str(seeds)).returncode == 0
        shutil.copytree(seeds, base)
        assert cli("embed", "--index-dir", str(base)).returncode == 0
        total = 2 + sum(1 for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip())
        started = time.perf_counter()
        result = {
            "corpus": args.corpus.name, "corpus_mb": round(args.corpus.stat().st_size / 1e6, 2),
            "kills": kills(base, args.corpus, total, [float(x) for x in args.moments.split(",")], work),
            "embed_kills": embed_kills(seeds, [float(x) for x in args.embed_moments.split(",")], work),
            "pairs": side_by_side(base, args.corpus, total, args.pairs, work),
            "load": readers_under_load(base, args.corpus, work),
        }
        result["seconds"] = round(time.perf_counter() - started, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    k, e, p, load = result["kills"], result["embed_kills"], result["pairs"], result["load"]
    table = "\n".join([
        f"| fault (corpus {result['corpus']}, {result['corpus_mb']} MB, after the two seed pages) | survived / tried |",
        "| --- | --- |",
        f"| `kill -9` during ingestion at {len(k)} moments ({k[0]['kill_at_s']:g}–{k[-1]['kill_at_s']:g} s; "
        f"{sum(not r['finished_before_kill'] for r in k)} while it ran), then the same ingest again | "
        f"{sum(r['ok'] for r in k)} / {len(k)} |",
        f"| `kill -9` of `assistant embed` (the seeds' e5 vectors) at {len(e)} moments ({e[0]['kill_at_s']:g}–"
        f"{e[-1]['kill_at_s']:g} s; {sum(not r['finished_before_kill'] for r in e)} while it ran), then `assistant embed` "
        f"again, and the English question answered | {sum(r['ok'] for r in e)} / {len(e)} |",
        f"| two `assistant ingest` of the same file at once (the second told to wait: exit 3) | "
        f"{sum(r['ok'] for r in p)} / {len(p)} |",
        f"| {load['threads']} threads asking while one ingests: asks without an error or a wrong answer | "
        f"{load['asks'] - load['errors'] - load['wrong']} / {load['asks']} |",
    ])
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
