"""What the tenants file and every platform share: the field mapping, the strict model base,
URL and credential helpers and a platform's request window.

It sits below both :mod:`service.tenants` and :mod:`service.platforms`, so a platform's
settings model can use these types without importing the tenant loader, which imports the
platform registry.
"""

from __future__ import annotations

import base64
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

__all__ = [
    "OPTIONAL_FLAGS",
    "FieldMapping",
    "FieldType",
    "HttpUrl",
    "RequestWindow",
    "StrictModel",
    "basic_credential",
]


class StrictModel(BaseModel):
    # Unknown keys are errors: a misspelt setting must not be silently ignored. Each field's
    # docstring is its description: the generated tenants-file reference reads it.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


FieldType = Literal["string", "number", "boolean"]
VariableDataType = Literal["text", "number", "phone", "phone number", "date", "time", "currency"]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$")]

OPTIONAL_FLAGS = ("display", "display_name", "ivr", "privacy", "data_type")
"""A field's flags that only some platforms give a meaning; each platform's settings model
names the ones it takes (``PlatformSettings.FIELD_FLAGS``) and the others are refused, where
they would silently mean nothing."""


class FieldMapping(StrictModel):
    """One platform field: which merged field feeds it and how its value is coerced.

    ``display``, ``display_name``, ``ivr``, ``privacy`` and ``data_type`` are flags that only
    some platforms give a meaning (each platform's ``FIELD_FLAGS``); the others refuse them,
    where they would silently mean nothing.
    """

    source: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(alias="from")
    """The merged field that feeds this platform field, flattened with ``.``
    (``sentiment.label``)."""
    type: FieldType | None = None
    """Coerce the value to ``string``, ``number`` or ``boolean``; without it scalars pass as
    they are and lists become comma-separated text."""
    display: bool | None = None
    """Show the field to the agent."""
    display_name: Annotated[str, StringConstraints(min_length=1)] | None = None
    """The label the agent sees, up to the platform's ``display_name_max_length``."""
    ivr: bool | None = None
    """The field feeds the IVR script, which must declare the same name (an undeclared one is
    ignored by the platform without an error)."""
    privacy: bool | None = None
    """The value is for routing only: the platform masks it, and the enricher never logs it or
    writes it to the DLQ in clear."""
    data_type: VariableDataType | None = None
    """The field's data type at the platform."""

    def flags(self) -> list[str]:
        """The optional flags this mapping sets, in a stable order."""
        return [flag for flag in OPTIONAL_FLAGS if getattr(self, flag) is not None]


class RequestWindow(NamedTuple):
    """A platform's documented limit as a count per window, which a token bucket cannot hold
    exactly (its burst comes on top), so the lane enforces it as a sliding window."""

    requests: int
    seconds: float


def basic_credential(user: str, secret: SecretStr) -> str:
    """The ``Authorization: Basic`` credential, which leaks the secret as surely as the secret."""
    return base64.b64encode(f"{user}:{secret.get_secret_value()}".encode()).decode()
