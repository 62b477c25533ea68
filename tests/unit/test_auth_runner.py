"""The runner over a fake transport: single-flight renewal, one retry after a refusal, and
what a renewal that gets no answer ends in. (Real HTTP: ``tests/contract/test_auth_flows.py``.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from service.auth import Authenticator, AuthError, ClientCredentials, DiscoveryCache, PasswordGrant
from service.auth.runner import SharedGets
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest, HttpResponse, TransportError
from tests.unit.auth_support import answer

TOKEN_URL = "https://idp.example/token"
API = HttpRequest("POST", "https://api.example/write", {}, b"{}")


class FakeVendor:
    """Answers by URL; counts what it was asked; lets a test hold answers at a gate."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()
        self.sent: list[HttpRequest] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.tokens = 0
        self.api: Callable[[HttpRequest], HttpResponse] = lambda _: answer(204)
        self.token_answer: Callable[[], HttpResponse] = self._token

    def _token(self) -> HttpResponse:
        self.tokens += 1
        return answer(200, {"access_token": f"t{self.tokens}", "expires_in": 100})

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        self.asked[request.url] += 1
        self.sent.append(request)
        await self.gate.wait()
        await asyncio.sleep(0)
        if request.url == TOKEN_URL:
            return self.token_answer()
        if request.url.endswith("openid-configuration"):
            return answer(200, {"token_endpoint": TOKEN_URL})
        return self.api(request)

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def runner(vendor: FakeVendor, clock: Clock | None = None) -> Authenticator:
    return Authenticator(
        ClientCredentials(TOKEN_URL, "app", "secret"),
        vendor,
        clock=clock or Clock(),
        shared_gets=SharedGets(),
    )


def bearer(request: HttpRequest) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ")


async def test_a_hundred_calls_with_an_expired_token_cause_one_token_request() -> None:
    vendor, clock = FakeVendor(), Clock()
    auth = runner(vendor, clock)
    await auth.send(API)
    clock.now = 95.0  # past 80% of the 100 s lifetime
    vendor.gate.clear()
    calls = [asyncio.create_task(auth.send(API)) for _ in range(100)]
    await asyncio.sleep(0.01)
    vendor.gate.set()
    responses = await asyncio.gather(*calls)
    assert {r.status for r in responses} == {204}
    assert vendor.asked[TOKEN_URL] == 2
    assert [bearer(r) for r in vendor.sent if r.url == API.url][1:] == ["t2"] * 100


async def test_a_401_causes_one_renewal_and_one_retry() -> None:
    vendor = FakeVendor()
    auth = runner(vendor)
    await auth.send(API)
    vendor.api = lambda r: answer(401) if bearer(r) == "t1" else answer(204)
    response = await auth.send(API)
    assert response.status == 204
    assert vendor.asked[TOKEN_URL] == 2
    assert [bearer(r) for r in vendor.sent if r.url == API.url] == ["t1", "t1", "t2"]


async def test_a_second_401_is_returned_for_the_adapter_to_classify_never_looped() -> None:
    vendor = FakeVendor()
    vendor.api = lambda _: answer(401)
    response = await runner(vendor).send(API)
    assert response.status == 401
    assert (vendor.asked[TOKEN_URL], vendor.asked[API.url]) == (2, 2)


async def test_many_calls_refused_at_once_renew_once() -> None:
    vendor = FakeVendor()
    auth = runner(vendor)
    await auth.send(API)
    vendor.api = lambda r: answer(401) if bearer(r) == "t1" else answer(204)
    responses = await asyncio.gather(*(auth.send(API) for _ in range(50)))
    assert {r.status for r in responses} == {204}
    assert vendor.asked[TOKEN_URL] == 2


async def test_a_refusal_of_a_token_already_replaced_renews_nothing() -> None:
    vendor = FakeVendor()
    auth = runner(vendor)
    await auth.send(API)  # t1
    held = asyncio.Event()

    def api(request: HttpRequest) -> HttpResponse:
        return answer(401) if bearer(request) == "t1" else answer(204)

    vendor.api = api
    late_gate = asyncio.Event()
    original = vendor.send

    async def send(request: HttpRequest, timeout: float) -> HttpResponse:
        if request.url == API.url and bearer(request) == "t1" and not held.is_set():
            held.set()
            await late_gate.wait()  # this t1 answer arrives after t2 is in use
        return await original(request, timeout)

    vendor.send = send  # type: ignore[method-assign]
    late = asyncio.create_task(auth.send(API))
    await held.wait()
    assert (await auth.send(API)).status == 204  # refused with t1, renews to t2
    late_gate.set()
    assert (await late).status == 204
    assert vendor.asked[TOKEN_URL] == 2  # the late refusal of t1 left t2 alone


async def test_a_failed_renewal_is_shared_by_every_waiter_and_tried_again_later() -> None:
    vendor = FakeVendor()
    vendor.token_answer = lambda: answer(401, {"error": "invalid_client"})
    auth = runner(vendor)
    results = await asyncio.gather(*(auth.send(API) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, AuthError) for r in results)
    reasons = {r.outcome.reason for r in results if isinstance(r, AuthError)}
    assert reasons == {"invalid_client"}
    assert (vendor.asked[TOKEN_URL], vendor.asked[API.url]) == (1, 0)
    vendor.token_answer = vendor._token
    assert (await auth.send(API)).status == 204
    assert vendor.asked[TOKEN_URL] == 2


@pytest.mark.parametrize("kind", ["timeout", "connection"])
async def test_a_renewal_without_an_answer_ends_in_the_no_answer_outcome(kind: str) -> None:
    class Silent(FakeVendor):
        async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
            raise TransportError(kind, "token.example:443 unreachable")

    with pytest.raises(AuthError) as raised:
        await runner(Silent()).send(API)
    outcome = raised.value.outcome
    assert (outcome.kind, outcome.reason, outcome.got_no_answer) == (OutcomeKind.RETRY, kind, True)
    assert "renewing credentials" in (outcome.excerpt or "")


async def test_the_write_itself_without_an_answer_stays_a_transport_error() -> None:
    vendor = FakeVendor()

    def api(request: HttpRequest) -> HttpResponse:
        raise TransportError("timeout", "no answer within 1s")

    vendor.api = api
    with pytest.raises(TransportError):
        await runner(vendor).send(API)


async def test_a_caller_giving_up_does_not_abandon_the_renewal_others_wait_for() -> None:
    vendor = FakeVendor()
    auth = runner(vendor)
    vendor.gate.clear()
    quitter = asyncio.create_task(auth.send(API))
    stayer = asyncio.create_task(auth.send(API))
    await asyncio.sleep(0.01)
    quitter.cancel()
    vendor.gate.set()
    assert (await stayer).status == 204
    assert vendor.asked[TOKEN_URL] == 1


async def test_tenants_of_one_issuer_starting_together_fetch_its_documents_once() -> None:
    vendor, shared, cache = FakeVendor(), SharedGets(), DiscoveryCache()
    runners = [
        Authenticator(
            PasswordGrant("https://idp.example", "app", "cs", f"user-{i}", "pw", discovery=cache),
            vendor,
            clock=Clock(),
            shared_gets=shared,
        )
        for i in range(100)
    ]
    vendor.gate.clear()
    calls = [asyncio.create_task(auth.send(API)) for auth in runners]
    await asyncio.sleep(0.01)
    vendor.gate.set()
    assert {r.status for r in await asyncio.gather(*calls)} == {204}
    assert vendor.asked["https://idp.example/.well-known/openid-configuration"] == 1
    assert vendor.asked[TOKEN_URL] == 100  # each tenant's own credentials, each its own token


async def test_a_get_carrying_credentials_is_never_shared() -> None:
    vendor, shared = FakeVendor(), SharedGets()
    request = HttpRequest("GET", "https://gws.example/api/v2/me", {"Authorization": "Basic x"})
    vendor.gate.clear()
    calls = [asyncio.create_task(shared.send(vendor, request, 1.0)) for _ in range(3)]
    await asyncio.sleep(0.01)
    vendor.gate.set()
    await asyncio.gather(*calls)
    assert vendor.asked[request.url] == 3
    assert len(shared) == 0


async def test_a_discovery_answer_serves_a_flow_that_asks_just_after_it_came() -> None:
    """The flows that asked fill their cache only when they next run; one that asks in
    between must not cause a second request."""
    vendor, shared = FakeVendor(), SharedGets()
    request = HttpRequest("GET", "https://idp.example/.well-known/openid-configuration")
    first = await shared.send(vendor, request, 1.0)
    second = await shared.send(vendor, request, 1.0)
    assert first is second
    assert vendor.asked[request.url] == 1


async def test_a_failed_discovery_is_asked_again_at_once() -> None:
    vendor, shared = FakeVendor(), SharedGets()
    request = HttpRequest("GET", "https://idp.example/.well-known/other")
    vendor.api = lambda _: answer(503)
    await shared.send(vendor, request, 1.0)
    await shared.send(vendor, request, 1.0)
    assert vendor.asked[request.url] == 2
