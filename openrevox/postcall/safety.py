"""Where a webhook may go: http(s) to a public address, so that a tenant cannot make the server
probe its own network (loopback, private ranges, link-local and cloud metadata, ...).

The host is resolved and every address it resolves to must be public; checked when a webhook_url
is given (assistant or call create) and again before every send, since DNS answers change.
`OPENREVOX_ALLOW_PRIVATE_WEBHOOKS=1` lifts the address rule (local development, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from openrevox.errors import InvalidRequest


class UnsafeWebhookUrl(InvalidRequest):
    """Raised for a webhook_url the server refuses to call."""


def forbidden_address(address: str) -> bool:
    """True for any address that is not a public unicast one (IPv4-mapped IPv6 is unwrapped)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


async def check_webhook_url(
    url: str, *, allow_private: bool, param: str = "webhook_url", unresolvable_ok: bool = False
) -> list[str]:
    """Raise UnsafeWebhookUrl unless `url` is http(s) and (unless allowed) every address of its host
    is public; return those checked addresses (none when private ones are allowed), so that the
    request goes to one of them and not to a second, different DNS answer. A host that does not
    resolve is refused, unless `unresolvable_ok` (when a webhook_url is given: its DNS may not
    exist yet, and every send checks again)."""
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("webhook_url must be an http:// or https:// URL with a host", param=param)
    if allow_private:
        return []
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeWebhookUrl("webhook_url has an invalid port", param=param) from None
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        if unresolvable_ok:
            return []
        raise UnsafeWebhookUrl(f"webhook_url host '{host}' does not resolve", param=param) from None
    refused = [a for a in addresses if forbidden_address(a)]
    if refused or not addresses:
        raise UnsafeWebhookUrl(
            f"webhook_url host '{host}' resolves to {refused[0] if refused else 'nothing'}, a loopback, private, "
            "link-local or reserved address; webhooks go only to public addresses "
            "(set OPENREVOX_ALLOW_PRIVATE_WEBHOOKS=1 to allow them)",
            param=param,
        )
    return addresses


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """`url` aimed at the checked `address`: (the URL with the address as host, the Host header,
    the TLS server name) so the certificate is still verified for the original host name."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"host": parts.netloc.rsplit("@", 1)[-1]}, extensions
