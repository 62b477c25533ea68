from __future__ import annotations

from service.redaction import Redactor


def test_known_secrets_and_token_shapes_are_masked() -> None:
    redact = Redactor(["s3cr3t-value"])
    text = redact(
        "failed with s3cr3t-value; Authorization: Bearer abc.def-ghi; "
        '{"access_token": "zzz", "ok": 1} eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ4In0.c2ln'
    )
    assert "s3cr3t-value" not in text
    assert "abc.def-ghi" not in text
    assert "zzz" not in text
    assert "eyJhbGciOiJIUzI1NiJ9" not in text
    assert '"ok": 1' in text


def test_short_secrets_are_not_used_as_patterns() -> None:
    # A one-character "secret" would mask every occurrence of that letter in every log line.
    assert Redactor(["a"])("banana") == "banana"
