"""Where webhooks may go (openrevox.postcall.safety): public http(s) addresses only, unless allowed."""

from __future__ import annotations

import asyncio

import pytest

from openrevox.postcall import safety
from openrevox.postcall.safety import UnsafeWebhookUrl, check_webhook_url, forbidden_address


def check(url: str, allow_private: bool = False, **kwargs) -> None:
    asyncio.run(check_webhook_url(url, allow_private=allow_private, **kwargs))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # loopback
        "http://127.8.9.10/hook",  # all of 127/8
        "http://10.1.2.3/hook",  # private
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[::1]:9000/hook",  # IPv6 loopback
        "http://[fe80::1]/hook",  # IPv6 link-local
        "http://[fd00::1]/hook",  # IPv6 unique local
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://0.0.0.0/hook",  # unspecified
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://224.0.0.1/hook",  # multicast
        "http://localhost:8000/hook",  # a hostname resolving to loopback
    ],
)
def test_private_targets_are_refused(url):
    with pytest.raises(UnsafeWebhookUrl, match="OPENREVOX_ALLOW_PRIVATE_WEBHOOKS"):
        check(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/hook"])
def test_private_targets_are_allowed_when_the_server_says_so(url):
    check(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "gopher://x", "http:///path"])
def test_only_http_and_https_with_a_host(url):
    with pytest.raises(UnsafeWebhookUrl, match="http"):
        check(url, allow_private=True)


def test_a_hostname_is_refused_if_any_of_its_addresses_is_private(monkeypatch):
    async def resolve(host, port):
        return ["93.184.215.14", "10.0.0.7"]

    monkeypatch.setattr(safety, "resolve", resolve)
    with pytest.raises(UnsafeWebhookUrl, match="10.0.0.7"):
        check("https://rebind.example/hook")


def test_a_hostname_with_only_public_addresses_passes(monkeypatch):
    async def resolve(host, port):
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    monkeypatch.setattr(safety, "resolve", resolve)
    check("https://example.com/hook")


def test_an_unresolvable_host_is_refused_at_send_but_accepted_when_given(monkeypatch):
    async def resolve(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr(safety, "resolve", resolve)
    with pytest.raises(UnsafeWebhookUrl, match="does not resolve"):
        check("https://not-yet.example/hook")
    check("https://not-yet.example/hook", unresolvable_ok=True)


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [("8.8.8.8", False), ("2001:4860:4860::8888", False), ("127.0.0.1", True), ("fe80::1%eth0", True)],
)
def test_forbidden_address(address, forbidden):
    assert forbidden_address(address) is forbidden


@pytest.mark.parametrize(
    ("url", "address", "target", "host", "sni"),
    [
        ("https://hooks.example.com/a?b=1", "93.184.215.14", "https://93.184.215.14/a?b=1", "hooks.example.com", "hooks.example.com"),
        ("http://hooks.example.com:8080/a", "2606:2800::1", "http://[2606:2800::1]:8080/a", "hooks.example.com:8080", None),
    ],
)  # fmt: skip
def test_a_send_is_pinned_to_the_checked_address(url, address, target, host, sni):
    """The request goes to the address that was checked, not to a second DNS answer."""
    pinned_url, headers, extensions = safety.pinned(url, address)
    assert pinned_url == target
    assert headers == {"host": host}
    assert extensions.get("sni_hostname") == sni
