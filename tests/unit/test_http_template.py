"""URL and text templates of the generic HTTP platform, from tables."""

from __future__ import annotations

import pytest

from service.platforms.http.template import (
    TemplateProblem,
    UnfilledPlaceholder,
    parse_template,
    parse_url_template,
)


@pytest.mark.parametrize(
    ("source", "offset", "words"),
    [
        ("contacts/{ref.contact_id}", 0, "must start with '/'"),
        ("//evil.example/x", 0, "must not start with '//'"),
        ("/contacts/{ref.contact_id", 10, "never closed"),
        ("/contacts/ref.contact_id}", 24, "closes no placeholder"),
        ("/contacts/{}", 10, "empty placeholder"),
        ("/contacts/{sentiment}", 10, "unknown placeholder {sentiment}"),
        ("/contacts/{ref.contact-id}", 10, "unknown placeholder"),
        ("/contacts/{ref.contact_id}#top", 26, "fragment"),
        ("/contacts/{ref.contact_id}/x y", 28, "' ' cannot stand in a URL"),
        ("/a/{{b}}", 3, "cannot stand in a URL"),
        ("/a/{interaction_id}?q={ref.x", 22, "never closed"),
    ],
)
def test_a_bad_url_template_names_the_character_where_it_goes_wrong(
    source: str, offset: int, words: str
) -> None:
    with pytest.raises(TemplateProblem) as caught:
        parse_url_template(source)
    assert caught.value.offset == offset
    assert words in caught.value.message


@pytest.mark.parametrize(
    "source",
    [
        "/",
        "/contacts/{ref.contact_id}",
        "/contacts/{ref.contact_id}/segments/{ref.segment_id}?source=enricher&rev={revision}",
        "/t/{tenant}/i/{interaction_id}/{channel}/{status}/{idempotency_key}",
        "/v1/{ref.ticket_id}:update",
    ],
)
def test_good_url_templates_parse(source: str) -> None:
    assert parse_url_template(source).source == source


HOSTILE = [
    ("a/b", "a%2Fb"),
    ("../admin", "..%2Fadmin"),
    ("user@evil.example", "user%40evil.example"),
    ("x?admin=1", "x%3Fadmin%3D1"),
    ("x#frag", "x%23frag"),
    ("%2F", "%252F"),
    ("%2E%2E", "%252E%252E"),
    ("https://evil.example/steal", "https%3A%2F%2Fevil.example%2Fsteal"),
    ("a b&c=d", "a%20b%26c%3Dd"),
    ("ünïcode", "%C3%BCn%C3%AFcode"),
]


@pytest.mark.parametrize(("value", "encoded"), HOSTILE)
def test_every_value_is_percent_encoded_whole_in_the_path_and_in_the_query(
    value: str, encoded: str
) -> None:
    template = parse_url_template("/c/{ref.contact_id}/x?id={ref.contact_id}")
    assert template.render_url({"ref.contact_id": value}) == f"/c/{encoded}/x?id={encoded}"


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_value_that_would_be_a_path_step_is_refused(value: str) -> None:
    rendered = parse_url_template("/c/{ref.contact_id}").render_url({"ref.contact_id": value})
    assert isinstance(rendered, UnfilledPlaceholder)
    assert rendered.reason == "invalid_routing"


def test_the_same_value_is_fine_in_the_query() -> None:
    rendered = parse_url_template("/c?dir={ref.d}").render_url({"ref.d": ".."})
    assert rendered == "/c?dir=.."


def test_a_missing_id_is_named() -> None:
    rendered = parse_url_template("/c/{ref.contact_id}").render_url({"ref.call_id": "x"})
    assert rendered == UnfilledPlaceholder(
        "ref.contact_id", "the interaction has no value for it", "missing_routing"
    )


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("{ref.contact_id}", {"ref.contact_id": "a/b"}, "a/b"),
        ("{{literal}} {tenant}", {"tenant": "acme"}, "{literal} acme"),
        (
            "call {interaction_id} rev {revision}",
            {"interaction_id": "i", "revision": "3"},
            "call i rev 3",
        ),
    ],
)
def test_text_templates_fill_values_as_they_are(
    source: str, values: dict[str, str | None], expected: str
) -> None:
    assert parse_template(source).render(values) == expected


@pytest.mark.parametrize(("source", "offset"), [("x {oops", 2), ("x }", 2), ("{nope}", 0)])
def test_text_template_problems_have_offsets(source: str, offset: int) -> None:
    with pytest.raises(TemplateProblem) as caught:
        parse_template(source)
    assert caught.value.offset == offset
