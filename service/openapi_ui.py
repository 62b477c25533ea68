"""``/docs`` served entirely by the application itself.

FastAPI's stock page loads Swagger UI's script and stylesheet from a CDN, so on a machine
without internet access (a laptop on a train, a locked-down cluster) it shows a blank page.
The same files ship in the ``swagger-ui-bundle-v2`` package and are served here, under
``/docs/assets``. ReDoc, the other stock renderer, is not offered: it too loads from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

__all__ = ["serve_docs"]


def serve_docs(app: FastAPI, path: str = "/docs") -> None:
    """Add the Swagger UI page at ``path`` to an app created with ``docs_url=None`` and
    ``redoc_url=None``."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None")
    assets = f"{path}/assets"
    redirect = f"{path}/oauth2-redirect"
    app.mount(assets, StaticFiles(directory=Path(str(swagger_ui_path))), name="swagger-ui")

    @app.get(path, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{redirect}",
        )

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
