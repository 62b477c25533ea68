"""The 8x8 request builder, variable rules and outcome table, without any IO."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from service.events import Scalar
from service.platforms.base import Delivery
from service.platforms.eight_by_eight.adapter import EightByEightAdapter
from service.platforms.eight_by_eight.settings import EightByEightSettings
from service.platforms.eight_by_eight.wire import (
    PRIVATE_MASK,
    Variable,
    build_request,
    classify,
    credential_of,
    mask_private,
    private_values,
    variables_of,
    wire_value,
)
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest, HttpResponse
from tests.unit.factories import T0

SETTINGS = EightByEightSettings(
    base_url="https://vcc-na1.8x8.example/",
    tenant_id="acme",
    action_token=SecretStr("tok-1"),
)
FIELDS = {
    "_Sentiment": FieldMapping.model_validate({"from": "sentiment.label"}),
    "_Score": FieldMapping.model_validate(
        {"from": "sentiment.score", "display": True, "display_name": "Score", "data_type": "number"}
    ),
    "_Vip": FieldMapping.model_validate({"from": "vip", "ivr": True}),
    "_Card": FieldMapping.model_validate({"from": "card", "privacy": True}),
}


def settings(**changes: Any) -> EightByEightSettings:
    return SETTINGS.model_copy(update=changes)


def delivery(
    values: dict[str, Scalar] | None = None, ref: dict[str, str] | None = None
) -> Delivery:
    return Delivery(
        "acme",
        "call-1",
        7,
        ref if ref is not None else {"guid": "int-1/a b", "call_id": "abc@10.0.0.1"},
        "voice",
        None,
        T0,
        values
        if values is not None
        else {"_Sentiment": "negative", "_Score": -0.62, "_Vip": True, "_Card": "4111"},
    )


def built(
    s: EightByEightSettings = SETTINGS,
    d: Delivery | None = None,
    fields: dict[str, FieldMapping] | None = None,
) -> HttpRequest:
    request = build_request(s, FIELDS if fields is None else fields, d or delivery())
    assert isinstance(request, HttpRequest), request
    return request


def refused(
    s: EightByEightSettings = SETTINGS,
    d: Delivery | None = None,
    fields: dict[str, FieldMapping] | None = None,
) -> Outcome:
    outcome = build_request(s, FIELDS if fields is None else fields, d or delivery())
    assert isinstance(outcome, Outcome), outcome
    return outcome


# --- request building --------------------------------------------------------------------------


def test_guid_route_is_url_encoded_under_the_prefix() -> None:
    request = built()
    assert request.method == "POST"
    assert request.url == "https://vcc-na1.8x8.example/api/v1/interaction/data/guid/int-1%2Fa%20b"


def test_call_id_route_and_a_custom_prefix() -> None:
    request = built(settings(identifier="call_id", path_prefix="/api/tstats/interaction/data/"))
    assert request.url == (
        "https://vcc-na1.8x8.example/api/tstats/interaction/data/callId/abc%4010.0.0.1"
    )


def test_headers_carry_basic_tenant_and_token_and_the_idempotency_key() -> None:
    headers = credential_of(settings()).apply(built()).headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"acme:tok-1").decode()
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "acme:call-1:7"


def test_variables_are_text_with_flags_only_when_set() -> None:
    body = orjson.loads(built().body or b"")
    assert body == {
        "variables": [
            {"name": "_Sentiment", "value": "negative"},
            {
                "name": "_Score",
                "value": "-0.62",
                "display": True,
                "displayName": "Score",
                "dataType": "number",
            },
            {"name": "_Vip", "value": "true", "ivr": True},
            {"name": "_Card", "value": "4111", "privacy": True},
        ]
    }


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("variables", {"variables": [{"name": "_Sentiment", "value": "x"}]}),
        ("data_list", {"data": [{"variables": [{"name": "_Sentiment", "value": "x"}]}]}),
        ("data_object", {"data": {"variables": [{"name": "_Sentiment", "value": "x"}]}}),
    ],
)
def test_body_shape_follows_the_setting(shape: str, expected: dict[str, Any]) -> None:
    request = built(settings(body_shape=shape), delivery({"_Sentiment": "x"}))
    assert orjson.loads(request.body or b"") == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("04 July 2019", "04 July 2019"),
        (110, "110"),
        (110.55, "110.55"),
        (1e20, "100000000000000000000"),
        (2.5e-7, "0.00000025"),
        (True, "true"),
        (False, "false"),
        (None, None),
    ],
)
def test_wire_values_are_plain_text(value: Scalar, text: str | None) -> None:
    assert wire_value(value) == text


def test_null_values_are_left_out_and_unmapped_names_carry_no_flags() -> None:
    variables = variables_of({"_Gone": None, "_Other": 3}, FIELDS)
    assert variables == [Variable("_Other", "3")]


def test_nothing_left_to_write_is_delivered_without_a_call() -> None:
    outcome = refused(d=delivery({"_Sentiment": None}))
    assert outcome.kind is OutcomeKind.DELIVERED


@pytest.mark.parametrize(
    ("identifier", "ref", "missing"),
    [
        ("guid", {"call_id": "abc@host"}, "ref.guid"),
        ("call_id", {"guid": "int-1"}, "ref.call_id"),
        ("guid", {"guid": ""}, "ref.guid"),
    ],
)
def test_missing_identifier_is_permanent_missing_routing(
    identifier: str, ref: dict[str, str], missing: str
) -> None:
    outcome = refused(settings(identifier=identifier), delivery(ref=ref))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "missing_routing")
    assert missing in (outcome.excerpt or "")


# --- variable rules ----------------------------------------------------------------------------


def one(name: str, value: Scalar = "v", **flags: Any) -> tuple[Delivery, dict[str, FieldMapping]]:
    """A delivery of one variable; flags bypass FieldMapping's own checks on purpose, to test
    the adapter's last line of defence."""
    rule = FieldMapping.model_construct(source="x", **flags)
    return delivery({name: value}), {name: rule}


@pytest.mark.parametrize(
    ("name", "value", "flags", "reason"),
    [
        ("Sentiment", "v", {}, "invalid_variable"),
        ("_", "v", {}, "invalid_variable"),
        ("_Sent iment", "v", {}, "invalid_variable"),
        ("_Sentiment-2", "v", {}, "invalid_variable"),
        ("_Sëntiment", "v", {}, "invalid_variable"),
        ("_Sentiment\n", "v", {}, "invalid_variable"),
        ("_" + "a" * 24, "v", {}, "name_too_long"),
        ("_Long", "x" * 1001, {}, "value_too_long"),
        ("_Label", "v", {"display_name": "L" * 30}, "display_name_too_long"),
        ("_Kind", "v", {"data_type": "money"}, "invalid_data_type"),
    ],
)
def test_rule_violations_are_permanent_and_name_the_variable(
    name: str, value: Scalar, flags: dict[str, Any], reason: str
) -> None:
    d, fields = one(name, value, **flags)
    outcome = refused(d=d, fields=fields)
    assert (outcome.kind, outcome.reason, outcome.error_class) == (
        OutcomeKind.PERMANENT,
        reason,
        "InvalidVariable",
    )
    assert repr(name) in (outcome.excerpt or "")


@pytest.mark.parametrize(
    ("name", "value", "flags"),
    [
        ("_" + "a" * 23, "v", {}),
        ("_Long", "x" * 1000, {}),
        ("_Label", "v", {"display_name": "L" * 29}),
        ("_Kind", "v", {"data_type": "phone number"}),
    ],
)
def test_values_at_the_limits_are_sent(name: str, value: Scalar, flags: dict[str, Any]) -> None:
    d, fields = one(name, value, **flags)
    built(d=d, fields=fields)


def test_limits_come_from_the_settings() -> None:
    d, fields = one("_" + "a" * 24)
    built(settings(name_max_length=25), d, fields)
    d, fields = one("_Long", "x" * 11)
    assert refused(settings(value_max_length=10), d, fields).reason == "value_too_long"


def test_more_variables_than_allowed_is_permanent() -> None:
    values: dict[str, Scalar] = {f"_V{i}": i for i in range(3)}
    outcome = refused(settings(max_variables=2), delivery(values), {})
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "too_many_variables")


def test_a_private_value_too_long_is_refused_without_quoting_it() -> None:
    d, fields = one("_Card", "4111" * 300, privacy=True)
    outcome = refused(d=d, fields=fields)
    assert outcome.reason == "value_too_long"
    assert "4111" not in (outcome.excerpt or "")


# --- outcome table -----------------------------------------------------------------------------


def respond(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return HttpResponse(status, headers or {}, raw)


def error(status: int, message: str) -> HttpResponse:
    return respond(status, {"status": "error", "code": status, "message": message})


@pytest.mark.parametrize(
    ("status", "kind", "reason", "error_class"),
    [
        (200, OutcomeKind.DELIVERED, "delivered", None),
        (204, OutcomeKind.DELIVERED, "delivered", None),
        (400, OutcomeKind.PERMANENT, "rejected", "VendorRejected"),
        (401, OutcomeKind.PERMANENT, "auth_failed", "AuthError"),
        (403, OutcomeKind.PERMANENT, "permission_denied", "AuthError"),
        (404, OutcomeKind.PERMANENT, "not_found", "VendorRejected"),
        (408, OutcomeKind.RETRY, "http_408", "VendorThrottled"),
        (409, OutcomeKind.PERMANENT, "http_409", "VendorRejected"),
        (429, OutcomeKind.RETRY, "http_429", "VendorThrottled"),
        (500, OutcomeKind.RETRY, "http_500", "VendorUnavailable"),
        (502, OutcomeKind.RETRY, "http_502", "VendorUnavailable"),
        (503, OutcomeKind.RETRY, "http_503", "VendorUnavailable"),
    ],
)
def test_outcome_table(
    status: int, kind: OutcomeKind, reason: str, error_class: str | None
) -> None:
    outcome = classify(error(status, "m"), [], T0)
    assert (outcome.kind, outcome.reason, outcome.status, outcome.error_class) == (
        kind,
        reason,
        status,
        error_class,
    )


def test_rejection_excerpt_is_the_vendor_message() -> None:
    message = "Invalid variable name: must start with underscore"
    outcome = classify(error(400, message), [], T0)
    assert outcome.excerpt == message


def test_a_non_json_answer_is_kept_as_text() -> None:
    outcome = classify(respond(502, b"<html>Bad gateway</html>"), [], T0)
    assert outcome.excerpt == "<html>Bad gateway</html>"


def test_401_says_the_action_token_was_refused() -> None:
    outcome = classify(error(401, "Authentication failed"), [], T0)
    assert outcome.excerpt is not None
    assert "action token" in outcome.excerpt
    assert "Authentication failed" in outcome.excerpt


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("12", 12.0),
        ((T0 + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT"), 30.0),
    ],
)
def test_429_carries_retry_after_only_when_the_vendor_said(
    header: str | None, seconds: float | None
) -> None:
    headers = {} if header is None else {"retry-after": header}
    outcome = classify(respond(429, b"", headers), [], T0)
    assert (outcome.kind, outcome.retry_after) == (OutcomeKind.RETRY, seconds)


def test_excerpt_is_bounded() -> None:
    outcome = classify(error(400, "x" * 5000), [], T0)
    assert outcome.excerpt is not None
    assert len(outcome.excerpt) <= 1000


# --- private values ----------------------------------------------------------------------------


def test_private_values_are_the_privacy_flagged_wire_values() -> None:
    assert private_values(delivery().values, FIELDS) == ["4111"]


@pytest.mark.parametrize("status", [400, 404, 429, 500])
def test_an_echoed_private_value_is_masked_in_every_excerpt(status: int) -> None:
    response = error(status, "Invalid value '4111-2222' for variable _Card: too long")
    outcome = classify(response, ["4111-2222"], T0)
    assert outcome.excerpt == f"Invalid value '{PRIVATE_MASK}' for variable _Card: too long"


def test_masking_happens_before_the_excerpt_is_cut() -> None:
    secret = "S" * 40
    body = b"x" * 980 + secret.encode()  # the cut at 1000 would keep half of it
    outcome = classify(respond(500, body), [secret], T0)
    assert outcome.excerpt is not None
    assert "SSSSS" not in outcome.excerpt


def test_masking_covers_json_escaped_and_nested_values() -> None:
    secret = 'he said "hi"'
    escaped = orjson.dumps(secret).decode()[1:-1]
    assert mask_private(f"raw {secret} / json {escaped}", [secret]) == (
        f"raw {PRIVATE_MASK} / json {PRIVATE_MASK}"
    )
    assert mask_private("a 12345 b", ["123", "12345"]) == f"a {PRIVATE_MASK} b"


def test_adapter_declares_its_platform_and_write_window() -> None:
    assert EightByEightAdapter.platform == "8x8"
    assert EightByEightAdapter.write_window == "after_close"
