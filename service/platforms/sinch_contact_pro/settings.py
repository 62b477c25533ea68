"""The ``sinch-contact-pro:`` block of a tenant, and the key rules Sinch applies to
attached data, checked at load."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr, StringConstraints

from service.platforms.spec import PlatformSettings
from service.tenant_fields import FieldMapping, HttpUrl, basic_credential

__all__ = ["SINCH_DISCONNECTED", "XML_NAME", "SinchChannel", "SinchContactProSettings"]


XML_NAME = re.compile(r"^(?![Xx][Mm][Ll])[A-Za-z_][A-Za-z0-9_.-]*$")
"""An XML element name without namespaces: Sinch stores attached data keys as elements."""

SinchChannel = Literal["voice", "chat"]
SINCH_DISCONNECTED = ("WrapUp", "Handled", "Abandoned", "Deleted")


class SinchContactProSettings(PlatformSettings):
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
        return [*super().secret_values(), basic_credential(self.username, self.password)]

    def writes(self, key: str, channel: str) -> bool:
        """Whether the mapped field ``key`` is written on ``channel``."""
        chosen = self.fields_by_channel.get(channel)  # type: ignore[call-overload]
        return chosen is None or key in chosen

    def channels(self) -> list[str]:
        """Every channel the file says something about, in a stable order."""
        named = {*self.extra_data_for_history, *self.fields_by_channel}
        return [channel for channel in ("voice", "chat") if channel in named]

    def field_problems(self, fields: Mapping[str, FieldMapping]) -> list[str]:
        """Mapped fields Sinch would refuse on a channel they are written on, and names in
        ``fields_by_channel`` that map nothing (a typo there would silently write less)."""
        names = list(fields)
        problems = super().field_problems(fields)
        problems += [
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
