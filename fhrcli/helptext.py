"""Help text from docstrings: the one place where reStructuredText becomes what a terminal shows.

Subcommands pass their module docstring as the parser's description, and those docstrings are
written for Sphinx (``literal``, :func:`module.function`, ``Example::`` blocks). Every ``fhr``
parser formats its help with :class:`PlainHelpFormatter`, which renders that markup as plain text:

- inline literals and interpreted text lose their backquotes: ````--json OUT```` -> ``--json OUT``;
- roles keep their target's text: ``:func:`pkg.mod.read```` -> ``pkg.mod.read()``, a ``~`` keeps the
  last name only, ``:ref:`title <target>``` keeps the title;
- hyperlinks ```text <url>`_`` become ``text (url)``; ``**strong**`` and ``*emphasis*`` lose their stars;
- a paragraph ending in ``::`` ends in ``:`` and the indented block after it is kept verbatim
  (commands stay copy-pasteable), while prose paragraphs and list items are re-wrapped to the terminal.
"""

from __future__ import annotations

import argparse
import inspect
import re
import textwrap

_ROLE = re.compile(r":(?:[a-z]+:)?([a-z]+):`([^`]+)`")
_LINK = re.compile(r"`([^`<]+?)\s*<([^`>]+)>`__?")
_LITERAL = re.compile(r"``(.+?)``")
_INTERPRETED = re.compile(r"(?<![\w`])`([^`]+)`(?![\w`])")
_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
_CALLABLE_ROLES = frozenset({"func", "meth"})
_BULLET = re.compile(r"^([-*+]|\d+[.)])\s+")


def plain_inline(text: str) -> str:
    """One line or paragraph of reST inline markup as plain text."""
    text = _ROLE.sub(_role_text, text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _LITERAL.sub(lambda m: m.group(1), text)
    text = _INTERPRETED.sub(lambda m: m.group(1), text)
    text = _STRONG.sub(lambda m: m.group(1), text)
    return _EMPHASIS.sub(lambda m: m.group(1), text)


def plain_text(doc: str, width: int = 100, indent: str = "") -> str:
    """A whole docstring as plain text: paragraphs and list items wrapped to ``width``, literal blocks kept."""
    out: list[str] = []
    literal = False  # inside the indented block that follows a paragraph ending in "::"
    for block, gap in _blocks(inspect.cleandoc(doc).splitlines()):
        if literal and block[0][:1].isspace():
            out += [f"{indent}    {line}".rstrip() for line in textwrap.dedent("\n".join(block)).splitlines()]
        else:
            paragraph = " ".join(line.strip() for line in block)
            literal = paragraph.endswith("::")
            if literal:  # "text::" -> "text:", "text ::" -> "text", a lone "::" -> nothing
                paragraph = paragraph[:-3] if paragraph.endswith(" ::") else paragraph[:-1]
                paragraph = "" if paragraph == ":" else paragraph
            out += _wrap(plain_inline(paragraph), width, indent)
        if gap:
            out.append("")
    return "\n".join(out).strip("\n")


class PlainHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with descriptions, epilogs and argument help rendered by :func:`plain_text`."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return plain_text(text, width, indent)

    def _expand_help(self, action: argparse.Action) -> str:
        return plain_inline(super()._expand_help(action))


class PlainHelpParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help is plain text; its subcommand parsers are of the same class."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", PlainHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _role_text(match: re.Match[str]) -> str:
    role, target = match.group(1), match.group(2).strip()
    titled = re.fullmatch(r"(.+?)\s*<(.+)>", target)
    if titled:
        return titled.group(1)
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"{target}()" if role in _CALLABLE_ROLES and not target.endswith(")") else target


def _blocks(lines: list[str]) -> list[tuple[list[str], bool]]:
    """Blank-line separated blocks, a list split into one block per item; each with whether a blank line follows."""
    blocks: list[tuple[list[str], bool]] = []
    current: list[str] = []
    for line in lines:
        new_item = bool(current) and bool(_BULLET.match(line)) and not current[0][:1].isspace()
        if new_item:
            blocks.append((current, False))
            current = [line]
        elif not line.strip():
            if current:
                blocks.append((current, True))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append((current, True))
    return blocks


def _wrap(paragraph: str, width: int, indent: str) -> list[str]:
    bullet = _BULLET.match(paragraph)
    hanging = " " * len(bullet.group(0)) if bullet else ""
    return textwrap.wrap(
        paragraph,
        width=max(width, 20),
        initial_indent=indent,
        subsequent_indent=indent + hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )
