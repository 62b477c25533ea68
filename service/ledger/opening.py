"""Opening the configured ledger backend: the one module that knows every backend, so the
abstraction in :mod:`service.ledger.base` imports none of them. Each backend is imported when
it is opened, so a process (or a command that only reads settings) loads no Redis client it
does not use."""

from __future__ import annotations

from pydantic import SecretStr

from service.ledger.base import DEFAULT_KEY_PREFIX, Ledger, ledger_backend

__all__ = ["open_ledger"]


def open_ledger(
    url: str,
    *,
    password: SecretStr | str | None = None,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    max_connections: int = 64,
) -> Ledger:
    """The backend named by ``ENRICHER_LEDGER_URL``.

    ``password``, ``key_prefix`` and ``max_connections`` apply to Redis only
    (``ENRICHER_LEDGER_PASSWORD``, ``ENRICHER_LEDGER_KEY_PREFIX`` and
    ``ENRICHER_LEDGER_MAX_CONNECTIONS``); a password may instead be written in the URL.
    """
    if ledger_backend(url) == "redis":
        from service.ledger.redis import RedisLedger

        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        return RedisLedger(
            url, password=password, key_prefix=key_prefix, max_connections=max_connections
        )
    from service.ledger.sqlite import SqliteLedger

    path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
    return SqliteLedger(path)
