"""The NICE CXone login: the password grant, then the API host the token's tenant lives on.

CXone never hard-codes hosts. The token endpoint comes from the issuer's OpenID configuration
and the API host from ``{issuer}/.well-known/cxone-configuration?tenantId=...``, whose tenant
id is a claim of the access token or, when the access token is opaque (a reference, not a
JWT), of the ``id_token`` the same answer carries. Both documents are cached by URL across
tenants, so tenants sharing an issuer (and a CXone tenant) fetch each once.
"""

from __future__ import annotations

from collections.abc import Generator
from urllib.parse import urlencode

from service.auth.discovery import DiscoveryCache, fetch_document
from service.auth.flow import Renewal, failure
from service.auth.oauth2 import PasswordGrant, TokenAnswer, claim
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = ["CxoneLogin", "tenant_id_of"]


class CxoneLogin(PasswordGrant):
    """:class:`PasswordGrant` that also knows the API host: ``api_base`` once renewed, or
    from the start when ``api_base_url`` is configured (then ``cxone-configuration`` is never
    asked)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        *,
        api_base_url: str | None = None,
        discovery: DiscoveryCache | None = None,
        renew_at: float = 0.8,
    ) -> None:
        super().__init__(
            issuer,
            client_id,
            client_secret,
            username,
            password,
            discovery=discovery,
            renew_at=renew_at,
        )
        self._configured_base = api_base_url
        self._api_base = api_base_url

    @property
    def api_base(self) -> str:
        if self._api_base is None:
            raise RuntimeError("api_base before the first renewal")
        return self._api_base

    def renew(self, now: float) -> Renewal:
        answer = yield from self._obtain(now)
        api_base = self._configured_base
        if api_base is None:
            api_base = yield from self._api_endpoint(answer, now)
        self._api_base = api_base
        self._accept(answer, now)

    def _api_endpoint(
        self, answer: TokenAnswer, now: float
    ) -> Generator[HttpRequest, HttpResponse, str]:
        tenant_id = tenant_id_of(answer.access_token, answer.id_token)
        if not tenant_id:
            raise failure(
                OutcomeKind.PERMANENT,
                "discovery_failed",
                detail="neither the access token nor the id_token carries a tenantId claim",
            )
        url = self.issuer + "/.well-known/cxone-configuration?" + urlencode({"tenantId": tenant_id})
        document = yield from fetch_document(self.discovery, url, now)
        endpoint = document.get("api_endpoint")
        if isinstance(endpoint, str) and endpoint:
            return endpoint
        area = document.get("area")
        if isinstance(area, str) and area:
            return f"https://api-{area}.niceincontact.com"
        raise failure(
            OutcomeKind.RETRY,
            "discovery_failed",
            detail="cxone-configuration has no api_endpoint",
            error_class=None,
        )

    def __repr__(self) -> str:
        return f"CxoneLogin({self.issuer!r})"


def tenant_id_of(access_token: str, id_token: str | None) -> str | None:
    """The tenant id discovery needs: the access token's claim first, then the id_token's."""
    return claim(access_token, "tenantId") or (claim(id_token, "tenantId") if id_token else None)
