"""Runs the README's Python example as written, against the test relay."""

import asyncio
import contextlib
import io
import re

from conftest import REPO


def example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python: `bindings/python/`", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Python section has one example"
    return blocks[0]


def test_readme_example_runs(relay, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example makes alice.db and bob.db where it runs
    scope = {}
    exec(compile(example(), "README.md", "exec"), scope)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        asyncio.run(scope["main"](relay))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert re.fullmatch(r"[0-9 ]+", lines[0]) and len(lines[0].replace(" ", "")) == 60
    assert lines[1] == "EventType.MESSAGE alice Hi Bob"
    assert lines[2] == "unknown contact 'zed'"
