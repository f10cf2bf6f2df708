"""``fhr ... --help`` is plain text: no reStructuredText markup reaches the terminal, and no word of a
subcommand's docstring is lost on the way; the renderer itself, markup by markup."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys

import pytest

from fhrcli.helptext import PlainHelpFormatter, PlainHelpParser, plain_inline, plain_text
from fhrcli.main import SUBCOMMANDS, build_parser

# What must never reach a terminal: inline literals, roles, backquotes, a literal-block "::".
MARKUP = re.compile(r"``|:[a-z]+:`|`|::\s*$", re.MULTILINE)
ROLE_NAME = re.compile(r":[a-z]+:(?=`)")
WORD = re.compile(r"[A-Za-z0-9_]+")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def help_of(command: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    return subcommands()[command].format_help()


def test_every_subcommand_module_is_listed() -> None:
    assert len(subcommands()) == len(SUBCOMMANDS) >= 9


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_subcommand_help_is_plain_text_and_complete(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = subcommands()[command]
    text = help_of(command, monkeypatch)
    assert text.startswith(f"usage: fhr {command} ")
    assert not MARKUP.search(text), MARKUP.search(text)
    description = parser.description or ""
    lost = set(WORD.findall(ROLE_NAME.sub("", description))) - set(WORD.findall(text))
    assert not lost, f"words of the {command} docstring missing from its help: {sorted(lost)}"


def test_top_level_help_lists_every_subcommand_in_plain_text() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fhrcli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "80"},
    )
    assert result.stdout.startswith("usage: fhr ")
    assert not MARKUP.search(result.stdout)
    for command in subcommands():
        assert re.search(rf"^\s+{re.escape(command)}\b", result.stdout, re.MULTILINE), command


def test_estimate_help_names_the_readers_as_callables(monkeypatch: pytest.MonkeyPatch) -> None:
    text = " ".join(help_of("estimate", monkeypatch).split())
    assert "Local files go through handlers.fhr.readers.read_path(); s3:// objects are streamed with" in text
    assert all(len(line) <= 80 for line in help_of("estimate", monkeypatch).splitlines())


def test_powertune_example_stays_a_copy_pasteable_command(monkeypatch: pytest.MonkeyPatch) -> None:
    text = help_of("powertune", monkeypatch)
    assert "(see powertune/README.md):\n\n    bucket=$(jq -r .ecg_bucket out/local.json)" in text  # never a fixed name
    command = re.search(r"^    fhr powertune .*?(?=\n\n)", text, re.MULTILINE | re.DOTALL)
    assert command is not None
    lines = command.group(0).splitlines()
    assert len(lines) == 3 and all(line.endswith(" \\") for line in lines[:-1])
    assert lines[1].startswith("        --payload body.json")


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("``--json OUT`` writes", "--json OUT writes"),
        (":func:`handlers.fhr.readers.read_path`", "handlers.fhr.readers.read_path()"),
        (":meth:`~localcloud.lambda_service.LambdaService.invoke`", "invoke()"),
        (":class:`~fhrapp.config.StackConfig` and :mod:`components`", "StackConfig and components"),
        (":py:func:`json.dumps`", "json.dumps()"),
        (":ref:`the scoring rules <scoring>`", "the scoring rules"),
        ("`uPlot <https://github.com/leeoniya/uPlot>`_ draws", "uPlot (https://github.com/leeoniya/uPlot) draws"),
        ("for `pulumi up`", "for pulumi up"),
        ("**never** *once*", "never once"),
        ("bench_*.py and s3:* and 2*3", "bench_*.py and s3:* and 2*3"),
    ],
)
def test_inline_markup_becomes_plain(markup: str, plain: str) -> None:
    assert plain_inline(markup) == plain


def test_paragraphs_wrap_lists_hang_and_literal_blocks_stay() -> None:
    doc = """Title line with ``code``.

    A long paragraph that the docstring wrapped at its own width and the terminal wraps at another.

    - one item of a list that is long enough to wrap onto a second line
    - another

    Run this::

        fhr local --stack dev \\
            --port 3000

    Tail ::

        kept   as   is
    """
    assert plain_text(doc, width=40).splitlines() == [
        "Title line with code.",
        "",
        "A long paragraph that the docstring",
        "wrapped at its own width and the",
        "terminal wraps at another.",
        "",
        "- one item of a list that is long enough",
        "  to wrap onto a second line",
        "- another",
        "",
        "Run this:",
        "",
        "    fhr local --stack dev \\",
        "        --port 3000",
        "",
        "Tail",
        "",
        "    kept   as   is",
    ]


@pytest.mark.parametrize("module", SUBCOMMANDS)
def test_no_subcommand_overrides_the_plain_formatter(module: str) -> None:
    """A subcommand that sets its own formatter_class would bring reST back to its help."""
    subparsers = PlainHelpParser(prog="fhr").add_subparsers()
    importlib.import_module(module).register(subparsers)
    assert all(p.formatter_class is PlainHelpFormatter for p in subparsers.choices.values())
