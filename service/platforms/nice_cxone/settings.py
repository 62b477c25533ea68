"""The ``nice-cxone:`` block of a tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import SecretStr, StringConstraints

from service.durations import Duration
from service.platforms.spec import PlatformSettings
from service.tenant_fields import HttpUrl, basic_credential

__all__ = ["NiceCxoneSettings"]


class NiceCxoneSettings(PlatformSettings):
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
            # The token request's Basic header.
            basic_credential(self.client_id, self.client_secret),
        ]
