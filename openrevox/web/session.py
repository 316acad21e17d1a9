"""The dashboard's cookie session: its signing secret, its CSRF token and its one-time messages."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from fastapi import Request

SECRET_FILE = "session_secret"


def session_secret(data_dir: Path) -> str:
    """The cookie signing secret: made once per installation, kept in the data dir, shared by every
    worker process (the first to start writes it; the others read it)."""
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if secret:
            return secret
        # Another process created the file and is writing it: wait for its secret.
        return _wait_for_secret(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _wait_for_secret(path: Path) -> str:
    for _ in range(100):
        time.sleep(0.01)
        if secret := path.read_text().strip():
            return secret
    raise RuntimeError(f"{path} is empty: delete it and start again")


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if token is None:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def flash(request: Request, message: str) -> None:
    """A message shown once, on the next page."""
    request.session["flash"] = message


def take_flash(request: Request) -> str | None:
    return request.session.pop("flash", None)
