"""Every command in README.md and docs/ runs: each document's shell blocks, in its order.

A document's commands run one after another in a fresh folder of their own (a run writes
``runs/dk``, a later command reads it), through ``bash`` with the test's virtualenv first on
``PATH``, as in a shell after the README's install command. The folder holds links to the
repository's ``src`` and ``benchmarks`` (the commands name them from a checkout's root) and the
reader's own files that a document takes as given (``FIXTURES``). Long commands run at a
reduced scale by the explicit rewrites of ``REDUCED``; what cannot run here is listed, with
why, in ``EXCEPTIONS``. A command is expected to exit 0 unless ``EXPECTED_STATUS`` says
otherwise (a documented error message).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"", "bash", "console", "sh", "shell"}
COMMAND = re.compile(r"(streetlevel|python3?|pip|dask|duckdb|cd|\.venv/bin/\S+)( |$)")
"""How a command line starts; other lines of a block are output or comments."""
SMALL = 0.02
"""The client scale of the reduced Danish scenarios: a country of about 2,500 clients."""

EXCEPTIONS: dict[str, str] = {
    "python3 -m venv .venv && .venv/bin/pip install -e . &&": (
        "creates a virtualenv and installs from the package index: CI's own set-up does that; "
        "its last step, `streetlevel run denmark-2011`, runs below"
    ),
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' &&": (
        "installs, then runs the whole test suite, this test included"
    ),
    "pip install": "installs an extra from the package index; CI installs the extras",
    "streetlevel sweep my-experiment.toml --scheduler tcp://": (
        "a remote Dask scheduler, which CI does not have; the local cluster (--workers) is run"
    ),
    "streetlevel sweep my-experiment.toml --out runs/exp --scheduler tcp://": (
        "a remote Dask scheduler, which CI does not have; the local cluster (--workers) is run"
    ),
    "dask scheduler": "starts a Dask scheduler that serves until stopped",
    "dask worker tcp://": "joins a remote Dask scheduler, which CI does not have",
    "cd runs/exp && duckdb": "DuckDB's own interactive command line, not part of streetlevel",
    "duckdb ": "DuckDB's own command line, not part of streetlevel (its Python package is)",
    "streetlevel dashboard": (
        "serves until stopped; tests/test_dashboard*.py start it and request its pages"
    ),
    "python benchmarks/run.py": (
        "the performance benchmark itself (minutes at its smallest); the peer it times runs "
        "below at a reduced scale"
    ),
    "streetlevel calibrate norway-2010": (
        "indirect inference on DK's survey has no option that shrinks it (one to two minutes); "
        "tests/test_calibration.py::test_calibrate_norway_uses_indirect_inference runs it"
    ),
    "streetlevel sweep EXPERIMENT.toml [": "a synopsis of the syntax, not a command",
    "streetlevel compare DIR [": "a synopsis of the syntax, not a command",
    "streetlevel sensitivity DIR [": "a synopsis of the syntax, not a command",
    "streetlevel funnel FILE ": "a synopsis of the syntax, not a command",
}
"""Commands (by how they start) that are not run here, and why."""

REDUCED: list[tuple[str, str, str]] = [
    (
        r"--replications (\d{2,})",
        "--replications 2",
        "fewer replications: two give every interval and every figure a spread",
    ),
    (
        r"(?<=[ '\"])(denmark-2011|denmark-2014|denmark-2006-2014)(?= |$)",
        r"\1-small.toml",
        f"a Danish preset as a file over it at client scale {SMALL}: same name, same code",
    ),
    (
        r"--budget \d+",
        "--budget 48",
        "the smallest budget for the Danish set-up's 7 parameters (a round and a design)",
    ),
    (
        r"streetlevel calibrate (?!.*--budget)(.*)",
        r"streetlevel calibrate \1 --budget 48",
        "the smallest search budget where the documented command uses the default (200)",
    ),
    (
        r"streetlevel validate (?!.*--parameter-draws)(.*)",
        r"streetlevel validate \1 --parameter-draws 2",
        "two parameter draws (the default, 20, runs 40 more simulations)",
    ),
    (
        r"streetlevel calibrate (.*)",
        r"streetlevel calibrate \1 --replications 1",
        "one replication per simulated moment (the default is 4)",
    ),
    (r"--n \d{5,}", "--n 2000", "fewer simulated respondents"),
    (
        r"(?<=streetlevel sweep )(overruling-gap|pressure-response|route-norm-pressure)(?= |$)",
        r"\1-small.toml",
        "a shipped experiment (by name): its copy with one replication a point, at a reduced "
        "client scale",
    ),
    (r"--scale 0\.01\b", "--scale 0.002", "the Mesa peer at a fifth of its documented scale"),
]
"""Rewrites of documented long commands (pattern, replacement, why), applied in order."""

REGISTER_BAD = (
    "Municipality A,Syddanmark,2011,match-1,under 30,male,low,false,20,twenty,1,2,unknown"
)
"""A register row whose ``weeks_in_year`` is not a number: the README's "a bad value"."""


def _copy(path: str) -> Callable[[Path], str]:
    return lambda root: (root / "src" / "streetlevel" / path).read_text(encoding="utf-8")


def _bad_register(root: Path) -> str:
    lines = _copy("data/example-decisions.csv")(root).splitlines()
    return "\n".join([lines[0], REGISTER_BAD, *lines[2:]]) + "\n"


def _units(_: Path) -> str:
    rows = [f"office {i},{o},{e}" for i, (o, e) in enumerate([(12, 10.5), (30, 18.2), (7, 9.0)])]
    return "\n".join(["office,o,e", *rows, "office 9,15,14.1"]) + "\n"


def _experiment(_: Path) -> str:
    return """
[experiment]
name = "doc-commands"
scenario = "municipality-a"
seed = 1
replications = 1

[design]
kind = "morris"
samples = 2

[constants]
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[levers]]
name = "route"
key = "municipalities[*].absence_route"
values = ["caseworker", "benefit_office"]

[[levers]]
name = "norm"
key = "municipalities[*].management_strictness"
values = [0.15, 1.0]

[[levers]]
name = "pressure"
key = "pressure.ranking_published"
values = [true, false]

[[uncertainties]]
name = "recompliance"
key = "sanctions.recompliance"
range = [0.2, 0.8]
"""


FIXTURES: dict[str, dict[str, Callable[[Path], str]]] = {
    "README.md": {"my-register.csv": _bad_register, "units.csv": _units},
    "benchmarking.md": {"my-register.csv": _copy("data/example-decisions.csv")},
    "experiments.md": {"my-experiment.toml": _experiment},
    "survey.md": {"my_survey.csv": _copy("data/survey_example.csv")},
    "validation.md": {
        "my.toml": lambda _: (
            f'base = "denmark-2011"\n\n[scale]\nclient_scale = {{ value = {SMALL}, unit = "ratio", '
            'source = "the reader\'s own scenario" }\n'
        ),
        "my-setup.toml": _copy("data/calibration-denmark.toml"),
    },
}
"""The reader's own files a document takes as given, per document (what stands in for them)."""
for _name in ("README.md", "survey.md"):
    FIXTURES[_name]["my_survey.csv"] = _copy("data/survey_example.csv")

EXPECTED_STATUS = {("README.md", "streetlevel benchmark my-register.csv"): 2}
"""Commands documented to fail (an error message naming a row, line and column)."""


@dataclass(frozen=True)
class DocCommand:
    document: str
    line: int
    text: str


def doc_commands(path: Path) -> list[DocCommand]:
    """The shell commands of a document's code blocks, in order, a quoted string or a line
    ending in a backslash joined with the lines it continues to."""
    text = path.read_text(encoding="utf-8")
    found: list[DocCommand] = []
    for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        if block.group(1) not in SHELL_LANGS:
            continue
        first = text[: block.start(2)].count("\n") + 1
        lines = block.group(2).splitlines()
        prompted = any(line.startswith("$ ") for line in lines)
        i = 0
        while i < len(lines):
            line, start = lines[i], i
            i += 1
            if prompted and not line.startswith("$ "):
                continue
            line = line.removeprefix("$ ")
            if not COMMAND.match(line):
                continue
            while i < len(lines) and (line.endswith("\\") or not _complete(line)):
                line = line.removesuffix("\\") + ("\n" if not _complete(line) else "") + lines[i]
                i += 1
            found.append(DocCommand(path.name, first + start, line.strip()))
    return found


def _complete(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def excepted(command: str) -> str | None:
    return next((why for start, why in EXCEPTIONS.items() if command.startswith(start)), None)


def reduced(command: str) -> str:
    """The command as run: ``REDUCED`` applied to it, its trailing comment dropped (an option
    added at the end would otherwise land in the comment)."""
    command = _without_comment(command)
    for pattern, replacement, _ in REDUCED:
        command = re.sub(pattern, replacement, command)
    return command


def _without_comment(command: str) -> str:
    quote = ""
    for i, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip()
    return command


def _small_scenarios(folder: Path) -> None:
    for preset in ("denmark-2011", "denmark-2014", "denmark-2006-2014"):
        (folder / f"{preset}-small.toml").write_text(
            f'base = "{preset}"\n\n[scale]\nclient_scale = {{ value = {SMALL}, unit = "ratio", '
            'source = "tests/test_doc_commands.py: a reduced scale" }\n',
            encoding="utf-8",
        )
    shipped = ROOT / "src" / "streetlevel" / "experiments"
    for experiment in shipped.glob("*.toml"):
        text = re.sub(r"(?m)^replications = \d+", "replications = 1", experiment.read_text("utf-8"))
        scale = f'"scale.client_scale" = {SMALL}'
        if "[constants]" in text:
            text = text.replace("[constants]", f"[constants]\n{scale}")
        else:
            text = text.replace("\n[design]", f"\n[constants]\n{scale}\n\n[design]", 1)
        (folder / f"{experiment.stem}-small.toml").write_text(text, encoding="utf-8")


def run_document(path: Path, folder: Path) -> list[tuple[DocCommand, str, float]]:
    """Run a document's commands in ``folder``; (command, what ran, seconds) of each."""
    for checkout in ("src", "benchmarks"):
        (folder / checkout).symlink_to(ROOT / checkout, target_is_directory=True)
    _small_scenarios(folder)
    for name, content in FIXTURES.get(path.name, {}).items():
        (folder / name).write_text(content(ROOT), encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    ran: list[tuple[DocCommand, str, float]] = []
    for command in doc_commands(path):
        if excepted(command.text):
            continue
        shell = reduced(command.text)
        start = time.perf_counter()
        done = subprocess.run(
            ["bash", "-c", shell], cwd=folder, env=env, capture_output=True, text=True, timeout=300
        )
        seconds = time.perf_counter() - start
        if os.environ.get("DOC_COMMANDS_TIMES"):
            print(f"{seconds:6.1f} s  {path.name}:{command.line}  {shell[:90]!r}", flush=True)
        expected = next(
            (
                s
                for (doc, start_), s in EXPECTED_STATUS.items()
                if doc == path.name and shell.startswith(start_)
            ),
            0,
        )
        assert done.returncode == expected, (
            f"{path.name}:{command.line}: {command.text}\nran: {shell}\n"
            f"exit {done.returncode}, expected {expected}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
        ran.append((command, shell, seconds))
    return ran


def test_commands_are_found_and_every_exception_is_used() -> None:
    commands = [c for path in DOCUMENTS for c in doc_commands(path)]
    assert len(commands) > 60
    multi = [c for c in commands if "\n" in c.text]
    assert multi, "a query over several lines is one command"
    unused = [s for s in EXCEPTIONS if not any(c.text.startswith(s) for c in commands)]
    assert unused == [], f"exceptions that no document has any more: {unused}"
    patterns = [p for p, _, _ in REDUCED if not any(re.search(p, c.text) for c in commands)]
    assert patterns == [], f"reductions that no command needs any more: {patterns}"


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_command_of_the_document_runs(path: Path, tmp_path: Path) -> None:
    run_document(path, tmp_path)


if __name__ == "__main__":  # timings: python tests/test_doc_commands.py [DOCUMENT ...]
    import tempfile

    chosen = [p for p in DOCUMENTS if len(sys.argv) < 2 or p.name in sys.argv[1:]]
    for document in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["DOC_COMMANDS_TIMES"] = "1"
            run_document(document, Path(tmp))
