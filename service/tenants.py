"""The tenants file (a contract): which platform each tenant writes to, how to reach
it, and which merged fields go there under which names and types.

Secrets are never written in the file: ``${NAME}`` takes an environment variable and
``${file:/path}`` the contents of a file (a mounted Kubernetes Secret). A literal value in a
secret setting is an error, so a secret committed to a ConfigMap is caught by
``enricher check-config`` instead of in an audit. Every error carries its file location.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from service.durations import Duration
from service.platforms.registry import PlatformId, PlatformPluginError, specs
from service.platforms.spec import PlatformSettings
from service.tenant_fields import FieldMapping, RequestWindow, StrictModel

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DeliveryPolicy",
    "FieldMapping",
    "Limits",
    "RequestWindow",
    "Tenant",
    "TenantsConfig",
    "load_tenants",
    "parse_tenants",
]

_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Limits(StrictModel):
    rate_per_second: float = Field(default=20.0, gt=0)
    """Hard cap on the lane's calls per second (a token bucket); never above the platform's
    documented limit."""
    max_concurrency: int = Field(default=32, ge=1, le=4096)
    """Ceiling of the lane's adaptive concurrency limit."""


class DeliveryPolicy(StrictModel):
    """When and how hard to try; defaults suit a vendor with a few seconds of bad weather."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    """Calls per change in process, with full-jitter backoff, before it is parked in the
    next retry tier."""
    timeout: Duration = timedelta(seconds=10)
    """Time limit of one vendor call, after which it counts as a ``timeout``."""


TenantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Tenant(StrictModel):
    """One tenant: its platform, that platform's block under the platform's id (validated by
    the platform's own settings model), its lane and its field mapping."""

    platform: PlatformId
    """The platform this tenant writes to; its block (same name) must be present."""
    limits: Limits = Limits()
    """The lane's rate cap and concurrency ceiling."""
    delivery: DeliveryPolicy = DeliveryPolicy()
    """In-process attempts and the per-call timeout."""
    retention: Duration = timedelta(days=7)
    """How long a ledger entry lives after its last change."""
    fields: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], FieldMapping]
    """Platform field name to merged field; unmapped fields are never sent."""

    _settings: PlatformSettings = PrivateAttr()

    @field_validator("fields")
    @classmethod
    def _at_least_one_field(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        if not value:
            raise ValueError("map at least one field; unmapped fields are never sent")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _with_platform_block(cls, data: Any, handler: ModelWrapValidatorHandler[Tenant]) -> Tenant:
        """The block under the platform's id is validated by that platform's settings model,
        its errors located under the block's key; every problem is reported at once."""
        if not isinstance(data, Mapping):
            return handler(data)
        known = specs()
        rest = {key: value for key, value in data.items() if key not in known}
        # A block left empty (``<id>:`` or ``<id>: null``) is no block, as it always was.
        blocks = {key: value for key, value in data.items() if key in known and value is not None}
        errors: list[InitErrorDetails] = []
        validated: dict[str, PlatformSettings] = {}
        for key, block in blocks.items():
            try:
                validated[key] = known[key].settings.model_validate(block)
            except ValidationError as exc:
                errors.extend(_relocated(exc, (key,)))
        tenant: Tenant | None = None
        try:
            tenant = handler(rest)
        except ValidationError as exc:
            errors.extend(_relocated(exc, ()))
        if tenant is not None:
            platform = tenant.platform
            others = [key for key in blocks if key != platform]
            if platform not in blocks:
                errors.append(
                    _problem(f"platform is {platform} but the '{platform}' block is missing")
                )
            elif others:
                errors.append(
                    _problem(f"platform is {platform}; remove the block(s) for {', '.join(others)}")
                )
            elif platform in validated:
                tenant._settings = validated[platform]
                # The first one: a platform's rules often say the same of every field.
                errors.extend(_problem(p) for p in tenant.field_problems()[:1])
        if errors or tenant is None:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return tenant

    @property
    def settings(self) -> PlatformSettings:
        """The block of the tenant's platform, as its platform's settings model."""
        return self._settings

    def field_problems(self) -> list[str]:
        """Field names and flags the platform would refuse: caught at load (and by
        ``check-config``) rather than as a stream of rejected calls."""
        return self.settings.field_problems(self.fields)

    def private_sources(self) -> frozenset[str]:
        """Merged fields whose values must never be logged or dead-lettered in clear."""
        return frozenset(rule.source for rule in self.fields.values() if rule.privacy)

    def secret_values(self) -> list[str]:
        return self.settings.secret_values()


def _problem(message: str) -> InitErrorDetails:
    """A problem of the tenant as a whole, reported at the tenant."""
    return {"type": PydanticCustomError("value_error", message), "loc": (), "input": None}


def _relocated(exc: ValidationError, prefix: tuple[str, ...]) -> list[InitErrorDetails]:
    """``exc``'s errors under ``prefix``, each keeping its type (which ``_message`` reads),
    its message, and the offset of an error inside its value (a template's mistake), which
    the loader turns into a column."""
    return [
        {
            "type": PydanticCustomError(error["type"], error["msg"], _offset_context(error)),
            "loc": (*prefix, *error["loc"]),
            "input": error.get("input"),
        }
        for error in exc.errors(include_url=False)
    ]


def _offset_context(error: Any) -> dict[str, int] | None:
    offset = (error.get("ctx") or {}).get("offset")
    return {"offset": offset} if isinstance(offset, int) else None


class TenantsConfig(StrictModel):
    tenants: dict[TenantName, Tenant]
    """Tenant name (as in events and record keys) to its settings."""

    def secret_values(self) -> list[str]:
        """Every resolved secret, so log and DLQ redaction can scrub them wherever they appear."""
        return [s for tenant in self.tenants.values() for s in tenant.secret_values() if s]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def render(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


def load_tenants(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *, resolve: bool = True
) -> TenantsConfig:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            source, [ConfigProblem("", f"cannot read the file: {exc.strerror}")]
        ) from None
    return parse_tenants(text, source=source, environ=environ, resolve=resolve)


def parse_tenants(
    text: str,
    *,
    source: str = "<tenants>",
    environ: Mapping[str, str] | None = None,
    resolve: bool = True,
) -> TenantsConfig:
    """Parse, resolve references and validate; every problem found is reported at once.

    With ``resolve=False`` references are checked for form only, so a file can be validated
    where its secrets do not exist (a CI job, a laptop).
    """
    env = os.environ if environ is None else environ
    try:
        specs()
    except PlatformPluginError as exc:
        raise ConfigError(source, [ConfigProblem("", str(exc))]) from None
    try:
        raw = _load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = ConfigProblem(
            "",
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        )
        raise ConfigError(source, [problem]) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            source, [ConfigProblem("", "the file must hold a mapping with 'tenants:'")]
        )
    problems: list[ConfigProblem] = []

    @functools.cache
    def document() -> yaml.Node | None:
        """The node tree, for locating problems: composed only when there is one to locate."""
        return yaml.compose(text, Loader=yaml.SafeLoader)

    def locate(path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
        node = _node_at(document(), path)
        return (node.start_mark.line + 1, node.start_mark.column + 1) if node else (None, None)

    stand_ins: dict[tuple[str | int, ...], int] = {}
    referenced: set[tuple[str | int, ...]] = set()
    resolved = _resolve_references(
        raw, env, problems, locate, resolve=resolve, stand_ins=stand_ins, referenced=referenced
    )
    problems.extend(_literal_secrets(raw, locate))
    errors: list[Any] = []
    for _ in _STAND_INS:
        try:
            config: TenantsConfig | None = TenantsConfig.model_validate(resolved)
            errors = []
        except ValidationError as exc:
            config, errors = None, exc.errors(include_url=False)
        # Unresolved, a reference stands for a value the file cannot show: where the stand-in
        # does not fit the setting (a URL), the next one is tried rather than a problem made
        # up about a value nobody wrote.
        misfits = [
            path
            for path in (_raw_path(raw, tuple(e["loc"])) for e in errors)
            if path in referenced and stand_ins.get(path, 0) + 1 < len(_STAND_INS)
        ]
        if not misfits:
            break
        for path in misfits:
            stand_ins[path] = stand_ins.get(path, 0) + 1
        resolved = _resolve_references(
            raw, env, [], locate, resolve=resolve, stand_ins=stand_ins, referenced=referenced
        )
    if errors:
        for error in errors:
            loc = tuple(error["loc"])
            if _block_of_unknown_platform(raw, loc, error["type"]):
                continue  # the platform's own error says it all
            line, column = locate(loc)
            offset = (error.get("ctx") or {}).get("offset")
            if isinstance(offset, int):
                line, column = _within_scalar(_node_at(document(), loc), offset) or (line, column)
            problems.append(
                ConfigProblem(".".join(str(p) for p in loc), _message(error), line, column)
            )
    if problems or config is None:
        raise ConfigError(source, sorted(problems, key=lambda p: (p.line or 0, p.path)))
    return config


_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(text: str) -> Any:
    """libyaml when PyYAML has it: a file of thousands of tenants is read in a fraction of the
    time and memory. A file it refuses is read again in Python, whose messages are the ones
    the documentation shows."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return yaml.safe_load(text)


def _block_of_unknown_platform(raw: Any, loc: tuple[Any, ...], kind: str) -> bool:
    """The block named like a tenant's platform when that platform is not installed: it is
    "unknown" only because its platform is, which the platform's own error already says."""
    if kind != "extra_forbidden" or len(loc) != 3 or loc[0] != "tenants":
        return False
    tenant = raw.get("tenants", {}).get(loc[1]) if isinstance(raw.get("tenants"), dict) else None
    return isinstance(tenant, dict) and tenant.get("platform") == loc[2] and loc[2] not in specs()


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    if error["type"] == "missing":
        return "required setting is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _walk(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


_STAND_INS = ("unresolved-reference", "https://unresolved-reference.invalid", "0")
"""What an unresolved reference that is a whole value stands for, tried in turn until the
setting takes one (text, a URL, a number)."""


def _raw_path(raw: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """``loc`` of a validation error as a path in the file: the parts pydantic adds (the tag
    of a union member) are not keys there."""
    path: list[str | int] = []
    node = raw
    for part in loc:
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_mapping or in_list:
            node = node[part]
            path.append(part)
    return tuple(path)


def _resolve_references(
    raw: Any,
    env: Mapping[str, str],
    problems: list[ConfigProblem],
    locate: Callable[[tuple[str | int, ...]], tuple[int | None, int | None]],
    *,
    resolve: bool,
    stand_ins: Mapping[tuple[str | int, ...], int] | None = None,
    referenced: set[tuple[str | int, ...]] | None = None,
) -> Any:
    """Every reference replaced by its value; with ``resolve=False`` by a stand-in (the one
    ``stand_ins`` picks for a value that is one reference), and each such value's path added
    to ``referenced``."""

    def walk(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _REFERENCE.fullmatch(value.strip()) is not None
        if not resolve and whole and referenced is not None:
            referenced.add(path)

        def substitute(match: re.Match[str]) -> str:
            try:
                if not resolve:
                    _check_reference_form(match.group(1))
                    if whole:
                        return _STAND_INS[(stand_ins or {}).get(path, 0)]
                    return "unresolved-reference"
                return _dereference(match.group(1), env)
            except LookupError as exc:
                line, column = locate(path)
                problems.append(
                    ConfigProblem(".".join(str(p) for p in path), str(exc.args[0]), line, column)
                )
                return ""

        return _REFERENCE.sub(substitute, value)

    return walk(raw, ())


def _check_reference_form(reference: str) -> None:
    if not reference.startswith("file:") and not _ENV_NAME.match(reference):
        raise LookupError(
            f"'${{{reference}}}' is not a reference; use ${{NAME}} or ${{file:/path}}"
        )


def _dereference(reference: str, env: Mapping[str, str]) -> str:
    _check_reference_form(reference)
    if reference.startswith("file:"):
        file_path = reference.removeprefix("file:")
        try:
            return Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise LookupError(f"secret file {file_path!r} cannot be read: {exc.strerror}") from None
    if not _ENV_NAME.match(reference):
        raise LookupError(
            f"'${{{reference}}}' is not a reference; use ${{NAME}} or ${{file:/path}}"
        )
    if reference not in env:
        raise LookupError(f"environment variable {reference} is not set")
    return env[reference]


def _literal_secrets(
    raw: dict[str, Any],
    locate: Callable[[tuple[str | int, ...]], tuple[int | None, int | None]],
) -> list[ConfigProblem]:
    problems = []
    known = specs()
    for path, value in _walk(raw):
        if (
            len(path) >= 4
            and path[0] == "tenants"
            and str(path[2]) in known
            and names_a_secret(path[3:], known[str(path[2])].settings.SECRETS)
            and isinstance(value, str)
            and not _REFERENCE.fullmatch(value.strip())
        ):
            line, column = locate(path)
            problems.append(
                ConfigProblem(
                    ".".join(str(p) for p in path),
                    "secrets must be references such as ${ACME_CLIENT_SECRET} or "
                    "${file:/var/run/secrets/acme/client-secret}, never literal values",
                    line,
                    column,
                )
            )
    return problems


def names_a_secret(setting: tuple[str | int, ...], secrets: tuple[str, ...]) -> bool:
    """Whether ``setting`` (a path inside a platform block) is one of a block's ``SECRETS``:
    a name (``password``), a dotted path (``auth.password``), or a dotted path ending in ``*``
    for every key of a mapping (``secret_headers.*``)."""
    dotted = ".".join(str(part) for part in setting)
    for secret in secrets:
        if secret.endswith(".*"):
            prefix = secret.removesuffix("*")
            if dotted.startswith(prefix) and len(setting) == secret.count(".") + 1:
                return True
        elif dotted == secret:
            return True
    return False


def _within_scalar(node: yaml.Node | None, offset: int) -> tuple[int, int] | None:
    """The line and column of the character ``offset`` into a one-line scalar, for an error a
    setting reports inside its value (a template's placeholder); None when the file's text
    and the value do not line up (a folded or multi-line scalar, an escape, a reference)."""
    if not isinstance(node, yaml.ScalarNode) or node.start_mark.line != node.end_mark.line:
        return None
    quote = {None: 0, "'": 1, '"': 1}.get(node.style)
    span = node.end_mark.column - node.start_mark.column
    if quote is None or "${" in node.value or span != len(node.value) + 2 * quote:
        return None
    return node.start_mark.line + 1, node.start_mark.column + 1 + quote + offset


def _node_at(node: yaml.Node | None, path: tuple[str | int, ...]) -> yaml.Node | None:
    """The YAML node at ``path`` (or its nearest existing ancestor), for line numbers."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
            if child is None:
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                return key or node
            node = child
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return node
    return node
