"""Infrastructure settings from ``ENRICHER_*`` environment variables (a contract).

Tenants live in their own file (:mod:`service.tenants`); what is here is what differs between a
laptop and a cluster. A secret may be given directly (``ENRICHER_ADMIN_TOKEN``) or by file
(``ENRICHER_ADMIN_TOKEN_FILE``, for a mounted Kubernetes Secret); it is kept as ``SecretStr`` so
it never shows in a repr or a log line.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from aiokafka.abc import AbstractTokenProvider
from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.delivery.fit import DEFAULT_MAX_REQUEST_SIZE
from service.delivery.retry_topics import RetryTier, tiers_of
from service.durations import Duration
from service.kafka_oauth import MskIamTokenProvider, OidcTokenProvider, msk_signer_missing
from service.ledger.base import DEFAULT_KEY_PREFIX, ledger_backend, redact_url, url_password

__all__ = ["Settings", "settings_problems"]

_PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""The SASL mechanisms that log in with ENRICHER_KAFKA_SASL_USERNAME and a password."""


class Settings(BaseSettings):
    # Each field's docstring is its description: the generated configuration reference reads it.
    model_config = SettingsConfigDict(
        env_prefix="ENRICHER_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )
    _token_provider: AbstractTokenProvider | None = PrivateAttr(default=None)

    # Kafka
    kafka_bootstrap_servers: str = "localhost:9092"
    """Comma-separated ``host:port`` of the Kafka brokers to bootstrap from."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How the clients talk to the brokers: TLS, SASL, both, or neither."""
    kafka_sasl_mechanism: (
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None
    ) = None
    """SASL mechanism; SASL is used only when this is set. ``OAUTHBEARER`` takes its tokens
    from ``ENRICHER_KAFKA_SASL_OAUTH_PROVIDER``."""
    kafka_sasl_username: str | None = None
    """SASL user name."""
    kafka_sasl_password: SecretStr | None = None
    """SASL password; prefer ``ENRICHER_KAFKA_SASL_PASSWORD_FILE``."""
    kafka_sasl_password_file: Path | None = None
    """File holding the SASL password (a mounted Secret); read at start when the password
    itself is not set."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle that verifies the brokers' certificates (``SSL``, ``SASL_SSL``)."""
    kafka_ssl_certfile: Path | None = None
    """Client certificate, for mutual TLS."""
    kafka_ssl_keyfile: Path | None = None
    """Client certificate's private key, for mutual TLS."""
    kafka_enable_idempotence: bool = True
    """Idempotent DLQ writes; turn off only for brokers without it (the embedded dev broker)."""
    kafka_max_request_size: int = Field(default=DEFAULT_MAX_REQUEST_SIZE, ge=16_384)
    """The producer's ``max_request_size``. Every copy the service writes (DLQ, retry tiers,
    replays) is measured against it, and one that would not fit is written without its value."""
    kafka_session_timeout: Duration = timedelta(seconds=10)
    """Consumer-group session timeout: a shorter one notices a dead replica sooner."""
    kafka_heartbeat_interval: Duration = timedelta(seconds=3)
    """How often the consumer heartbeats to its group; well below the session timeout."""
    # Kafka SASL/OAUTHBEARER: tokens instead of a password, as managed Kafka services require.
    kafka_sasl_oauth_provider: Literal["oidc", "msk-iam"] | None = None
    """Where ``OAUTHBEARER`` tokens come from: ``oidc`` (client credentials at a token endpoint)
    or ``msk-iam`` (Amazon MSK IAM, signed locally from the pod's AWS credentials; needs the
    ``msk`` extra)."""
    kafka_sasl_oauth_token_url: str | None = None
    """``oidc``: the identity provider's token endpoint (``https://``; ``http://`` only to
    localhost, since the client secret is sent to it)."""
    kafka_sasl_oauth_client_id: str | None = None
    """``oidc``: the client id."""
    kafka_sasl_oauth_client_secret: SecretStr | None = None
    """``oidc``: the client secret; prefer ``ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE``."""
    kafka_sasl_oauth_client_secret_file: Path | None = None
    """File holding the client secret (a mounted Secret); read at start when the secret
    itself is not set."""
    kafka_sasl_oauth_scope: str | None = None
    """``oidc``: the scope asked for, space-separated, when the identity provider wants one."""
    kafka_sasl_oauth_extensions: dict[str, str] = Field(default_factory=dict)
    """``oidc``: SASL extensions sent with the token, as JSON, e.g. Confluent Cloud's
    ``{"logicalCluster": "lkc-...", "identityPoolId": "pool-..."}``."""
    kafka_sasl_oauth_aws_region: str | None = None
    """``msk-iam``: the AWS region of the MSK cluster, e.g. ``eu-west-1``."""

    group_id: str = "interaction-enricher"
    """Consumer group of the input and retry topics; every replica of one deployment shares it."""
    client_id: str = "interaction-enricher"
    """Kafka client id, so broker logs and quotas can tell the service's connections apart."""

    # Topics
    topic_closed: str = "interactions.closed"
    """Input topic of ``interaction.closed`` events."""
    topic_analytics: str = "analytics.results"
    """Input topic of ``analytics.result`` events; co-partitioned with the closed topic."""
    topic_dlq: str = "enricher.dlq"
    """Dead-letter topic: bad input, permanent refusals, and records past the last retry tier."""
    topic_retry_prefix: str = "enricher.retry."
    """Prefix of the delayed retry topics, named prefix + delay (``enricher.retry.30s``)."""
    create_topics: bool = False
    """Create missing topics at start (inputs, retry tiers, DLQ); existing topics are left as
    they are."""
    topic_partitions: int = Field(default=8, ge=1)
    """Partitions of each topic ``ENRICHER_CREATE_TOPICS`` creates."""
    topic_replication_factor: int = Field(default=1, ge=1)
    """Replication factor of each topic ``ENRICHER_CREATE_TOPICS`` creates."""

    # State
    ledger_url: str = "sqlite:///./enricher-ledger.sqlite3"
    """``sqlite:///path`` (one replica) or ``redis://host:6379/0`` / ``rediss://...`` (shared by
    every replica). A password in the URL is masked in logs and JSON dumps; prefer
    ``ledger_password``."""
    ledger_password: SecretStr | None = None
    """Redis password when it is not in the URL (never both); prefer
    ``ENRICHER_LEDGER_PASSWORD_FILE``."""
    ledger_password_file: Path | None = None
    """File holding the Redis password (a mounted Secret)."""
    ledger_key_prefix: str = DEFAULT_KEY_PREFIX
    """Prefix of every Redis key, so several deployments can share one Redis."""
    ledger_max_connections: int = Field(default=64, ge=1, le=10_000)
    """Redis connections one replica opens at most; when all are busy an operation waits for
    one (back-pressure) rather than failing."""

    # HTTP surface
    http_host: str = "0.0.0.0"  # noqa: S104 - a pod must answer probes on its pod IP
    """Address of the HTTP server (health, readiness, metrics, admin API)."""
    http_port: int = Field(default=8080, ge=0, le=65535)
    """Port of the HTTP server; 0 picks a free one."""
    admin_token: SecretStr | None = None
    """Bearer token of the ``/admin`` API; without it the admin API does not exist."""
    admin_token_file: Path | None = None
    """File holding the admin token (a mounted Secret)."""

    # Logs
    log_format: Literal["json", "console"] = "json"
    """``json`` lines for log collectors, or ``console`` for people."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level logged."""

    # Tenants
    config: Path | None = None
    """The tenants file; ``enricher run`` refuses to start without it."""

    # Delivery
    max_in_flight: int = Field(default=2048, ge=1, le=100_000)
    """Records being processed at once per process; beyond it the consumer stops fetching."""
    commit_interval: Duration = timedelta(seconds=1)
    """How often completed offsets are committed (and on every rebalance)."""
    retry_base_delay: Duration = timedelta(milliseconds=500)
    """First in-process backoff (full jitter, doubling per attempt)."""
    retry_max_delay: Duration = timedelta(seconds=10)
    """Longest in-process backoff; beyond it a failing change is parked in a retry topic."""
    retry_tiers: Annotated[tuple[Duration, ...], NoDecode] = (
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(minutes=30),
    )
    """Delays of the retry topics, e.g. ``30s,5m,30m``; after the last one, the DLQ."""
    lane_queue_limit: int = Field(default=2048, ge=1)
    """Interactions waiting in one lane before new ones are parked in the retry topic."""
    lane_initial_concurrency: int = Field(default=16, ge=1)
    """Starting point of each lane's adaptive concurrency limit."""
    breaker_failures: int = Field(default=5, ge=1)
    """Consecutive transient failures that open a lane's circuit breaker."""
    breaker_cool_down: Duration = timedelta(seconds=5)
    """First cool-down of an open breaker before one probe call; doubles up to 60 s."""
    retry_after_max: Duration = timedelta(minutes=5)
    """Longest lane pause a vendor's ``Retry-After`` can cause."""
    shutdown_drain: Duration = timedelta(seconds=20)
    """How long SIGTERM and a partition revoke wait for in-flight work before committing."""
    liveness_stall: Duration = timedelta(minutes=2)
    """Consumer-loop silence, or work in hand without progress, after which ``/healthz`` fails."""

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        for name in ("admin_token", "kafka_sasl_password", "ledger_password"):
            file_value = values.get(f"{name}_file")
            if file_value and not values.get(name):
                try:
                    values[name] = Path(file_value).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(
                        f"ENRICHER_{name.upper()}_FILE {str(file_value)!r}: {exc.strerror}; "
                        f"name a readable file, or set ENRICHER_{name.upper()} instead"
                    ) from None
        return values

    @field_validator("retry_tiers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not value:
            raise ValueError("at least one retry tier is needed, e.g. 30s,5m,30m")
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("ledger_url")
    @classmethod
    def _ledger_scheme(cls, value: str) -> str:
        ledger_backend(value)
        return value

    @field_validator("ledger_key_prefix")
    @classmethod
    def _no_hash_tag(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError("may not contain { or }: the ledger uses them as a Redis hash tag")
        return value

    @model_validator(mode="after")
    def _one_ledger_password(self) -> Settings:
        if self.ledger_password is not None and url_password(self.ledger_url):
            raise ValueError(
                "the Redis password is set twice: in ENRICHER_LEDGER_URL and in "
                "ENRICHER_LEDGER_PASSWORD(_FILE); keep one"
            )
        return self

    @model_validator(mode="after")
    def _sasl_complete(self) -> Settings:
        """Checked here, not left to the Kafka client, which would say it later in its own
        words, after the service had started."""
        if self.kafka_security_protocol.startswith("SASL_") and not self.kafka_sasl_mechanism:
            raise ValueError(
                f"ENRICHER_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "ENRICHER_KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
            )
        if (
            self.kafka_sasl_mechanism in _PASSWORD_MECHANISMS
            and self.kafka_security_protocol.startswith("SASL_")
        ):
            missing = [
                name
                for name, value in (
                    ("ENRICHER_KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    (
                        "ENRICHER_KAFKA_SASL_PASSWORD(_FILE)",
                        self.kafka_sasl_password and self.kafka_sasl_password.get_secret_value(),
                    ),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"ENRICHER_KAFKA_SASL_MECHANISM={self.kafka_sasl_mechanism} needs "
                    + " and ".join(missing)
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _oauth_secret_from_file(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        file_value = values.get("kafka_sasl_oauth_client_secret_file")
        if file_value and not values.get("kafka_sasl_oauth_client_secret"):
            try:
                secret = Path(file_value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE {str(file_value)!r}: "
                    f"{exc.strerror}; name a readable file, or set "
                    "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET instead"
                ) from None
            values["kafka_sasl_oauth_client_secret"] = secret
        return values

    @model_validator(mode="after")
    def _kafka_oauth(self) -> Settings:
        """OAUTHBEARER settings that could only fail at the first connect, refused at start."""
        problems = _oauth_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def kafka_token_provider(self) -> AbstractTokenProvider:
        """The OAUTHBEARER token provider, one per settings, so every client shares its token."""
        if self._token_provider is None:
            if self.kafka_sasl_oauth_provider == "msk-iam":
                assert self.kafka_sasl_oauth_aws_region  # checked by _kafka_oauth
                self._token_provider = MskIamTokenProvider(self.kafka_sasl_oauth_aws_region)
            else:
                assert self.kafka_sasl_oauth_token_url
                assert self.kafka_sasl_oauth_client_id
                assert self.kafka_sasl_oauth_client_secret is not None
                self._token_provider = OidcTokenProvider(
                    self.kafka_sasl_oauth_token_url,
                    self.kafka_sasl_oauth_client_id,
                    self.kafka_sasl_oauth_client_secret.get_secret_value(),
                    scope=self.kafka_sasl_oauth_scope,
                    extensions=self.kafka_sasl_oauth_extensions,
                )
        return self._token_provider

    @field_serializer("ledger_url", when_used="json")
    def _ledger_url_masked(self, value: str) -> str:
        """Config dumps show where the ledger is, never its password."""
        return redact_url(value)

    def kafka_client_options(self) -> dict[str, Any]:
        """Connection options shared by every aiokafka client the service creates."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "security_protocol": self.kafka_security_protocol,
            "client_id": self.client_id,
        }
        if self.kafka_sasl_mechanism == "OAUTHBEARER":
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_oauth_token_provider"] = self.kafka_token_provider()
        elif self.kafka_sasl_mechanism:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            if self.kafka_sasl_password is not None:
                options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
                certfile=str(self.kafka_ssl_certfile) if self.kafka_ssl_certfile else None,
                keyfile=str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
            )
        return options

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topic_closed, self.topic_analytics)

    @property
    def retry_tier_topics(self) -> tuple[RetryTier, ...]:
        return tiers_of(self.topic_retry_prefix, [d.total_seconds() for d in self.retry_tiers])

    def secret_values(self) -> list[str]:
        secrets = [
            s.get_secret_value()
            for s in (
                self.admin_token,
                self.kafka_sasl_password,
                self.ledger_password,
                self.kafka_sasl_oauth_client_secret,
            )
            if s is not None and s.get_secret_value()
        ]
        in_url = url_password(self.ledger_url)
        if in_url:  # as written and as sent to Redis, which may differ by percent-encoding
            secrets.extend({in_url, unquote(in_url)})
        return secrets


# -- Kafka SASL/OAUTHBEARER ---------------------------------------------------------------------

_EXTENSION_KEY = re.compile(r"[A-Za-z]+")
_EXTENSION_VALUE = re.compile(r"[\x21-\x7e \t\r\n]+")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _oauth_problems(s: Settings) -> list[str]:
    """What is wrong with the OAUTHBEARER settings, each naming the variable to fix."""
    mechanism = "ENRICHER_KAFKA_SASL_MECHANISM=OAUTHBEARER"
    if s.kafka_sasl_mechanism != "OAUTHBEARER":
        if s.kafka_sasl_oauth_provider is not None:
            return [f"ENRICHER_KAFKA_SASL_OAUTH_PROVIDER is used only with {mechanism}"]
        return []
    if not s.kafka_security_protocol.startswith("SASL_"):
        return [f"{mechanism} needs ENRICHER_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)"]
    if s.kafka_sasl_oauth_provider is None:
        return [f"{mechanism} needs ENRICHER_KAFKA_SASL_OAUTH_PROVIDER: oidc or msk-iam"]
    if s.kafka_sasl_oauth_provider == "msk-iam":
        return _msk_problems(s)
    return _oidc_problems(s)


def _msk_problems(s: Settings) -> list[str]:
    provider = "ENRICHER_KAFKA_SASL_OAUTH_PROVIDER=msk-iam"
    problems: list[str] = []
    if s.kafka_security_protocol != "SASL_SSL":
        problems.append(f"{provider} needs ENRICHER_KAFKA_SECURITY_PROTOCOL=SASL_SSL")
    region = s.kafka_sasl_oauth_aws_region
    if not region:
        problems.append(
            f"{provider} needs ENRICHER_KAFKA_SASL_OAUTH_AWS_REGION, the cluster's region "
            "(e.g. eu-west-1)"
        )
    elif not _AWS_REGION.fullmatch(region):
        problems.append(
            f"ENRICHER_KAFKA_SASL_OAUTH_AWS_REGION {region!r} is not an AWS region (e.g. eu-west-1)"
        )
    missing = msk_signer_missing()
    if missing:
        problems.append(missing)
    return problems


def _oidc_problems(s: Settings) -> list[str]:
    secret = s.kafka_sasl_oauth_client_secret
    needed = {
        "ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL": s.kafka_sasl_oauth_token_url,
        "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_ID": s.kafka_sasl_oauth_client_id,
        "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET (or _FILE)": (
            secret.get_secret_value() if secret else None
        ),
    }
    missing = [name for name, value in needed.items() if not value]
    problems = (
        [f"ENRICHER_KAFKA_SASL_OAUTH_PROVIDER=oidc needs {', '.join(missing)}"] if missing else []
    )
    if s.kafka_sasl_oauth_token_url:
        problems.extend(_token_url_problems(s.kafka_sasl_oauth_token_url))
    for key, value in s.kafka_sasl_oauth_extensions.items():
        if key == "auth" or not _EXTENSION_KEY.fullmatch(key):
            problems.append(
                f"ENRICHER_KAFKA_SASL_OAUTH_EXTENSIONS: key {key!r} must be letters only, "
                "and not auth"
            )
        elif not _EXTENSION_VALUE.fullmatch(value):
            problems.append(
                f"ENRICHER_KAFKA_SASL_OAUTH_EXTENSIONS: the value of {key!r} must be printable text"
            )
    return problems


def _token_url_problems(token_url: str) -> list[str]:
    url = urlsplit(token_url)
    plain_local = url.scheme == "http" and url.hostname in _LOOPBACK
    if not url.hostname or not (url.scheme == "https" or plain_local):
        return [
            "ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL must be an https:// URL (http:// only to "
            "localhost): the client secret is sent to it"
        ]
    if url.username or url.password:
        return [
            "ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL may not hold credentials: give the client as "
            "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_ID and _CLIENT_SECRET(_FILE)"
        ]
    return []


def settings_problems(exc: ValidationError) -> list[str]:
    """One line per problem, each naming the environment variable to change: a field's error
    by its location, a check across fields (which has none) by its own message, which names
    every variable it involves."""
    lines = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        loc = [str(p) for p in error["loc"]]
        if not loc:
            lines.append(f"error: {message}")
            continue
        name = "ENRICHER_" + "_".join(loc).upper()
        given = error.get("input")
        private = any(word in name for word in ("PASSWORD", "TOKEN", "SECRET", "URL"))
        shown = f" (got {given!r})" if isinstance(given, str) and not private else ""
        lines.append(f"error: {name}: {message}{shown}")
    return lines
