"""The credential an ``http`` tenant's ``auth`` names, as one of the shared auth flows."""

from __future__ import annotations

from service.auth import BasicAuth, BearerToken, ClientCredentials, Credential
from service.platforms.http.settings import (
    AuthSettings,
    BasicAuthSettings,
    BearerAuthSettings,
    ClientCredentialsSettings,
)

__all__ = ["credential_for"]


def credential_for(auth: AuthSettings) -> Credential | None:
    """None for ``{type: none}``: the request goes out as the builder made it."""
    if isinstance(auth, BasicAuthSettings):
        return BasicAuth(auth.username, auth.password.get_secret_value())
    if isinstance(auth, BearerAuthSettings):
        return BearerToken(auth.token.get_secret_value())
    if isinstance(auth, ClientCredentialsSettings):
        return ClientCredentials(
            auth.token_url,
            auth.client_id,
            auth.client_secret.get_secret_value(),
            scope=auth.scope,
            client_auth=auth.client_auth,
        )
    return None
