"""Schema fuzzing of the HTTP API (`make fuzz`): schemathesis generates requests from the server's own OpenAPI
schema, valid and invalid, against a real `assistant serve` on a copy of the seeds; every reply must be below 500 and
every error must come in the API's {"error": {…}} shape. Writes evals/reports/fuzz_api.md (and .json)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from served import serve  # noqa: E402

# Operations that only change the index: generated uploads and deletions would fill the report with 4xx about
# made-up files and ids (they are fuzzed all the same; the seeds are re-ingested after the run).
SLOW_OPERATIONS = ("POST /v1/ingest",)


def shape_problem(response) -> str:
    """'' when a reply is below 500 and, if an error, in the API's shape; else what is wrong."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    if response.status_code < 400:
        return ""
    try:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"] and isinstance(error["code"], str)
    except Exception:  # noqa: BLE001 - any way of not being the shape
        return f"{response.status_code} outside the error shape: {response.text[:200]}"
    return ""


def fuzz(url: str, examples: int, seed: int = 0) -> dict:
    """Every operation of the schema, `examples` valid and `examples` invalid requests each (fewer where the schema
    admits fewer); the statuses seen and every problem found."""
    import schemathesis
    from hypothesis import HealthCheck, given, seed as hseed, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    statuses: Counter = Counter()
    problems: list[dict] = []  # the first 50, as examples
    outside = 0  # error replies outside the error shape, all of them
    per_operation: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            sent = 0

            @hseed(seed)
            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(operation.as_strategy(generation_mode=mode))
            def run(case):
                nonlocal sent, outside
                response = case.call(base_url=url, timeout=120)
                sent += 1
                statuses[response.status_code] += 1
                problem = shape_problem(response)
                outside += "outside the error shape" in problem
                if problem and len(problems) < 50:
                    problems.append({"operation": label, "mode": mode.value, "problem": problem,
                                     "request": f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}"})

            try:
                run()
            except Unsatisfiable:  # an operation without parameters has no invalid form to send
                pass
            except Exception as exc:  # noqa: BLE001 - a schema this generator cannot fill counts as a problem
                problems.append({"operation": label, "mode": mode.value, "problem": f"generator: {type(exc).__name__}: {exc}"[:300]})
            per_operation[f"{label} ({mode.value})"] = sent
    return {"requests": sum(statuses.values()), "statuses": dict(sorted(statuses.items())),
            "server_errors": sum(n for s, n in statuses.items() if s >= 500), "outside_shape": outside,
            "generator_problems": sum(1 for p in problems if p["problem"].startswith("generator")), "problems": problems,
            "per_operation": per_operation}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=300, help="requests generated per operation and mode (300: about 2,700 in all)")
    ap.add_argument("--port", type=int, default=7871)
    ap.add_argument("--out", type=Path, default=ROOT / "evals" / "reports" / "fuzz_api.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        index_dir = work / "index"
        done = subprocess.run([sys.executable, "-m", "assistant.app.cli", "ingest", str(ROOT / "seeds"), "--index-dir",
                               str(index_dir)], cwd=ROOT, env={**os.environ, "ASSISTANT_EMBEDDING": "none"},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        log = work / "server.log"
        proc = serve(index_dir, args.port, log, {"ASSISTANT_EMBEDDING": "none"})
        started = time.perf_counter()
        try:
            result = fuzz(f"http://127.0.0.1:{args.port}", args.examples)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["tracebacks_in_log"] = log.read_text(encoding="utf-8", errors="replace").count("Traceback")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    table = "\n".join([
        "| schema fuzzing of the HTTP API (schemathesis, valid and invalid requests) | figure |",
        "| --- | --- |",
        f"| requests sent | {result['requests']:,} |",
        f"| statuses | {', '.join(f'{s}: {n}' for s, n in result['statuses'].items())} |",
        f"| replies with status 500 or above | {result['server_errors']} |",
        f"| error replies outside the error shape | {result['outside_shape']} |",
        f"| operations the generator could not fill | {result['generator_problems']} |",
        f"| tracebacks in the server's log | {result['tracebacks_in_log']} |",
        f"| seconds | {result['seconds']} |",
    ])
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)
    for p in result["problems"][:10]:
        print(p, file=sys.stderr)
    sys.exit(1 if result["problems"] or result["tracebacks_in_log"] else 0)


if __name__ == "__main__":
    main()
