"""The generic HTTP platform's settings, body shaper and request builder, from tables."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from pydantic import ValidationError

from service.events import Scalar
from service.platforms.base import Delivery
from service.platforms.http.request import RequestPlan, shape_body
from service.platforms.http.settings import BodySettings, HttpSettings
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest


def settings(**overrides: Any) -> HttpSettings:
    values: dict[str, Any] = {
        "base_url": "https://crm.example.com/api",
        "method": "PUT",
        "path": "/contacts/{ref.contact_id}/fields",
        "auth": {"type": "none"},
        **overrides,
    }
    return HttpSettings.model_validate(values)


def delivery(**ref: str) -> Delivery:
    return Delivery(
        tenant="acme",
        interaction_id="call-1",
        revision=3,
        ref=ref or {"contact_id": "8675309"},
        channel="voice",
        status="Handled",
        closed_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        values={"Sentiment": "negative", "Score": -0.62, "Vip": True},
    )


def build(plan_settings: HttpSettings, **ref: str) -> HttpRequest:
    request = RequestPlan(plan_settings).build(delivery(**ref))
    assert isinstance(request, HttpRequest), request
    return request


FIELDS: dict[str, Scalar] = {"A": "x", "B": 2}


@pytest.mark.parametrize(
    ("body", "members", "expected"),
    [
        ({}, {}, {"A": "x", "B": 2}),
        (
            {"under": "attachedData"},
            {"id": "c-1"},
            {"id": "c-1", "attachedData": {"A": "x", "B": 2}},
        ),
        ({}, {"id": "c-1"}, {"id": "c-1", "A": "x", "B": 2}),
        ({"shape": "pairs"}, {}, [{"name": "A", "value": "x"}, {"name": "B", "value": 2}]),
        (
            {"shape": "pairs", "name_key": "key", "value_key": "val", "under": "variables"},
            {"guid": "g"},
            {"guid": "g", "variables": [{"key": "A", "val": "x"}, {"key": "B", "val": 2}]},
        ),
    ],
)
def test_the_body_shapes(body: dict[str, Any], members: dict[str, str], expected: Any) -> None:
    assert shape_body(BodySettings.model_validate(body), FIELDS, members) == expected


def test_a_put_with_members_rendered_and_the_idempotency_key() -> None:
    request = build(
        settings(
            headers={"X-Team": "cx"},
            body={"under": "data", "members": {"id": "{ref.contact_id}", "rev": "{revision}"}},
        )
    )
    assert request.method == "PUT"
    assert request.url == "https://crm.example.com/api/contacts/8675309/fields"
    assert request.headers["X-Team"] == "cx"
    assert request.headers["Idempotency-Key"] == "acme:call-1:3"
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(request.body or b"") == {
        "id": "8675309",
        "rev": "3",
        "data": {"Sentiment": "negative", "Score": -0.62, "Vip": True},
    }


@pytest.mark.parametrize(
    "hostile",
    [
        "a/b",
        "..",
        ".",
        "../../admin",
        "user@evil.example",
        "x?admin=1",
        "x#frag",
        "%2F",
        "%2E%2E",
        "https://evil.example/steal",
        "//evil.example",
        "evil.example:443",
    ],
)
def test_no_id_can_move_the_call_to_another_host_or_path(hostile: str) -> None:
    plan = RequestPlan(settings(path="/contacts/{ref.contact_id}/fields?c={ref.contact_id}"))
    request = plan.build(delivery(contact_id=hostile))
    if isinstance(request, Outcome):
        assert (request.kind, request.reason) == (OutcomeKind.PERMANENT, "invalid_routing")
        assert hostile in (".", "..")
        return
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc) == ("https", "crm.example.com")
    assert parts.fragment == ""
    steps = parts.path.split("/")
    assert steps[:3] == ["", "api", "contacts"]
    assert steps[4:] == ["fields"]
    assert len(steps) == 5
    assert parts.query.count("=") == 1


def test_a_missing_id_is_a_permanent_routing_refusal() -> None:
    outcome = RequestPlan(settings()).build(delivery(call_id="x"))
    assert isinstance(outcome, Outcome)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "missing_routing")
    assert outcome.excerpt is not None
    assert "{ref.contact_id}" in outcome.excerpt


def test_auth_and_secret_headers_travel_and_are_secrets() -> None:
    plan_settings = settings(
        secret_headers={"X-Api-Key": "k-123"},
        auth={"type": "basic", "username": "svc", "password": "pw"},
    )
    request = RequestPlan(plan_settings).build(delivery(), {"Authorization": "Basic x"})
    assert isinstance(request, HttpRequest)
    assert request.headers["X-Api-Key"] == "k-123"
    assert request.headers["Authorization"] == "Basic x"
    assert set(plan_settings.secret_values()) == {
        "k-123",
        "pw",
        base64.b64encode(b"svc:pw").decode(),
    }


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            {"base_url": "https://user@crm.example.com"},
            "is not http(s)://host[:port][/fixed/prefix]",
        ),
        (
            {"base_url": "https://crm.example.com/?x=1"},
            "is not http(s)://host[:port][/fixed/prefix]",
        ),
        ({"base_url": "ftp://crm.example.com"}, "is not http(s)://host[:port][/fixed/prefix]"),
        ({"path": "/c/{ref.contact_id"}, "never closed (character 4)"),
        ({"path": "/c/{sentiment.label}"}, "unknown placeholder"),
        ({"headers": {"Authorization": "x"}}, "use auth"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "is not a header value on one line"),
        ({"headers": {"X-A": "a"}, "secret_headers": {"x-a": "b"}}, "in both"),
        ({"auth": {"type": "bearer"}}, "token"),
        ({"auth": {"type": "oauth"}}, "does not match any of the expected tags"),
        ({"auth": {"type": "none", "token": "x"}}, "Extra inputs"),
        ({"body": {"shape": "pairs", "members": {"id": "x"}}}, "members need an object body"),
        ({"body": {"under": "id", "members": {"id": "x"}}}, "would overwrite"),
        ({"body": {"members": {"id": "{nope}"}}}, "unknown placeholder"),
        ({"method": "GET"}, "POST"),
        ({"window": "sometimes"}, "after_close"),
    ],
)
def test_settings_that_cannot_work_are_refused(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(words)):
        settings(**overrides)


def test_a_field_named_like_a_member_is_a_field_problem() -> None:
    plan_settings = settings(body={"members": {"id": "{ref.contact_id}"}})
    mapping = FieldMapping.model_validate({"from": "x"})
    assert plan_settings.field_problems({"id": mapping, "Score": mapping}) == [
        "fields.id: also a body member; rename one, or put the fields under a key"
    ]
    under = settings(body={"under": "d", "members": {"id": "x"}})
    assert under.field_problems({"id": mapping}) == []


def test_privacy_is_the_one_flag_a_field_may_set() -> None:
    private = FieldMapping.model_validate({"from": "x", "privacy": True})
    shown = FieldMapping.model_validate({"from": "x", "display": True})
    assert settings().field_problems({"Card": private}) == []
    assert settings().field_problems({"Card": shown}) == [
        "fields.Card: display means nothing on this platform; remove it"
    ]


def test_windows() -> None:
    assert settings().write_window() == "after_close"
    assert settings(window="live").write_window() == "live"


def test_a_client_secret_is_scrubbed_in_every_form_it_travels_in() -> None:
    auth = {
        "type": "client_credentials",
        "token_url": "https://login.example.com/token",
        "client_id": "app id",
        "client_secret": "s&cret/+",
    }
    values = settings(auth=auth).secret_values()
    encoded = base64.b64encode(b"app+id:s%26cret%2F%2B").decode()
    assert {"s&cret/+", "s%26cret%2F%2B", encoded} <= set(values)


@pytest.mark.parametrize("name", ["Accept", "accept", "ACCEPT"])
def test_an_accept_header_the_tenant_set_wins(name: str) -> None:
    request = build(settings(headers={name: "application/vnd.crm+json"}))
    accepts = [value for key, value in request.headers.items() if key.lower() == "accept"]
    assert accepts == ["application/vnd.crm+json"]


def test_accept_defaults_to_json() -> None:
    assert build(settings()).headers["Accept"] == "application/json"
