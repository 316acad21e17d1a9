"""Recording links: the signature binds attempt and expiry; the installation key is made once."""

from __future__ import annotations

import asyncio
import stat
import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.requests import Request

from openrevox.api.recordings import recording_links
from openrevox.config import Settings
from openrevox.errors import Forbidden
from openrevox.recording_links import RecordingLinks, check, installation_key, signature

KEY = b"k" * 32
NOW = 1_800_000_000.0


def parts(url: str) -> tuple[str, int, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, int(query["expires"][0]), query["signature"][0]


def test_a_link_is_valid_until_it_expires():
    url = RecordingLinks("https://calls.example.com/", KEY, 3600, NOW).url("att-1")
    path, expires, sig = parts(url)
    assert url.startswith("https://calls.example.com/recordings/att-1.wav?")
    assert path == "/recordings/att-1.wav" and expires == NOW + 3600
    check(KEY, "att-1", expires, sig, NOW + 3599)
    with pytest.raises(Forbidden, match="expired") as expired:
        check(KEY, "att-1", expires, sig, NOW + 3600)
    assert expired.value.param == "expires"


@pytest.mark.parametrize(
    "attempt_id, expires_shift, key, mangle",
    [
        ("att-2", 0, KEY, False),  # another attempt's recording
        ("att-1", 86_400, KEY, False),  # a later expiry
        ("att-1", 0, b"another installation's key", False),
        ("att-1", 0, KEY, True),  # a signature altered by a character
    ],
)
def test_a_link_cannot_be_bent_to_another_attempt_expiry_or_key(attempt_id, expires_shift, key, mangle):
    _, expires, sig = parts(RecordingLinks("http://h", KEY, 60, NOW).url("att-1"))
    sig = ("A" if sig[0] != "A" else "B") + sig[1:] if mangle else sig
    with pytest.raises(Forbidden, match="signature is not valid"):
        check(key, attempt_id, expires + expires_shift, sig, NOW)


def test_signature_is_deterministic_and_url_safe():
    assert signature(KEY, "a", 1) == signature(KEY, "a", 1) != signature(KEY, "a", 2)
    assert set(signature(KEY, "a", 1)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_installation_key_is_made_once_private_and_shared_by_concurrent_starts(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(installation_key(settings))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    secret = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]
    assert installation_key(settings) == keys[0]  # a restart reads it back


def test_configured_secret_key_wins(tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="s" * 20)
    assert installation_key(settings) == b"s" * 20
    assert not (tmp_path / "secret_key").exists()


def test_a_short_configured_secret_key_fails_at_start():
    with pytest.raises(ValueError, match="secret_key"):
        Settings(secret_key="short")


def request_to(host: str, settings: Settings) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=settings, recording_key=KEY))
    scope = {"type": "http", "app": app, "scheme": "http", "server": ("10.0.0.5", 8000), "path": "/call/x",
             "root_path": "", "query_string": b"", "headers": [(b"host", host.encode())]}  # fmt: skip
    return Request(scope)


def test_links_are_on_the_public_url_when_set_else_on_the_requests_own_base(monkeypatch):
    monkeypatch.setenv("OPENREVOX_RECORDING_LINK_SECONDS", "120")
    own = asyncio.run(recording_links(request_to("10.0.0.5:8000", Settings())))
    assert own.url("a").startswith("http://10.0.0.5:8000/recordings/a.wav?expires=")
    assert own.lifetime == 120
    monkeypatch.setenv("OPENREVOX_PUBLIC_URL", "https://calls.example.com")
    public = asyncio.run(recording_links(request_to("10.0.0.5:8000", Settings())))
    assert public.url("a").startswith("https://calls.example.com/recordings/a.wav?expires=")
    # The host is not signed: a link stays valid through whatever proxy forwards it.
    _, expires, sig = parts(public.url("a"))
    check(KEY, "a", expires, sig, public.now)
