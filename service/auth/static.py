"""Credentials that travel unchanged on every request: HTTP Basic, a bearer token taken from a
secret, an API key in a header, or several of them together.

They have nothing to renew, so a refusal is final and is the adapter's to classify. Their
``repr`` names the scheme and never the secret.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from service.auth.flow import Credential, with_headers
from service.transport import HttpRequest

__all__ = ["ApiKeyHeader", "BasicAuth", "BearerToken", "StaticCredential", "basic_header"]


def basic_header(username: str, password: str) -> str:
    """RFC 7617: ``Basic`` and base64 of ``username:password`` in UTF-8."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class StaticCredential(Credential):
    """Fixed headers added to every request."""

    def __init__(self, headers: Mapping[str, str], scheme: str) -> None:
        self._headers = dict(headers)
        self._scheme = scheme

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def apply(self, request: HttpRequest) -> HttpRequest:
        return with_headers(request, self._headers)

    def __and__(self, other: StaticCredential) -> StaticCredential:
        """Both credentials on every request (Basic and an API key, say)."""
        return StaticCredential(
            {**self._headers, **other._headers}, f"{self._scheme} and {other._scheme}"
        )

    def __repr__(self) -> str:
        return f"<{self._scheme}>"


class BasicAuth(StaticCredential):
    """HTTP Basic: ``BasicAuth(username, password)``."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__({"Authorization": basic_header(username, password)}, "BasicAuth")


class BearerToken(StaticCredential):
    """A bearer token that is itself the secret (an API token issued once, rotated by
    configuration): ``BearerToken(secret)``."""

    def __init__(self, secret: str) -> None:
        super().__init__({"Authorization": f"Bearer {secret}"}, "BearerToken")


class ApiKeyHeader(StaticCredential):
    """An API key sent in a header of the vendor's choosing: ``ApiKeyHeader(name, secret)``."""

    def __init__(self, header: str, secret: str) -> None:
        super().__init__({header: secret}, f"ApiKeyHeader({header})")
