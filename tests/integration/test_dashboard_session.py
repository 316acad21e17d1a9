"""The dashboard's cookie session: one signing secret per installation, kept in the data dir, and
a Secure cookie when the public URL is https."""

from __future__ import annotations

import asyncio
import re

import httpx

from openrevox.app import create_app
from openrevox.config import Settings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in_page(app, base_url: str, cookies: httpx.Cookies | None = None) -> httpx.Response:  # noqa: ANN001
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, cookies=cookies) as client:
        return await client.get("/dashboard/sign-in")


def test_the_secret_is_made_once_and_every_process_reads_the_same(tmp_path) -> None:
    first = create_app(Settings(data_dir=tmp_path), run_services=False)
    page = asyncio.run(sign_in_page(first, "http://testserver"))
    token = CSRF.search(page.text).group(1)
    secret = (tmp_path / "session_secret").read_text()
    assert len(secret) >= 40 and (tmp_path / "session_secret").stat().st_mode & 0o777 == 0o600

    # Another process on the same data dir (a restart, a second worker) reads the same session.
    second = create_app(Settings(data_dir=tmp_path), run_services=False)
    again = asyncio.run(sign_in_page(second, "http://testserver", page.cookies))
    assert CSRF.search(again.text).group(1) == token
    assert (tmp_path / "session_secret").read_text() == secret


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path) -> None:
    plain = asyncio.run(sign_in_page(create_app(Settings(data_dir=tmp_path), run_services=False), "http://testserver"))
    assert "secure" not in plain.headers["set-cookie"].lower()
    app = create_app(Settings(data_dir=tmp_path, public_url="https://calls.example.com"), run_services=False)
    secure = asyncio.run(sign_in_page(app, "https://testserver")).headers["set-cookie"].lower()
    assert "; secure" in secure and "httponly" in secure and "samesite=lax" in secure
