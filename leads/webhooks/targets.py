"""Which URLs a webhook may be sent to (SSRF): http(s) only and, unless
WEBHOOKS_ALLOW_PRIVATE_TARGETS, never an address inside our own network
(private, loopback, link-local, multicast, reserved). Checked when an
endpoint is saved and again at each send, on the addresses the send uses:
a name that resolved to a public address yesterday may not today."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

SCHEMES = ("http", "https")


class TargetRefused(ValueError):
    """A URL webhooks must not be sent to; the message says why (never a secret)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # what the host resolved to, all allowed


def display_url(url: str) -> str:
    """The URL without any user:password part, for lists, logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"Not a valid URL: {error}.") from None
    if parts.scheme not in SCHEMES:
        raise TargetRefused("Use an http:// or https:// URL.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("Put credentials in the receiver's checks, not in the URL.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def refusal(address: str) -> str | None:
    """Why an address is off limits, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, flag in (
        ("reserved", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return kind
    if not ip.is_global:
        return "private"
    return None


def resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"The host {host} does not resolve ({error}).") from None
    # Keep the resolver's order (it prefers what is reachable), drop repeats.
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def check_target(url: str) -> Target:
    """Parse, resolve and vet a URL; raises TargetRefused with the reason."""
    scheme, host, port, path = parse(url)
    addresses = resolve(host, port)
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            kind = refusal(address)
            if kind:
                raise TargetRefused(
                    f"{host} resolves to a {kind} address ({address}): webhooks go to "
                    "public addresses only."
                )
    return Target(scheme, host, port, path, addresses)
