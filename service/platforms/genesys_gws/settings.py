"""The ``genesys-gws:`` block of a tenant."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import SecretStr, StringConstraints

from service.platforms.base import WriteWindow
from service.platforms.spec import PlatformSettings
from service.tenant_fields import HttpUrl, basic_credential

__all__ = ["GenesysGwsSettings"]


class GenesysGwsSettings(PlatformSettings):
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
        return [*super().secret_values(), basic_credential(self.username, self.password)]
