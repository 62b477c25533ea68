"""The admin API fuzzed from its own OpenAPI document with schemathesis: valid and invalid
input for every route, never a 500, every answer as documented, and no route that works
without the token.

The app is the real one (routes, models, auth, views) on in-memory parts: a run makes several
hundred calls, and a DLQ read on a real broker takes most of a second. The same routes on the
real broker and service are in ``test_admin_api.py``. Examples are derandomized and few, so a
run is repeatable and takes a few seconds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from hypothesis import settings
from schemathesis import Case, GenerationMode

from tests.unit.factories import closed
from tests.unit.test_admin_routes import AUTH, Parts, admin_parts, dead_letter


def seeded_parts() -> Parts:
    """Something to find behind the documented examples, so 200 answers get checked too."""
    parts = admin_parts()
    event = closed(interaction_id="call-000123", fields={"crm_account": "A-1", "vip": True})
    asyncio.run(parts.ledger.merge(event, datetime.now(UTC), timedelta(days=7)))
    parts.dead_letters.records = [
        dead_letter(1, interaction="call-000123"),
        dead_letter(2, reason="not_found", minutes=5),
        dead_letter(3, tenant="eightco", platform="8x8", value=b"\x00not json"),
    ]
    return parts


APP = seeded_parts().app
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex="^/admin/")
valid_only = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex="^/admin/")
valid_only.config.generation.update(modes=[GenerationMode.POSITIVE])

FUZZ = settings(max_examples=15, derandomize=True, deadline=None, database=None)


@schema.parametrize()
@FUZZ
def test_every_admin_route_conforms_to_its_schema(case: Case[Any]) -> None:
    """All default checks: no 5xx, documented statuses, content types and bodies, invalid input
    refused, valid input accepted, and the route refusing the request without the token and
    with a wrong one."""
    case.call_and_validate(headers=AUTH)


@valid_only.parametrize()
@FUZZ
def test_no_admin_route_answers_without_the_token(case: Case[Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        response = case.call(headers=headers)
        assert response.status_code == 401, (case.operation.label, response.text)


@schema.parametrize()
@FUZZ
def test_every_refusal_is_a_4xx_that_says_why(case: Case[Any]) -> None:
    response = case.call(headers=AUTH)
    assert response.status_code < 500, (case.operation.label, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/json"]
        assert response.json()["detail"], response.text
