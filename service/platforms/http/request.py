"""The generic platform's request builder: one delivery in, one HTTP request out. Pure.

The URL is ``base_url`` followed by the rendered path template and nothing else, and the built
URL is checked to still name ``base_url``'s scheme and host before it is returned: a second
line of defence behind the percent-encoding of every value.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import orjson

from service.events import Scalar
from service.platforms.base import Delivery
from service.platforms.http.settings import BodySettings, HttpSettings
from service.platforms.http.template import Template, UnfilledPlaceholder
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest

__all__ = ["RequestPlan", "placeholder_values", "shape_body"]

JsonBody = dict[str, object] | list[dict[str, object]]


def shape_body(
    body: BodySettings, fields: Mapping[str, Scalar], members: Mapping[str, str]
) -> JsonBody:
    """The JSON body for ``fields`` in the tenant's shape, with the rendered ``members``."""
    shaped: dict[str, object] | list[dict[str, object]]
    if body.shape == "pairs":
        shaped = [{body.name_key: name, body.value_key: value} for name, value in fields.items()]
    else:
        shaped = dict(fields)
    if body.under is None:
        if isinstance(shaped, dict):
            return {**members, **shaped}
        return shaped
    return {**members, body.under: shaped}


_ACCEPT_JSON = {"Accept": "application/json"}


class RequestPlan:
    """A tenant's settings with their templates parsed once, not on every call."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self._url = settings.url_template()
        self._members = settings.member_templates()
        self._base = settings.base_url.rstrip("/")
        base = urlsplit(self._base)
        self._origin = (base.scheme, base.netloc)
        configured = {
            **settings.headers,
            **{name: v.get_secret_value() for name, v in settings.secret_headers.items()},
        }
        # An Accept the tenant configured wins, whatever the case it is written in.
        accept = {} if any(n.lower() == "accept" for n in configured) else _ACCEPT_JSON
        self._fixed_headers = {**configured, "Content-Type": "application/json", **accept}

    def build(
        self, delivery: Delivery, auth_headers: Mapping[str, str] | None = None
    ) -> HttpRequest | Outcome:
        """The write for one delivery, or a permanent Outcome when its ids cannot address it."""
        values = placeholder_values(delivery)
        path = self._url.render_url(values)
        if isinstance(path, UnfilledPlaceholder):
            return _unaddressable(path)
        url = self._base + path
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            return _unaddressable(
                UnfilledPlaceholder("path", "it would leave base_url's host", "invalid_routing")
            )
        members = _render_all(self._members, values)
        if isinstance(members, UnfilledPlaceholder):
            return _unaddressable(members)
        body = shape_body(self.settings.body, delivery.values, members)
        headers = {
            **self._fixed_headers,
            **(auth_headers or {}),
            # Lets the vendor, or a proxy in front of it, drop a redelivered duplicate.
            "Idempotency-Key": delivery.idempotency_key,
        }
        return HttpRequest(self.settings.method, url, headers, orjson.dumps(body))


def placeholder_values(delivery: Delivery) -> dict[str, str | None]:
    """The value of every placeholder for one delivery; an absent id is None."""
    values: dict[str, str | None] = {
        "tenant": delivery.tenant,
        "interaction_id": delivery.interaction_id,
        "revision": str(delivery.revision),
        "idempotency_key": delivery.idempotency_key,
        "channel": delivery.channel,
        "status": delivery.status,
    }
    values.update({f"ref.{name}": value for name, value in delivery.ref.items()})
    return values


def _render_all(
    templates: Mapping[str, Template], values: Mapping[str, str | None]
) -> dict[str, str] | UnfilledPlaceholder:
    rendered: dict[str, str] = {}
    for name, template in templates.items():
        text = template.render(values)
        if isinstance(text, UnfilledPlaceholder):
            return text
        rendered[name] = text
    return rendered


def _unaddressable(problem: UnfilledPlaceholder) -> Outcome:
    return Outcome(
        OutcomeKind.PERMANENT,
        problem.reason,
        excerpt=f"{{{problem.name}}}: {problem.why}",
        error_class="RoutingError",
    )
