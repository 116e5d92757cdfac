"""Schema fuzzing of the HTTP API (scripts/fuzz_api.py, schemathesis): requests generated from the server's own
OpenAPI schema, valid and invalid, against a real server; none may answer 500 or above, every error must come in
the API's error shape, and the server's log must hold no traceback. `make fuzz` runs it with more examples."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT
from .test_ui import _free_port

pytestmark = pytest.mark.slow


def test_generated_requests_never_crash_the_api_or_leave_its_error_shape(tmp_path):
    out = tmp_path / "fuzz.json"
    done = subprocess.run([sys.executable, "scripts/fuzz_api.py", "--examples", "25", "--port", str(_free_port()),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    result = json.loads(out.read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["requests"] >= 200 and result["server_errors"] == 0 and not result["problems"]
    assert result["tracebacks_in_log"] == 0
