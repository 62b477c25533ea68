"""The tenants file (DESIGN 9, a contract): which platform each tenant writes to, how to reach
it, and which merged fields go there under which names and types.

Secrets are never written in the file: ``${NAME}`` takes an environment variable and
``${file:/path}`` the contents of a file (a mounted Kubernetes Secret). A literal value in a
secret setting is an error, so a secret committed to a ConfigMap is caught by
``enricher check-config`` instead of in an audit. Every error carries its file location.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from service.durations import Duration

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "FieldMapping",
    "NiceCxoneSettings",
    "Tenant",
    "TenantsConfig",
    "load_tenants",
    "parse_tenants",
]

PLATFORMS = ("nice-cxone",)
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt setting must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


FieldType = Literal["string", "number", "boolean"]


class FieldMapping(_Strict):
    """One platform field: which merged field feeds it and how its value is coerced."""

    source: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(alias="from")
    type: FieldType | None = None


class Limits(_Strict):
    rate_per_second: float = Field(default=20.0, gt=0)
    max_concurrency: int = Field(default=32, ge=1, le=4096)


class DeliveryPolicy(_Strict):
    """When and how hard to try; defaults suit a vendor with a few seconds of bad weather."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    timeout: Duration = timedelta(seconds=10)


class NiceCxoneSettings(_Strict):
    issuer: Annotated[str, StringConstraints(pattern=r"^https?://")]
    client_id: Annotated[str, StringConstraints(min_length=1)]
    client_secret: SecretStr
    access_key_id: SecretStr
    access_key_secret: SecretStr
    level: Literal["contact", "segment"] = "contact"
    api_base_url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = None
    """Skips ``cxone-configuration`` discovery; for a fixed area or a local simulator."""
    not_found_grace: Duration = timedelta(minutes=10)
    """404 within this time after the close is indexing lag, so it is retried."""

    SECRETS: ClassVar[tuple[str, ...]] = ("client_secret", "access_key_secret")


TenantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Tenant(_Strict):
    platform: Literal["nice-cxone"]
    nice_cxone: NiceCxoneSettings | None = Field(default=None, alias="nice-cxone")
    limits: Limits = Limits()
    delivery: DeliveryPolicy = DeliveryPolicy()
    retention: Duration = timedelta(days=7)
    fields: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], FieldMapping]

    @field_validator("fields")
    @classmethod
    def _at_least_one_field(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        if not value:
            raise ValueError("map at least one field; unmapped fields are never sent")
        return value

    @model_validator(mode="after")
    def _platform_block_present(self) -> Tenant:
        if self.platform == "nice-cxone" and self.nice_cxone is None:
            raise ValueError("platform is nice-cxone but the 'nice-cxone' block is missing")
        return self

    def secret_values(self) -> list[str]:
        block = self.nice_cxone
        if block is None:
            return []
        client_secret = block.client_secret.get_secret_value()
        basic = base64.b64encode(f"{block.client_id}:{client_secret}".encode()).decode()
        return [
            client_secret,
            block.access_key_id.get_secret_value(),
            block.access_key_secret.get_secret_value(),
            basic,  # as it travels in the token request's Authorization header
        ]


class TenantsConfig(_Strict):
    tenants: dict[TenantName, Tenant]

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
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
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

    def locate(path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
        node = _node_at(root, path)
        return (node.start_mark.line + 1, node.start_mark.column + 1) if node else (None, None)

    resolved = _resolve_references(raw, env, problems, locate, resolve=resolve)
    problems.extend(_literal_secrets(raw, locate))
    try:
        config = TenantsConfig.model_validate(resolved)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            line, column = locate(loc)
            problems.append(
                ConfigProblem(".".join(str(p) for p in loc), _message(error), line, column)
            )
        config = None
    if problems or config is None:
        raise ConfigError(source, sorted(problems, key=lambda p: (p.line or 0, p.path)))
    return config


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


def _resolve_references(
    raw: Any,
    env: Mapping[str, str],
    problems: list[ConfigProblem],
    locate: Callable[[tuple[str | int, ...]], tuple[int | None, int | None]],
    *,
    resolve: bool,
) -> Any:
    def walk(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            try:
                if not resolve:
                    _check_reference_form(match.group(1))
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
    for path, value in _walk(raw):
        if (
            len(path) == 4
            and path[0] == "tenants"
            and path[2] in PLATFORMS
            and path[3] in NiceCxoneSettings.SECRETS
            and isinstance(value, str)
            and not _REFERENCE.fullmatch(value.strip())
        ):
            line, column = locate(path)
            problems.append(
                ConfigProblem(
                    ".".join(str(p) for p in path),
                    "secrets must be references such as ${ACME_NICE_CLIENT_SECRET} or "
                    "${file:/var/run/secrets/acme/client-secret}, never literal values",
                    line,
                    column,
                )
            )
    return problems


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
