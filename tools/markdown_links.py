"""Relative links and heading anchors of the Markdown pages, for the link and runbook checks.

The README and the pages under ``docs/`` are read in two places: as the MkDocs site and as
files on GitHub. The two name a heading's anchor slightly differently (MkDocs folds runs of
spaces and hyphens into one hyphen, GitHub keeps each), so a link counts as resolving only when
its anchor exists under both names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Link", "anchors", "github_slug", "headings", "links", "mkdocs_slug"]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ATTR_ID = re.compile(r"\s*\{[^}]*#([\w-]+)[^}]*\}\s*$")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Link:
    """A link as written: the page it is in, its line, and its target split at ``#``."""

    source: Path
    line: int
    path: str
    anchor: str


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines outside fenced code blocks, numbered from 1."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def _plain(heading: str) -> str:
    """A heading's text as rendered: link targets, code marks and emphasis dropped."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return heading.replace("`", "").replace("*", "")


def mkdocs_slug(heading: str) -> str:
    """The anchor Python-Markdown's ``toc`` extension (MkDocs) gives a heading."""
    value = unicodedata.normalize("NFKD", _plain(heading)).encode("ascii", "ignore").decode()
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading when it renders a Markdown file."""
    value = _plain(heading).strip().lower()
    value = re.sub(r"[^\w\- ]", "", value)
    return value.replace(" ", "-")


def headings(text: str) -> list[str]:
    return [m[2] for _, line in _prose_lines(text) if (m := _HEADING.match(line))]


def anchors(text: str) -> tuple[set[str], set[str]]:
    """The anchors of a page as (MkDocs, GitHub); an explicit ``{#id}`` counts for MkDocs."""
    site: set[str] = set()
    github: set[str] = set()
    for written in headings(text):
        explicit = _ATTR_ID.search(written)
        heading = written[: explicit.start()] if explicit else written
        site.add(explicit[1] if explicit else mkdocs_slug(heading))
        github.add(github_slug(heading))
    return site, github


def links(page: Path) -> list[Link]:
    """Every relative link of a page (external URLs and code are not links to check).

    Link text may wrap onto the next line, so the page is searched whole, with fenced blocks
    blanked out line for line to keep the line numbers right.
    """
    text = page.read_text(encoding="utf-8")
    prose = dict(_prose_lines(text))
    kept = "\n".join(prose.get(n, "") for n in range(1, len(text.splitlines()) + 1))
    kept = _INLINE_CODE.sub(lambda m: " " * len(m[0]), kept)
    found: list[Link] = []
    for match in _LINK.finditer(kept):
        target = match["target"]
        if _EXTERNAL.match(target) or target.startswith("/"):
            continue
        path, _, anchor = target.partition("#")
        line = kept.count("\n", 0, match.start()) + 1
        found.append(Link(page, line, path, anchor))
    return found
