"""The README and docs name only what exists: files, modules and their functions, `course` commands and their flags.

A page that names a file that moved, a module that was renamed or a flag that was dropped fails here, not in a
reader's terminal.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest
from conftest import ROOT

from course_utils.cli import build_parser

PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("course_utils/", "scripts/", "benchmarks/", "tests/", "docs/", "solutions/", "labs/", ".ci/")
SEARCHED = ("course_utils", "scripts", "benchmarks", "tests", ".ci")  # where a bare file name is looked for
# Flags of the other tools the docs show beside ours: torchrun's and accelerate's launchers, Slurm's sbatch.
OTHER_TOOLS_FLAGS = {"--nproc_per_node", "--config_file", "--num_processes", "--cpu", "--partition"}


def code_spans(text: str) -> list[str]:
    """What the page shows as code: `inline spans` and the lines of fenced blocks."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S))
    return inline + [line for block in fenced for line in block.splitlines()]


def named_paths(text: str) -> set[str]:
    """Repository paths a page names in code: under a top-level folder, or a bare Python file (no placeholders)."""
    paths = set()
    for span in code_spans(text):
        for token in re.findall(r"[\w./-]+", span):
            token = token.rstrip(".,:")
            if "<" in token or "{" in token:
                continue
            if token.startswith(TOP) or (token.endswith(".py") and "/" not in token):
                paths.add(token)
    return paths


def exists(path: str) -> bool:
    if "/" in path or (ROOT / path).exists():
        return (ROOT / path).exists()
    return any(any((ROOT / folder).rglob(path)) for folder in SEARCHED)


def dotted_names(text: str) -> set[str]:
    return {name.rstrip(".") for span in code_spans(text) for name in re.findall(r"course_utils(?:\.\w+)+", span)}


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or an attribute of the longest module that prefixes it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def our_flags() -> set[str]:
    """Every option of the `course` command and its subcommands, and of the benchmark and script command lines."""
    flags = set()
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:  # argparse keeps no public list of a parser's options
            flags |= {option for option in action.option_strings if option.startswith("--")}
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
    for script in [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        flags |= set(re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", script.read_text()))
    return flags


def course_commands() -> set[str]:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return set(subparsers.choices)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_file_a_page_names_exists(page: Path) -> None:
    text = page.read_text()
    assert [path for path in sorted(named_paths(text)) if not exists(path)] == []
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert [link for link in links if not link.startswith("http") and not (page.parent / link).exists()] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_module_and_function_a_page_names_imports(page: Path) -> None:
    assert [name for name in sorted(dotted_names(page.read_text())) if not resolves(name)] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_course_command_and_flag_a_page_names_exists(page: Path) -> None:
    text = page.read_text()
    command_lines = [span for span in code_spans(text) if re.match(r"\s*(\.venv/bin/)?course \w", span)]
    commands = {re.match(r"\s*(?:\.venv/bin/)?course (\w+)", line).group(1) for line in command_lines}
    assert commands - course_commands() == set()
    flags = {flag for span in code_spans(text) for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", span)}
    assert flags - our_flags() - OTHER_TOOLS_FLAGS == set()


def test_the_checks_see_a_missing_file_module_and_flag() -> None:
    page = "Run `scripts/no_such.py` and `course_utils.notebook.checks.no_such`, then `course grade --no-such-flag`."
    assert [path for path in named_paths(page) if not exists(path)] == ["scripts/no_such.py"]
    assert [name for name in dotted_names(page) if not resolves(name)] == ["course_utils.notebook.checks.no_such"]
    assert "--no-such-flag" not in our_flags() and "--disk-mb" in our_flags()
    assert {"grade", "train", "release", "demo"} <= course_commands() and "nosuch" not in course_commands()


def test_the_benchmark_results_in_the_docs_are_those_the_benchmarks_saved() -> None:
    spec = importlib.util.spec_from_file_location("results", ROOT / "benchmarks" / "results.py")
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    section = results.generated_section((ROOT / "docs" / "benchmarks.md").read_text())
    assert section == results.render(), "docs/benchmarks.md is out of date: run python benchmarks/results.py"
