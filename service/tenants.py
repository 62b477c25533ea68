"""The tenants file (a contract): which platform each tenant writes to, how to reach
it, and which merged fields go there under which names and types.

Secrets are never written in the file: ``${NAME}`` takes an environment variable and
``${file:/path}`` the contents of a file (a mounted Kubernetes Secret). A literal value in a
secret setting is an error, so a secret committed to a ConfigMap is caught by
``enricher check-config`` instead of in an audit. Every error carries its file location.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from service.durations import Duration
from service.platforms.base import WriteWindow
from service.platforms.http.settings import HttpSettings
from service.platforms.spec import PlatformSettings
from service.tenant_fields import (
    OPTIONAL_FLAGS,
    FieldMapping,
    HttpUrl,
    RequestWindow,
    StrictModel,
    basic_credential,
)

__all__ = [
    "PLATFORMS",
    "ConfigError",
    "ConfigProblem",
    "EightByEightSettings",
    "FieldMapping",
    "GenesysGwsSettings",
    "NiceCxoneSettings",
    "RequestWindow",
    "SinchContactProSettings",
    "Tenant",
    "TenantsConfig",
    "load_tenants",
    "parse_tenants",
]

PLATFORMS = ("nice-cxone", "sinch-contact-pro", "8x8", "genesys-gws", "http")
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_Strict = StrictModel
_EIGHT_BY_EIGHT_ONLY = OPTIONAL_FLAGS


class Limits(_Strict):
    rate_per_second: float = Field(default=20.0, gt=0)
    """Hard cap on the lane's calls per second (a token bucket); never above the platform's
    documented limit."""
    max_concurrency: int = Field(default=32, ge=1, le=4096)
    """Ceiling of the lane's adaptive concurrency limit."""


class DeliveryPolicy(_Strict):
    """When and how hard to try; defaults suit a vendor with a few seconds of bad weather."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    """Calls per change in process, with full-jitter backoff, before it is parked in the
    next retry tier."""
    timeout: Duration = timedelta(seconds=10)
    """Time limit of one vendor call, after which it counts as a ``timeout``."""


_PlatformBlock = PlatformSettings
_basic = basic_credential


class NiceCxoneSettings(_PlatformBlock):
    issuer: HttpUrl
    """CXone discovery root (``https://cxone.niceincontact.com``)."""
    client_id: Annotated[str, StringConstraints(min_length=1)]
    """The registered application's client id."""
    client_secret: SecretStr
    """The application's client secret; a reference, never a literal."""
    access_key_id: SecretStr
    """The API user's access key id."""
    access_key_secret: SecretStr
    """The API user's access key secret; a reference, never a literal."""
    level: Literal["contact", "segment"] = "contact"
    """Write business data on the contact (every segment) or on one segment."""
    api_base_url: HttpUrl | None = None
    """Skips ``cxone-configuration`` discovery; for a fixed area or a local simulator."""
    not_found_grace: Duration = timedelta(minutes=10)
    """404 within this time after the close is indexing lag, so it is retried."""

    SECRETS: ClassVar[tuple[str, ...]] = ("client_secret", "access_key_secret")

    def secret_values(self) -> list[str]:
        return [
            self.client_secret.get_secret_value(),
            self.access_key_id.get_secret_value(),
            self.access_key_secret.get_secret_value(),
            _basic(self.client_id, self.client_secret),  # the token request's Basic header
        ]


XML_NAME = re.compile(r"^(?![Xx][Mm][Ll])[A-Za-z_][A-Za-z0-9_.-]*$")
"""An XML element name without namespaces: Sinch stores attached data keys as elements."""

SinchChannel = Literal["voice", "chat"]
SINCH_DISCONNECTED = ("WrapUp", "Handled", "Abandoned", "Deleted")


class SinchContactProSettings(_PlatformBlock):
    """Sinch Contact Pro CMI: ``POST {base_url}/RI/cmi/contactData``."""

    base_url: HttpUrl
    """The tenant's Sinch URL, without ``/RI/cmi``."""
    username: Annotated[str, StringConstraints(min_length=1)]
    """A dedicated API user with MANAGE_CONTACTS on the queues it writes for."""
    password: SecretStr
    """The API user's password; a reference, never a literal."""
    api_key: SecretStr | None = None
    """Issued by Sinch to cloud tenants; sent in the ``api_key_header`` header."""
    api_key_header: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "X-Api-Key"
    """The header that carries the API key."""
    extra_data_for_history: dict[SinchChannel, list[str]]
    """The channels' ExtraDataForHistory allow-lists as configured at Sinch (``*`` = any key);
    the platform stores nothing by default, so the file must say what it allows."""
    disconnected_statuses: tuple[str, ...] = SINCH_DISCONNECTED
    """Contact statuses in which Sinch accepts attached data."""
    fields_by_channel: dict[SinchChannel, list[Annotated[str, StringConstraints(min_length=1)]]] = (
        Field(default_factory=dict)
    )
    """Per channel, the mapped fields written on it. Sinch's allow-list is per channel, so a
    tenant may store less on chat than on voice; a channel left out gets every mapped field,
    which keeps files written before this setting meaning what they meant."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password", "api_key")

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), _basic(self.username, self.password)]

    def writes(self, key: str, channel: str) -> bool:
        """Whether the mapped field ``key`` is written on ``channel``."""
        chosen = self.fields_by_channel.get(channel)  # type: ignore[call-overload]
        return chosen is None or key in chosen

    def channels(self) -> list[str]:
        """Every channel the file says something about, in a stable order."""
        named = {*self.extra_data_for_history, *self.fields_by_channel}
        return [channel for channel in ("voice", "chat") if channel in named]

    def field_problems(self, mapped: Iterable[str]) -> list[str]:
        """Mapped fields Sinch would refuse on a channel they are written on, and names in
        ``fields_by_channel`` that map nothing (a typo there would silently write less)."""
        names = list(mapped)
        problems = [
            f"sinch-contact-pro.fields_by_channel.{channel}: {key!r} is not a mapped field"
            for channel, keys in self.fields_by_channel.items()
            for key in keys
            if key not in names
        ]
        for name in names:
            for channel in self.channels():
                if not self.writes(name, channel):
                    continue
                problem = self.key_problem(name, channel)
                if problem is None:
                    continue
                if channel not in self.fields_by_channel and XML_NAME.fullmatch(name):
                    problem += f" (fields_by_channel.{channel} can leave it out of {channel})"
                problems.append(f"fields.{name}: {problem}")
        return problems

    def key_problem(self, key: str, channel: str) -> str | None:
        """Why Sinch would refuse ``key`` on ``channel``, or None."""
        if not XML_NAME.fullmatch(key):
            return f"{key!r} is not a valid XML element name"
        allowed = self.extra_data_for_history.get(channel)  # type: ignore[call-overload]
        if allowed is None:
            return f"channel {channel!r} has no extra_data_for_history list"
        if "*" not in allowed and key not in allowed:
            return f"{key!r} is not on the {channel} ExtraDataForHistory allow-list"
        return None


class EightByEightSettings(_PlatformBlock):
    """8x8 Interaction Data Augmentation. The vendor's own documents disagree on
    the path and the body shape, so both are settings; the defaults are the best reading."""

    base_url: HttpUrl
    """``https://vcc-{cluster}.8x8.com``."""
    tenant_id: Annotated[str, StringConstraints(min_length=1)]
    """The 8x8 tenant (Configuration Manager "Username"), the Basic-auth user."""
    action_token: SecretStr
    """The Action Request Token from Configuration Manager; a reference, never a literal."""
    path_prefix: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9/_.-]*$")] = (
        "/api/v1/interaction/data"
    )
    """``/api/tstats/interaction/data`` is the support article's variant."""
    identifier: Literal["guid", "call_id"] = "guid"
    """Address by interaction guid (``ref.guid``) or SIP Call-ID (``ref.call_id``)."""
    body_shape: Literal["variables", "data_list", "data_object"] = "variables"
    """``{"variables": [...]}``, ``{"data": [{"variables": [...]}]}`` or
    ``{"data": {"variables": [...]}}``."""
    name_max_length: int = Field(default=24, ge=1, le=128)
    """"Less than 25 characters" in the support article; the developer site says 25."""
    display_name_max_length: int = Field(default=29, ge=1, le=128)
    """Longest ``displayName``: "less than 30" in one 8x8 document, 30 in another."""
    value_max_length: int = Field(default=1000, ge=1)
    """Longest variable value 8x8 accepts."""
    max_variables: int = Field(default=50, ge=1)
    """Most variables in one request."""
    requests_per_minute: int = Field(default=100, ge=1)
    """The documented per-tenant limit; the lane never starts more in any minute."""
    rate_window: Duration = timedelta(minutes=1)
    """The window ``requests_per_minute`` is counted over: 8x8's minute. Only a simulator or
    sandbox that counts over a shorter one needs another value."""

    SECRETS: ClassVar[tuple[str, ...]] = ("action_token",)

    @field_validator("rate_window")
    @classmethod
    def _window_is_some_time(cls, window: timedelta) -> timedelta:
        if window <= timedelta(0):
            raise ValueError("rate_window must be longer than zero")
        return window

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), _basic(self.tenant_id, self.action_token)]

    def request_window(self) -> RequestWindow:
        return RequestWindow(self.requests_per_minute, self.rate_window.total_seconds())


EIGHT_BY_EIGHT_NAME = re.compile(r"^_[A-Za-z0-9]+$")


class GenesysGwsSettings(_PlatformBlock):
    """Genesys Web Services API v2: ``UpdateUserData`` on the agent's own live
    interaction, Basic auth with a session cookie and a CSRF token."""

    base_url: HttpUrl
    """``http(s)://{gws-host}:{port}``, without ``/api/v2``."""
    username: Annotated[str, StringConstraints(min_length=1)]
    """The GWS agent whose own interactions are written."""
    password: SecretStr
    """The agent's password; a reference, never a literal."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)
    WRITE_WINDOW: ClassVar[WriteWindow] = "live"

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), _basic(self.username, self.password)]


AnyPlatformSettings = (
    NiceCxoneSettings
    | SinchContactProSettings
    | EightByEightSettings
    | GenesysGwsSettings
    | HttpSettings
)
_BLOCKS: dict[str, type[_PlatformBlock]] = {
    "nice-cxone": NiceCxoneSettings,
    "sinch-contact-pro": SinchContactProSettings,
    "8x8": EightByEightSettings,
    "genesys-gws": GenesysGwsSettings,
    "http": HttpSettings,
}


TenantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Tenant(_Strict):
    platform: Literal["nice-cxone", "sinch-contact-pro", "8x8", "genesys-gws", "http"]
    """The platform this tenant writes to; its block (same name) must be present."""
    nice_cxone: NiceCxoneSettings | None = Field(default=None, alias="nice-cxone")
    """How to reach NICE CXone (with ``platform: nice-cxone``)."""
    sinch_contact_pro: SinchContactProSettings | None = Field(
        default=None, alias="sinch-contact-pro"
    )
    """How to reach Sinch Contact Pro (with ``platform: sinch-contact-pro``)."""
    eight_by_eight: EightByEightSettings | None = Field(default=None, alias="8x8")
    """How to reach 8x8 (with ``platform: 8x8``)."""
    genesys_gws: GenesysGwsSettings | None = Field(default=None, alias="genesys-gws")
    """How to reach Genesys GWS (with ``platform: genesys-gws``)."""
    http: HttpSettings | None = None
    """A JSON endpoint described here (with ``platform: http``)."""
    limits: Limits = Limits()
    """The lane's rate cap and concurrency ceiling."""
    delivery: DeliveryPolicy = DeliveryPolicy()
    """In-process attempts and the per-call timeout."""
    retention: Duration = timedelta(days=7)
    """How long a ledger entry lives after its last change."""
    fields: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], FieldMapping]
    """Platform field name to merged field; unmapped fields are never sent."""

    @field_validator("fields")
    @classmethod
    def _at_least_one_field(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        if not value:
            raise ValueError("map at least one field; unmapped fields are never sent")
        return value

    @model_validator(mode="after")
    def _platform_block_matches(self) -> Tenant:
        present = [name for name in PLATFORMS if self._block(name) is not None]
        if self.platform not in present:
            raise ValueError(
                f"platform is {self.platform} but the '{self.platform}' block is missing"
            )
        others = [name for name in present if name != self.platform]
        if others:
            raise ValueError(
                f"platform is {self.platform}; remove the block(s) for {', '.join(others)}"
            )
        for problem in self.field_problems():
            raise ValueError(problem)
        return self

    def _block(self, platform: str) -> AnyPlatformSettings | None:
        return {
            "nice-cxone": self.nice_cxone,
            "sinch-contact-pro": self.sinch_contact_pro,
            "8x8": self.eight_by_eight,
            "genesys-gws": self.genesys_gws,
            "http": self.http,
        }[platform]

    @property
    def settings(self) -> AnyPlatformSettings:
        """The block of the tenant's platform (validation guarantees it is there)."""
        block = self._block(self.platform)
        if block is None:  # unreachable: _platform_block_matches guarantees it
            raise ValueError(f"tenant has no '{self.platform}' block")
        return block

    def field_problems(self) -> list[str]:
        """Field names and flags the platform would refuse: caught at load (and by
        ``check-config``) rather than as a stream of rejected calls."""
        problems: list[str] = []
        block = self._block(self.platform)
        if isinstance(block, HttpSettings):
            return block.field_problems(self.fields)
        for name, rule in self.fields.items():
            flags = [f for f in _EIGHT_BY_EIGHT_ONLY if getattr(rule, f) is not None]
            if flags and self.platform != "8x8":
                problems.append(f"fields.{name}: {', '.join(flags)} only apply to 8x8 variables")
            if isinstance(block, EightByEightSettings):
                if not EIGHT_BY_EIGHT_NAME.fullmatch(name):
                    problems.append(
                        f"fields.{name}: 8x8 variable names start with '_' and are "
                        "letters and digits only"
                    )
                elif len(name) > block.name_max_length:
                    problems.append(
                        f"fields.{name}: longer than name_max_length ({block.name_max_length})"
                    )
                label = rule.display_name
                if label is not None and len(label) > block.display_name_max_length:
                    problems.append(
                        f"fields.{name}: display_name is longer than "
                        f"display_name_max_length ({block.display_name_max_length})"
                    )
        if isinstance(block, SinchContactProSettings):
            problems.extend(block.field_problems(self.fields))
        if isinstance(block, EightByEightSettings) and len(self.fields) > block.max_variables:
            problems.append(
                f"fields: {len(self.fields)} variables; 8x8 takes at most "
                f"{block.max_variables} in one request"
            )
        return problems

    def private_sources(self) -> frozenset[str]:
        """Merged fields whose values must never be logged or dead-lettered in clear."""
        return frozenset(rule.source for rule in self.fields.values() if rule.privacy)

    def secret_values(self) -> list[str]:
        return self.settings.secret_values()


class TenantsConfig(_Strict):
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
            offset = (error.get("ctx") or {}).get("offset")
            if isinstance(offset, int):
                line, column = _within_scalar(_node_at(root, loc), offset) or (line, column)
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
            len(path) >= 4
            and path[0] == "tenants"
            and str(path[2]) in _BLOCKS
            and names_a_secret(path[3:], _BLOCKS[str(path[2])].SECRETS)
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
