"""The effective configuration with every secret redacted.

Three layers, because one missed secret is one too many: every ``SecretStr`` becomes
``[redacted]`` by type, credentials written into a URL (``redis://:password@host``) lose their
user-info part, and finally every string is passed through the service's redactor, which knows
each resolved secret value (and its Basic-auth form) and masks it wherever it still appears.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from service.settings import Settings
from service.tenants import Tenant

__all__ = ["REDACTED", "redacted_settings", "redacted_tenants"]

REDACTED = "[redacted]"
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def redacted_settings(settings: Settings, redact: Callable[[str], str]) -> dict[str, Any]:
    return {name: _plain(value, redact) for name, value in _fields(settings).items()}


def redacted_tenants(tenants: Mapping[str, Tenant], redact: Callable[[str], str]) -> dict[str, Any]:
    return {name: _plain(tenant, redact) for name, tenant in sorted(tenants.items())}


def _fields(model: BaseModel) -> dict[str, Any]:
    """Field values by the names operators write (``from``, a platform block under the
    platform's id), unset ones too."""
    fields = type(model).model_fields
    values = {(info.alias or name): getattr(model, name) for name, info in fields.items()}
    if isinstance(model, Tenant):
        # The platform block is held apart from the fields; it follows ``platform`` as in
        # the file.
        values = {"platform": model.platform, model.platform: model.settings, **values}
    return values


def _plain(value: Any, redact: Callable[[str], str]) -> Any:
    result: Any = value
    if isinstance(value, SecretStr):
        result = REDACTED if value.get_secret_value() else ""
    elif isinstance(value, BaseModel):
        result = {k: _plain(v, redact) for k, v in _fields(value).items() if v is not None}
    elif isinstance(value, Mapping):
        result = {str(k): _plain(v, redact) for k, v in value.items()}
    elif isinstance(value, list | tuple | set | frozenset):
        result = [_plain(v, redact) for v in value]
    elif isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, Path):
        result = str(value)
    elif isinstance(value, str):
        result = redact(_URL_CREDENTIALS.sub(rf"\1{REDACTED}@", value))
    return result
