"""The HTTP surface's OpenAPI document says what each route really answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service.api import create_app
from service.health import Health
from service.metrics import Metrics

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Health(), Metrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://enricher") as client:
        yield client


async def test_metrics_is_documented_as_prometheus_text_not_json(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    ok = document["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(ok["content"]) == [PROMETHEUS_TEXT]
    assert ok["content"][PROMETHEUS_TEXT]["schema"] == {"type": "string"}
    assert "# TYPE enricher_" in ok["content"][PROMETHEUS_TEXT]["example"]


async def test_metrics_answers_what_the_document_says(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    (documented,) = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == documented
    assert "# TYPE enricher_consumed_total counter" in response.text
