"""What a user who pip-installs the package (not an editable checkout) gets: the prompt files and the command."""

import subprocess
import sys
import zipfile

from .conftest import ROOT


def test_the_wheel_ships_the_prompt_files_and_the_command(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
         str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("news_qa_assistant-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for prompt in ("qa.md", "condense.md", "extract_facts.md"):
        assert f"assistant/llm/prompts/{prompt}" in names
    assert "assistant = assistant.app.cli:main" in entry_points
