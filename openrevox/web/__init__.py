"""The dashboard: server-rendered pages under /dashboard (and / leads there), signed in with an API
key, each page scoped to the signed-in organization. Its own sub-application, so its errors are
pages and its cookie session never touches the JSON API."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from openrevox.config import Settings
from openrevox.errors import NotFound, OpenRevoxError
from openrevox.web import assistants, auth, calls, campaigns
from openrevox.web.pages import HERE, PREFIX, render
from openrevox.web.session import session_secret

SESSION_DAYS = 7


def _handle_errors(dashboard: FastAPI) -> None:
    @dashboard.exception_handler(auth.SignInRequired)
    async def _sign_in(request: Request, _: Exception) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(path)}", status_code=303)

    @dashboard.exception_handler(auth.CsrfRefused)
    async def _csrf(request: Request, _: Exception) -> Response:
        message = "This form has expired or did not come from this dashboard: go back, reload the page and try again."
        return render(request, "error.html", {"title": "Form refused", "message": message}, status_code=403)

    @dashboard.exception_handler(NotFound)
    async def _not_found(request: Request, missing: NotFound) -> Response:
        return render(request, "not_found.html", {"what": missing.message}, status_code=404)

    @dashboard.exception_handler(404)
    async def _no_page(request: Request, _: Exception) -> Response:
        return render(request, "not_found.html", {"what": "No such page"}, status_code=404)

    @dashboard.exception_handler(OpenRevoxError)
    async def _refused(request: Request, error: OpenRevoxError) -> Response:
        return render(request, "error.html", {"title": "Refused", "message": error.message}, status_code=error.status_code)

    @dashboard.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, _: Exception) -> Response:
        return render(request, "error.html", {"title": "Bad request", "message": "This address is not valid."}, status_code=400)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the dashboard on `app` (sharing its state: engine, settings) and send / to it."""
    dashboard = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    dashboard.state = app.state
    dashboard.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings.data_dir),
        session_cookie="openrevox_session",
        max_age=SESSION_DAYS * 86400,
        path=PREFIX,
        same_site="lax",
        https_only=(settings.public_url or "").startswith("https://"),
    )
    _handle_errors(dashboard)
    dashboard.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (auth, calls, assistants, campaigns):
        dashboard.include_router(module.router)

    @dashboard.get("/")
    async def _home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/calls", status_code=303)

    app.mount(PREFIX, dashboard)

    @app.get("/", include_in_schema=False)
    async def _root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/calls", status_code=303)
