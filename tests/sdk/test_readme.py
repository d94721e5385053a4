"""The README's first steps, as a newcomer takes them: its first command starts the server
(the same arguments, in an empty directory), and its first Python example, pasted verbatim
into an environment holding the key that start printed, prints what the README says it
prints. README and behaviour cannot drift apart unnoticed.

The one liberty is the port: 8080 may be taken on a shared machine, so the server also gets
`--listen 127.0.0.1:0` and the example's `127.0.0.1:8080` becomes the address it listens on.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from harness import REPO, launch

README = REPO / "README.md"
README_ADDRESS = "127.0.0.1:8080"


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks of `language`, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.S | re.M)


def first_command() -> list[str]:
    """The arguments of the README's first command, `cargo run --release -- <arguments>`."""
    line = blocks("sh")[0].splitlines()[0]
    words = shlex.split(line, comments=True)
    assert words[:4] == ["cargo", "run", "--release", "--"], line
    return words[4:]


def test_the_first_command_then_the_first_python_example_prints_success(tmp_path):
    server = launch(tmp_path, [*first_command(), "--listen", "127.0.0.1:0"])
    try:
        printed = "".join(server.printed)
        exports = dict(re.findall(r"^\s*export (\w+)=(\S+)$", printed, re.M))
        assert set(exports) == {
            "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}, printed

        example = blocks("python")[0]
        assert example.count(README_ADDRESS) == 1, example
        example = example.replace(README_ADDRESS, server.endpoint)
        # The README shows the output in a comment after the print.
        expected = re.search(r"^print\(.*\)\s*#\s*(.+)$", example, re.M).group(1)

        run = subprocess.run(
            [sys.executable, "-c", example], env={**os.environ, **exports}, cwd=tmp_path,
            capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == expected.strip()
        assert run.stdout.startswith("SUCCESS ")
    finally:
        server.stop()
