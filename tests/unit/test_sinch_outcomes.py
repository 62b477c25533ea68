"""The Sinch Contact Pro request builder and outcome table, without any IO."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from service.platforms.base import Delivery
from service.platforms.outcomes import Outcome, OutcomeKind
from service.platforms.sinch_contact_pro.adapter import SinchContactProAdapter
from service.platforms.sinch_contact_pro.settings import SinchContactProSettings
from service.platforms.sinch_contact_pro.wire import build_request, classify, credential_of
from service.transport import HttpRequest, HttpResponse, TransportError
from tests.unit.factories import T0

SETTINGS = SinchContactProSettings(
    base_url="https://acme.cc.sinch.example/",
    username="api-user",
    password=SecretStr("pw"),
    api_key=SecretStr("the-key"),
    extra_data_for_history={"voice": ["*"], "chat": ["Sentiment", "Score"]},
)


def delivery(
    channel: str | None = "voice",
    status: str | None = "Handled",
    ref: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Delivery:
    return Delivery(
        "acme",
        "call-1",
        3,
        ref if ref is not None else {"contact_id": "0A1B2C3D4E5F60718293A4B5C6D7E8F9"},
        channel,
        status,
        T0,
        values if values is not None else {"Sentiment": "neg", "Vip": True, "Score": 0.5},
    )


def request_of(result: HttpRequest | Outcome) -> HttpRequest:
    assert isinstance(result, HttpRequest), result
    return result


def outcome_of(result: HttpRequest | Outcome) -> Outcome:
    assert isinstance(result, Outcome), result
    return result


# --- build_request -----------------------------------------------------------------------------


def test_post_carries_id_and_attached_data_as_json_scalars() -> None:
    request = request_of(build_request(SETTINGS, delivery()))
    assert request.method == "POST"
    assert request.url == "https://acme.cc.sinch.example/RI/cmi/contactData"
    assert orjson.loads(request.body or b"") == {
        "id": "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "attachedData": {"Sentiment": "neg", "Vip": True, "Score": 0.5},
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "acme:call-1:3"


def test_basic_auth_and_the_api_key_travel_in_their_headers() -> None:
    custom = SETTINGS.model_copy(update={"api_key_header": "X-Sinch-Key"})
    request = credential_of(custom).apply(request_of(build_request(custom, delivery())))
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded)) == ("Basic", b"api-user:pw")
    assert request.headers["X-Sinch-Key"] == "the-key"
    assert "X-Api-Key" not in request.headers


def test_no_api_key_header_when_the_tenant_has_none() -> None:
    on_premise = SETTINGS.model_copy(update={"api_key": None})
    request = credential_of(on_premise).apply(request_of(build_request(on_premise, delivery())))
    assert "X-Api-Key" not in request.headers
    assert "Authorization" in request.headers


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_channels_other_than_voice_and_chat_are_permanent_without_a_call(channel: str) -> None:
    outcome = outcome_of(build_request(SETTINGS, delivery(channel=channel)))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "channel_not_supported")
    assert outcome.excerpt is not None
    assert channel in outcome.excerpt


@pytest.mark.parametrize(
    ("channel", "ref"), [(None, None), ("voice", {}), ("chat", {"contact_id": ""})]
)
def test_missing_channel_or_contact_id_is_missing_routing(
    channel: str | None, ref: dict[str, str] | None
) -> None:
    outcome = outcome_of(build_request(SETTINGS, delivery(channel=channel, ref=ref)))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "missing_routing")


def test_a_status_outside_the_disconnected_set_is_retried_without_a_call() -> None:
    outcome = outcome_of(build_request(SETTINGS, delivery(status="Connected")))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.RETRY, "contact_not_disconnected")
    assert outcome.excerpt is not None
    assert "Connected" in outcome.excerpt


@pytest.mark.parametrize("status", [None, "WrapUp", "Handled", "Abandoned", "Deleted", "HANDLED"])
def test_disconnected_or_unstated_status_is_sent(status: str | None) -> None:
    request_of(build_request(SETTINGS, delivery(status=status)))


def test_disconnected_statuses_follow_the_settings() -> None:
    narrow = SETTINGS.model_copy(update={"disconnected_statuses": ("Handled",)})
    outcome = outcome_of(build_request(narrow, delivery(status="WrapUp")))
    assert outcome.reason == "contact_not_disconnected"


def test_a_key_off_the_channel_allow_list_is_permanent_and_named() -> None:
    outcome = outcome_of(build_request(SETTINGS, delivery(channel="chat")))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "key_not_allowed")
    assert outcome.excerpt is not None
    assert "'Vip'" in outcome.excerpt
    assert "Sentiment" not in outcome.excerpt


def test_a_channel_without_an_allow_list_stores_nothing() -> None:
    voice_only = SETTINGS.model_copy(update={"extra_data_for_history": {"voice": ["*"]}})
    outcome = outcome_of(build_request(voice_only, delivery(channel="chat")))
    assert outcome.reason == "key_not_allowed"


@pytest.mark.parametrize("key", ["Bad Key", "1st", "-dash", "xmlThing", "a:b"])
def test_a_key_that_is_not_an_xml_name_is_permanent_and_named(key: str) -> None:
    outcome = outcome_of(build_request(SETTINGS, delivery(values={"Fine": 1, key: "x"})))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "invalid_key_name")
    assert outcome.excerpt is not None
    assert repr(key) in outcome.excerpt


def test_a_malformed_key_is_named_before_an_allow_list_miss() -> None:
    outcome = outcome_of(
        build_request(SETTINGS, delivery(channel="chat", values={"Vip": 1, "no good": 2}))
    )
    assert outcome.reason == "invalid_key_name"
    assert outcome.excerpt is not None
    assert "'Vip'" in outcome.excerpt
    assert "'no good'" in outcome.excerpt


def test_permanent_problems_win_over_waiting_for_a_disconnect() -> None:
    outcome = outcome_of(
        build_request(SETTINGS, delivery(status="Connected", values={"no good": 1}))
    )
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "invalid_key_name")


def test_each_channel_gets_only_the_fields_named_for_it() -> None:
    per_channel = SETTINGS.model_copy(
        update={"fields_by_channel": {"chat": ["Sentiment", "Score"]}}
    )

    chat = request_of(build_request(per_channel, delivery(channel="chat")))
    voice = request_of(build_request(per_channel, delivery(channel="voice")))

    assert orjson.loads(chat.body or b"")["attachedData"] == {"Sentiment": "neg", "Score": 0.5}
    assert orjson.loads(voice.body or b"")["attachedData"] == {
        "Sentiment": "neg",
        "Vip": True,
        "Score": 0.5,
    }


def test_a_channel_that_gets_no_field_is_done_without_a_call() -> None:
    no_chat = SETTINGS.model_copy(update={"fields_by_channel": {"chat": []}})
    outcome = outcome_of(build_request(no_chat, delivery(channel="chat", status="Connected")))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.DELIVERED, "delivered")


def test_a_field_named_for_a_channel_is_still_held_to_its_allow_list() -> None:
    wrong = SETTINGS.model_copy(update={"fields_by_channel": {"chat": ["Vip"]}})
    outcome = outcome_of(build_request(wrong, delivery(channel="chat")))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "key_not_allowed")


# --- classify ----------------------------------------------------------------------------------


def respond(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return HttpResponse(status, headers or {}, raw)


def error(code: str) -> dict[str, str]:
    return {"error": code, "message": f"simulated {code}"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (201, {"id": "c"}, OutcomeKind.DELIVERED, "delivered"),
        (200, b"", OutcomeKind.DELIVERED, "delivered"),
        (204, b"", OutcomeKind.DELIVERED, "delivered"),
        (400, error("contact_not_disconnected"), OutcomeKind.RETRY, "contact_state_refused"),
        (400, error("key_not_allowed"), OutcomeKind.PERMANENT, "key_not_allowed"),
        (400, error("invalid_key_name"), OutcomeKind.PERMANENT, "invalid_key_name"),
        (400, error("channel_not_supported"), OutcomeKind.PERMANENT, "channel_not_supported"),
        (400, error("invalid_body"), OutcomeKind.PERMANENT, "rejected"),
        (401, error("unauthorized"), OutcomeKind.PERMANENT, "auth_failed"),
        (401, error("password_expired"), OutcomeKind.PERMANENT, "auth_failed"),
        (403, error("forbidden"), OutcomeKind.PERMANENT, "permission_denied"),
        (404, error("not_found"), OutcomeKind.PERMANENT, "not_found"),
        (408, b"", OutcomeKind.RETRY, "http_408"),
        (409, error("contact_not_disconnected"), OutcomeKind.RETRY, "contact_state_refused"),
        (415, error("unsupported_media_type"), OutcomeKind.PERMANENT, "http_415"),
        (429, b"", OutcomeKind.RETRY, "http_429"),
        (500, error("injected_fault"), OutcomeKind.RETRY, "http_500"),
        (503, b"", OutcomeKind.RETRY, "http_503"),
    ],
)
def test_outcome_table(status: int, body: Any, kind: OutcomeKind, reason: str) -> None:
    outcome = classify(respond(status, body), T0)
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>HTTP Status 400 - Bad Request</h1></body></html>",
        b"",
        b"[1, 2]",
        b'{"error": 42}',
        b'{"message": "something else went wrong"}',
        "Ung\u00fcltige Anfrage".encode("latin-1"),
    ],
)
def test_a_400_that_cannot_be_placed_is_permanently_rejected(body: bytes) -> None:
    outcome = classify(respond(400, body), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "rejected")


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        (b"Contact is not in disconnected state", OutcomeKind.RETRY, "contact_state_refused"),
        (
            b"contact must be in wrap-up or handled state",
            OutcomeKind.RETRY,
            "contact_state_refused",
        ),
        (b"Key 'Vip' is not in ExtraDataForHistory", OutcomeKind.PERMANENT, "key_not_allowed"),
        (b"'1st' is not a valid XML name", OutcomeKind.PERMANENT, "invalid_key_name"),
        (b"Email contacts are not supported", OutcomeKind.PERMANENT, "channel_not_supported"),
    ],
)
def test_a_400_without_a_code_is_recognised_by_its_wording(
    text: bytes, kind: OutcomeKind, reason: str
) -> None:
    outcome = classify(respond(400, text), T0)
    assert (outcome.kind, outcome.reason) == (kind, reason)


# Sinch documents no error body: a refusal is known by the documented rule's wording, in
# whatever wrapping the body comes.

STATE_WORDINGS = [
    "contact not disconnected",
    "Contact must be disconnected (status must be one of: WrapUp, Handled, Abandoned, Deleted)",
    "contact 0A1B2C3D is in status Connected, not in a disconnected state",
    "The contact is still connected",
    "contact must be in wrap-up or handled state",
]
PERMANENT_WORDINGS = [
    ("Key 'Vip' is not in ExtraDataForHistory", "key_not_allowed"),
    (
        "Attached data keys are validated against channel (voice or chat) ExtraDataForHistory "
        "parameter: Vip",
        "key_not_allowed",
    ),
    ("Vip is not in Extra Data Included in Statistics", "key_not_allowed"),
    ("'1st' is not a valid XML element name", "invalid_key_name"),
    ("Only phone and chat channels are supported (email is not).", "channel_not_supported"),
    ("only phone and chat channels are supported, not sms", "channel_not_supported"),
]
WORDINGS = [(text, OutcomeKind.RETRY, "contact_state_refused") for text in STATE_WORDINGS] + [
    (text, OutcomeKind.PERMANENT, reason) for text, reason in PERMANENT_WORDINGS
]


def _html(text: str) -> bytes:
    return f"<html><body><h1>HTTP Status 400 - Bad Request</h1><p>{text}</p></body></html>".encode()


WRAPPINGS: dict[str, Callable[[str], bytes]] = {
    "plain text": str.encode,
    "json error": lambda text: orjson.dumps({"error": text}),
    "json message": lambda text: orjson.dumps({"message": text}),
    "error page": lambda text: orjson.dumps(
        {
            "timestamp": "2026-11-20T10:15:00.000Z",
            "status": 400,
            "error": "Bad Request",
            "message": text,
            "path": "/RI/cmi/contactData",
        }
    ),
    "code beside": lambda text: orjson.dumps({"error": "BAD_REQUEST", "code": 17, "detail": text}),
    "nested object": lambda text: orjson.dumps({"error": {"code": 400, "message": text}}),
    "errors list": lambda text: orjson.dumps({"errors": [{"status": "400", "detail": text}]}),
    "json string": orjson.dumps,
    "html page": _html,
    "xml": lambda text: f"<error><code>400</code><message>{text}</message></error>".encode(),
}


@pytest.mark.parametrize("wrap", WRAPPINGS.values(), ids=WRAPPINGS.keys())
@pytest.mark.parametrize(("text", "kind", "reason"), WORDINGS)
def test_a_refusal_is_recognised_by_its_wording_whatever_the_wrapping(
    wrap: Callable[[str], bytes], text: str, kind: OutcomeKind, reason: str
) -> None:
    outcome = classify(respond(400, wrap(text)), T0)
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, 400)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"errors": [{"code": "key_not_allowed", "keys": ["Vip"]}]}, "key_not_allowed"),
        ({"error": {"code": "invalid_key_name"}}, "invalid_key_name"),
        ({"code": "channel_not_supported"}, "channel_not_supported"),
    ],
)
def test_a_code_is_read_wherever_the_body_holds_it(body: dict[str, Any], reason: str) -> None:
    outcome = classify(respond(400, body), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, reason)


def test_a_known_code_wins_over_words_in_its_message() -> None:
    body = {"error": "invalid_value", "message": "values must be scalars: Handled", "keys": ["x"]}
    outcome = classify(respond(400, body), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "rejected")


def test_a_state_refusal_wins_over_channel_words_in_it() -> None:
    """A state refusal read as permanent loses the data; the reverse costs bounded retries."""
    body = {"error": "contact email-7 is in status Connected, not in a disconnected state"}
    outcome = classify(respond(400, body), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.RETRY, "contact_state_refused")


def test_a_key_refusal_wins_over_status_words_in_the_key_names() -> None:
    outcome = classify(respond(400, {"message": "not in ExtraDataForHistory: WrapUp, Handled"}), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "key_not_allowed")


@pytest.mark.parametrize("status", [409, 422])
def test_wording_is_read_on_the_other_statuses_a_refusal_may_come_with(status: int) -> None:
    outcome = classify(respond(status, {"error": "contact not disconnected"}), T0)
    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.RETRY,
        "contact_state_refused",
        status,
    )


@pytest.mark.parametrize(
    ("status", "reason"), [(405, "http_405"), (415, "http_415"), (404, "not_found")]
)
def test_wording_is_not_read_on_statuses_about_the_exchange(status: int, reason: str) -> None:
    outcome = classify(respond(status, b"contact not disconnected"), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, reason)


def test_a_deeply_nested_body_is_read_without_exhausting_recursion() -> None:
    body = b"[" * 1000 + b'"contact not disconnected"' + b"]" * 1000
    outcome = classify(respond(400, body), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.RETRY, "contact_state_refused")


def test_wording_is_not_trusted_outside_a_400() -> None:
    outcome = classify(respond(404, b"contact not in disconnected state"), T0)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "not_found")


def test_retry_after_is_read_in_seconds_and_as_a_date() -> None:
    seconds = classify(respond(429, headers={"retry-after": "12"}), T0)
    date = classify(respond(503, headers={"retry-after": "Fri, 20 Nov 2026 10:16:00 GMT"}), T0)
    assert seconds.retry_after == 12.0
    assert date.retry_after == 60.0


def test_excerpt_is_bounded_and_names_the_key_the_vendor_refused() -> None:
    long = classify(respond(400, b"x" * 5000), T0)
    named = classify(respond(400, {"error": "key_not_allowed", "keys": ["Vip"]}), T0)
    assert long.excerpt is not None
    assert len(long.excerpt) <= 1000
    assert named.excerpt is not None
    assert "Vip" in named.excerpt


class _Answers:
    """A transport double that gives one answer, or fails as a lost connection does."""

    def __init__(self, answer: HttpResponse | TransportError) -> None:
        self._answer = answer

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        if isinstance(self._answer, TransportError):
            raise self._answer
        return self._answer

    async def close(self) -> None:
        return None


ECHOING = SETTINGS.model_copy(
    update={"password": SecretStr("pw-0451"), "api_key": SecretStr("the-key")}
)
BASIC = base64.b64encode(b"api-user:pw-0451").decode()


@pytest.mark.parametrize(
    "answer",
    [
        respond(400, f"bad request from the-key, pw-0451, Basic {BASIC}".encode()),
        TransportError("connection", f"refused: X-Api-Key=the-key Authorization: Basic {BASIC}"),
    ],
)
async def test_the_adapter_scrubs_every_credential_from_what_it_reports(
    answer: HttpResponse | TransportError,
) -> None:
    adapter = SinchContactProAdapter(ECHOING, {}, _Answers(answer))
    outcome = await adapter.send(delivery())
    assert outcome.excerpt is not None
    for secret in ("the-key", "pw-0451", BASIC):
        assert secret not in outcome.excerpt
    assert "[redacted]" in outcome.excerpt
