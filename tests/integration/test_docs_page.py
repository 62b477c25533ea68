"""``/docs`` works on a machine that reaches nothing but itself: every file the page loads is
served by the service (and by each vendor simulator, whose control API is read there too)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from service.http_server import AppServer
from service.simulators.serve import simulators
from tests.unit.test_admin_routes import admin_parts


class _Links(HTMLParser):
    """Every URL the page makes a browser fetch: scripts, stylesheets, icons, and the
    strings a script passes to Swagger UI (the OpenAPI document, the OAuth2 redirect)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += [w.strip("'\",;") for w in data.split() if "//" in w or w[1:2] == "/"]


def _service() -> Any:
    return admin_parts().app


@pytest.mark.parametrize(
    "make_app", [_service, *simulators().values()], ids=["service", *simulators()]
)
async def test_the_docs_page_loads_nothing_from_another_host(make_app: Any) -> None:
    async with AppServer(make_app()) as server, httpx.AsyncClient(timeout=10) as client:
        page = await client.get(f"{server.url}/docs")
        assert page.status_code == 200
        links = _Links()
        links.feed(page.text)
        assert any(u.endswith(".js") for u in links.urls), page.text
        assert any(u.endswith(".css") for u in links.urls), page.text
        for url in links.urls:
            absolute = urljoin(f"{server.url}/docs", url)
            assert urlsplit(absolute).netloc == urlsplit(server.url).netloc, url
            fetched = await client.get(absolute)
            assert fetched.status_code == 200, url
        # The alternative renderer loads from a CDN too; it is not offered at all.
        assert (await client.get(f"{server.url}/redoc")).status_code == 404
