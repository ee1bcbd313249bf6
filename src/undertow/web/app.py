"""The review app: `create_app(settings)` gives the FastAPI application `undertow serve` runs.

Pages are server-rendered (Jinja2, autoescaped) with one small script for keyboard shortcuts
and un-blurring media; nothing is fetched from elsewhere.  The JSON API under `/api/` does
everything the pages do, documented at `/api/openapi.json` (browsable at `/api/docs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from undertow import __version__
from undertow.settings import Settings, load_settings
from undertow.store import open_store
from undertow.web.api import api
from undertow.web.pages import pages
from undertow.web.security import LoginLimiter, session_key

SESSION_MAX_AGE_S = 8 * 3600


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Undertow review API",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.store = open_store(settings.db_url)
    app.state.limiter = LoginLimiter()
    folder = Path(str(resources.files("undertow").joinpath("web")))
    app.state.templates = Jinja2Templates(directory=str(folder / "templates"))
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(settings),
        session_cookie="undertow_session",
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=False,
    )
    app.mount("/static", StaticFiles(directory=str(folder / "static")), name="static")
    app.include_router(api)
    app.include_router(pages)

    return app


def app_from_env() -> FastAPI:
    """The app for uvicorn's worker processes (`undertow serve --workers N`): settings from
    the environment (`UNDERTOW_DB`, `UNDERTOW_DATA_DIR`, ...), which `serve` sets."""
    return create_app(load_settings())


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.store.close()
