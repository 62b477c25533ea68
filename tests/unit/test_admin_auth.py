"""The admin token check, pure: header parsing and the constant-time comparison."""

from __future__ import annotations

import hmac
from typing import Any

import pytest
from pydantic import SecretStr

from service.admin.auth import bearer_token, token_matches

TOKEN = SecretStr("s3cret-token-value")


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
