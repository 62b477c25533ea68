"""Templates for the generic HTTP platform: ``/contacts/{ref.contact_id}/data?seg={channel}``.

A template is parsed once, when the tenants file loads, into literal text and placeholders, so
every mistake in it is reported with the character it starts at (``enricher check-config``
turns that into a line and column) instead of surfacing as a stream of refused calls.

Placeholders name the interaction's ids, never its merged fields: the fields travel in the body,
the ids say where they go. Values are filled in only after the scheme and host, which come from
``base_url`` and no template can name, and every value is percent-encoded whole (``/``, ``?``,
``#``, ``@``, ``%``), so nothing an event carries can move a call to another host or path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "PLACEHOLDERS",
    "Placeholder",
    "Template",
    "TemplateProblem",
    "UnfilledPlaceholder",
    "parse_template",
    "parse_url_template",
]

PLACEHOLDERS = (
    "tenant",
    "interaction_id",
    "revision",
    "idempotency_key",
    "channel",
    "status",
    "ref.<id>",
)
"""What a placeholder may name; ``ref.<id>`` is any id under the event's ``ref``."""

_FIXED = frozenset(name for name in PLACEHOLDERS if not name.startswith("ref."))
_REF_ID = re.compile(r"^ref\.[A-Za-z_][A-Za-z0-9_]{0,63}$")
_URL_LITERAL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")
"""RFC 3986 path and query characters; ``#`` is not among them, a fragment is never sent."""


@dataclass(frozen=True, slots=True)
class TemplateProblem(Exception):
    """One mistake in a template, at ``offset`` characters from its start."""

    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.message} (character {self.offset + 1})"


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    offset: int
    in_query: bool = False


@dataclass(frozen=True, slots=True)
class UnfilledPlaceholder:
    """A placeholder the delivery has no usable value for: the change cannot be addressed."""

    name: str
    why: str
    reason: str = "missing_routing"
    """The outcome's reason: no value at all, or one that cannot stand where it goes."""


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(part for part in self.parts if isinstance(part, Placeholder))

    def render(
        self, values: Mapping[str, str | None], encode: Callable[[str], str] = str
    ) -> str | UnfilledPlaceholder:
        """The text with every placeholder filled by ``encode(value)``."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.name)
            if value is None:
                return UnfilledPlaceholder(part.name, "the interaction has no value for it")
            out.append(encode(value))
        return "".join(out)

    def render_url(self, values: Mapping[str, str | None]) -> str | UnfilledPlaceholder:
        """The path and query, each value percent-encoded whole. A value that would be read as
        a path step (empty, ``.`` or ``..``, which clients and servers fold away) is refused."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.name)
            if value is None:
                return UnfilledPlaceholder(part.name, "the interaction has no value for it")
            if not part.in_query and value in ("", ".", ".."):
                return UnfilledPlaceholder(
                    part.name, f"{value!r} cannot stand in a path", "invalid_routing"
                )
            out.append(quote(value, safe=""))
        return "".join(out)


def parse_template(source: str) -> Template:
    """Literal text and ``{placeholders}``; ``{{`` and ``}}`` stand for braces.

    Raises :class:`TemplateProblem` at the first mistake.
    """
    return Template(source, tuple(_parts(source, url=False)))


def parse_url_template(source: str) -> Template:
    """A path and optional query after ``base_url``: starts with ``/``, has no fragment, no
    spaces, and only the characters a URL carries as they are."""
    if not source.startswith("/"):
        raise TemplateProblem(0, "the path must start with '/'")
    if source.startswith("//"):
        raise TemplateProblem(0, "the path must not start with '//' (a host would follow)")
    return Template(source, tuple(_parts(source, url=True)))


def _parts(source: str, *, url: bool) -> list[str | Placeholder]:
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    in_query = False
    index = 0
    while index < len(source):
        char = source[index]
        pair = source[index : index + 2]
        if pair in ("{{", "}}"):
            if url:
                raise TemplateProblem(index, f"{char!r} cannot stand in a URL")
            literal.append(char)
            index += 2
            continue
        if char == "}":
            raise TemplateProblem(index, "'}' closes no placeholder (write '}}' for a brace)")
        if char == "{":
            end = source.find("}", index + 1)
            if end < 0:
                raise TemplateProblem(index, "'{' opens a placeholder that is never closed")
            name = source[index + 1 : end].strip()
            _check_name(name, index)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Placeholder(name, index, in_query))
            index = end + 1
            continue
        if url:
            if char == "#":
                raise TemplateProblem(index, "a URL fragment ('#') is never sent to a server")
            if not _URL_LITERAL.fullmatch(char):
                raise TemplateProblem(
                    index, f"{char!r} cannot stand in a URL as it is; percent-encode it"
                )
            if char == "?":
                in_query = True
        literal.append(char)
        index += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _check_name(name: str, offset: int) -> None:
    if not name:
        raise TemplateProblem(offset, "empty placeholder '{}'")
    if "{" in name:
        raise TemplateProblem(offset, "'{' opens a placeholder that is never closed")
    if name in _FIXED or _REF_ID.fullmatch(name):
        return
    hint = ""
    if _REF_ID.fullmatch(f"ref.{name}"):
        hint = f" (an id under the event's ref is {{ref.{name}}}; merged fields go in the body)"
    raise TemplateProblem(
        offset,
        f"unknown placeholder {{{name}}}; a placeholder is one of "
        f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}{hint}",
    )
