"""The admin token check: header parsing, the constant-time comparison, and the log line each
refusal leaves (rate-limited, on a fake clock)."""

from __future__ import annotations

import hmac
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from structlog.testing import capture_logs

from service.admin.auth import RefusalThrottle, bearer_token, guarded_route, token_matches

TOKEN = SecretStr("s3cret-token-value")
AUTH = {"Authorization": "Bearer s3cret-token-value"}
WRONG = {"Authorization": "Bearer guess-0000"}


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer a.b~c+/=", "a.b~c+/="),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("abc", None),
        ("Token abc", None),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("presented", "ok"),
    [
        ("s3cret-token-value", True),
        ("s3cret-token-valuE", False),
        ("s3cret-token-valu", False),
        ("s3cret-token-value ", False),
        ("", False),
        (None, False),
        ("s3cret-token-välue", False),
        ("\udcff", False),
    ],
)
def test_only_the_exact_token_matches(presented: str | None, ok: bool) -> None:
    assert token_matches(TOKEN, presented) is ok


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert token_matches(TOKEN, "s3cret-token-value")
    assert not token_matches(TOKEN, "nope")
    assert calls == [
        (b"s3cret-token-value", b"s3cret-token-value"),
        (b"s3cret-token-value", b"nope"),
    ]


# -- refusals are logged, each reason apart, at most once per client and window ------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("refusals", "logged"),
    [
        pytest.param([(0, "no_token", "a")], [0], id="the first is logged"),
        pytest.param(
            [(0, "no_token", "a"), (1, "no_token", "a"), (59, "no_token", "a")],
            [0, None, None],
            id="repeats within the window are counted, not logged",
        ),
        pytest.param(
            [
                (0, "no_token", "a"),
                (1, "no_token", "a"),
                (2, "no_token", "a"),
                (60, "no_token", "a"),
            ],
            [0, None, None, 2],
            id="the next line after the window says how many were left out",
        ),
        pytest.param(
            [
                (0, "no_token", "a"),
                (60, "no_token", "a"),
                (61, "no_token", "a"),
                (120, "no_token", "a"),
            ],
            [0, 0, None, 1],
            id="each line opens a new window",
        ),
        pytest.param(
            [(0, "no_token", "a"), (1, "wrong_token", "a"), (2, "no_token", "b")],
            [0, 0, 0],
            id="reasons and clients are limited apart",
        ),
    ],
)
def test_refusal_throttle(refusals: list[tuple[float, str, str]], logged: list[int | None]) -> None:
    throttle = RefusalThrottle(window=60)
    assert [throttle.admit(reason, client, now) for now, reason, client in refusals] == logged


def test_refusal_throttle_forgets_the_oldest_client_when_full() -> None:
    throttle = RefusalThrottle(window=60, max_tracked=2)
    assert [throttle.admit("no_token", c, 0) for c in ("a", "b", "c")] == [0, 0, 0]
    assert throttle.admit("no_token", "c", 1) is None  # still tracked
    assert throttle.admit("no_token", "a", 2) == 0  # forgotten: logged again


def _guarded_app(clock: Clock) -> FastAPI:
    router = APIRouter(route_class=guarded_route(TOKEN, clock=clock))

    @router.get("/admin/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app = FastAPI()
    app.include_router(router)
    return app


async def test_missing_and_wrong_tokens_are_logged_apart_and_rate_limited() -> None:
    clock = Clock()
    transport = httpx.ASGITransport(app=_guarded_app(clock), client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://enricher") as http:
        with capture_logs() as logs:
            for _ in range(3):
                assert (await http.get("/admin/ping")).status_code == 401
                assert (await http.get("/admin/ping", headers=WRONG)).status_code == 401
            clock.now += 61
            assert (await http.get("/admin/ping")).status_code == 401
            assert (await http.get("/admin/ping", headers=AUTH)).status_code == 200
    refused = [e for e in logs if e["event"] == "admin_token_refused"]
    assert [(e["reason"], e["suppressed"]) for e in refused] == [
        ("no_token", 0),
        ("wrong_token", 0),
        ("no_token", 2),
    ]
    assert all(e["log_level"] == "warning" for e in refused)
    assert all(e["client"] == "10.1.2.3" and e["path"] == "/admin/ping" for e in refused)
    assert "guess-0000" not in repr(logs)
    assert TOKEN.get_secret_value() not in repr(logs)
