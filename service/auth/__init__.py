"""Authentication as flows apart from the adapters that use them.

A flow (:mod:`service.auth.flow`) is a credential's state and a generator that renews it by
yielding requests and reading their answers, with no IO of its own; :mod:`service.auth.runner`
drives flows over the transport. The flows: :class:`BasicAuth`, :class:`BearerToken` and
:class:`ApiKeyHeader` (static), :class:`ClientCredentials` and :class:`PasswordGrant`
(OAuth 2.0, the password grant with OpenID discovery) and :class:`SessionCookie` (a session
with cookies and a CSRF token). A platform extends them with what is its own (an API host its
discovery names, what its login answers mean) in its package.
"""

from service.auth.discovery import DiscoveryCache, shared_discovery
from service.auth.flow import AuthError, Credential, Renewal
from service.auth.oauth2 import ClientCredentials, PasswordGrant
from service.auth.runner import Authenticator
from service.auth.session import Session, SessionCookie
from service.auth.static import ApiKeyHeader, BasicAuth, BearerToken, StaticCredential

__all__ = [
    "ApiKeyHeader",
    "AuthError",
    "Authenticator",
    "BasicAuth",
    "BearerToken",
    "ClientCredentials",
    "Credential",
    "DiscoveryCache",
    "PasswordGrant",
    "Renewal",
    "Session",
    "SessionCookie",
    "StaticCredential",
    "shared_discovery",
]
