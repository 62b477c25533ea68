"""The ``8x8:`` block of a tenant, and the variable rules 8x8 applies, checked at load."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr, StringConstraints, field_validator

from service.durations import Duration
from service.platforms.spec import PlatformSettings
from service.tenant_fields import (
    OPTIONAL_FLAGS,
    FieldMapping,
    HttpUrl,
    RequestWindow,
    basic_credential,
)

__all__ = ["EIGHT_BY_EIGHT_NAME", "EightByEightSettings"]


class EightByEightSettings(PlatformSettings):
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
    FIELD_FLAGS: ClassVar[frozenset[str]] = frozenset(OPTIONAL_FLAGS)

    @field_validator("rate_window")
    @classmethod
    def _window_is_some_time(cls, window: timedelta) -> timedelta:
        if window <= timedelta(0):
            raise ValueError("rate_window must be longer than zero")
        return window

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), basic_credential(self.tenant_id, self.action_token)]

    def request_window(self) -> RequestWindow:
        return RequestWindow(self.requests_per_minute, self.rate_window.total_seconds())

    def field_problems(self, fields: Mapping[str, FieldMapping]) -> list[str]:
        """Variable names and labels 8x8 would refuse, and more variables than one request
        takes."""
        problems = super().field_problems(fields)
        for name, rule in fields.items():
            if not EIGHT_BY_EIGHT_NAME.fullmatch(name):
                problems.append(
                    f"fields.{name}: 8x8 variable names start with '_' and are "
                    "letters and digits only"
                )
            elif len(name) > self.name_max_length:
                problems.append(
                    f"fields.{name}: longer than name_max_length ({self.name_max_length})"
                )
            label = rule.display_name
            if label is not None and len(label) > self.display_name_max_length:
                problems.append(
                    f"fields.{name}: display_name is longer than "
                    f"display_name_max_length ({self.display_name_max_length})"
                )
        if len(fields) > self.max_variables:
            problems.append(
                f"fields: {len(fields)} variables; 8x8 takes at most "
                f"{self.max_variables} in one request"
            )
        return problems


EIGHT_BY_EIGHT_NAME = re.compile(r"^_[A-Za-z0-9]+$")
"""An 8x8 variable name: ``_`` and then letters and digits."""
