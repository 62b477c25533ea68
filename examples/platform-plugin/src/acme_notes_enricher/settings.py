"""The ``acme-notes:`` block of a tenant: where the Acme Notes API is and how to log in."""

from __future__ import annotations

import base64
from typing import Annotated, ClassVar
from urllib.parse import quote_plus

from pydantic import Field, SecretStr, StringConstraints
from service.platforms.spec import PlatformSettings
from service.tenant_fields import HttpUrl, RequestWindow

__all__ = ["AcmeNotesSettings"]


class AcmeNotesSettings(PlatformSettings):
    """Every field's docstring is its description in ``enricher check-config`` errors and the
    tenants-file reference; the base makes the block strict (an unknown key is an error)."""

    base_url: HttpUrl
    """The Acme Notes API root (``https://api.acmenotes.example``)."""
    workspace: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]
    """The workspace that holds the notes."""
    client_id: Annotated[str, StringConstraints(min_length=1)]
    """The OAuth2 client the enricher logs in as."""
    client_secret: SecretStr
    """The client's secret; a reference (``${ACME_NOTES_SECRET}``), never a literal."""
    requests_per_minute: int = Field(default=600, ge=1, le=600)
    """Acme Notes takes at most 600 writes a minute per workspace."""

    SECRETS: ClassVar[tuple[str, ...]] = ("client_secret",)
    # WRITE_WINDOW stays "after_close": a note is written once the interaction is over.

    def request_window(self) -> RequestWindow:
        return RequestWindow(self.requests_per_minute, 60.0)

    def secret_values(self) -> list[str]:
        # The login's Basic header carries the secret too, form-encoded first (RFC 6749
        # §2.3.1), as service.auth.ClientCredentials sends it.
        secret = self.client_secret.get_secret_value()
        pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}"
        return [secret, base64.b64encode(pair.encode()).decode()]
