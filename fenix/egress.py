"""Where webhooks may go (SSRF): public addresses, plus what the operator allows (FENIX_WEBHOOK_ALLOW).

A subscription URL is a tenant's choice, and the worker POSTs to it from inside the cloud's control plane. Without
a check a tenant could make Fenix POST to the metadata service (169.254.169.254), Temporal's frontend, the API's own
port, or anything on a private network. Refused unless the operator allows them:

- addresses that are not global: loopback in any spelling (`127.1`, `2130706433`, `0x7f.1`, `[::1]`,
  `[::ffff:7f00:1]`: all parsed to the address first), `0.0.0.0`, private ranges, carrier-grade NAT, link-local (the
  metadata address), multicast, reserved; IPv6 forms that embed an IPv4 address are judged by that address;
- `localhost` and `*.localhost`;
- URLs with a user name or password (they would travel to the VNFM, and they hide where a URL points);
- the ports of the API and of Temporal (frontend, internal services, Web UI), on any host;
- the API's own public address.

The API checks a URL when it is subscribed (422), resolving its name; the delivery activity checks again at every
POST, on the addresses the name resolves to then, and connects to exactly the address it checked, so a name that
later resolves elsewhere (DNS rebinding) does not pass.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fenix.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Temporal's frontend, history, matching, worker services (gRPC and membership) and its Web UI.
TEMPORAL_PORTS = frozenset({7233, 7234, 7235, 7239, 6933, 6934, 6935, 6939, 8233})
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """A webhook destination Fenix will not reach; the message says why (safe to show the tenant)."""


def parse_address(text: str) -> IPAddress | None:
    """An IP literal in any spelling the resolver accepts (`127.1`, `2130706433`, `0x7f.0.0.1`, `[::1]`), or None."""
    host = text.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # the BSD forms: 127.1, 2130706433, 0x7f.1, 0177.1
    except OSError:
        return None


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated) includes ::1 and ::; those are judged as IPv6 below.
    return None


def internal_reason(ip: IPAddress) -> str | None:
    """Why an address is internal (refused unless allowed), or None for a public one."""
    inner = _embedded_v4(ip)
    if inner is not None:
        why = internal_reason(inner)
        return f"{why} (as {ip})" if why else None
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is link-local (the cloud metadata service lives there)"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_private:
        return f"{ip} is a private address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    refused_ports: frozenset[int] = TEMPORAL_PORTS
    refused_origins: frozenset[tuple[str, int]] = field(default_factory=frozenset)  # the API's own (host, port)

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in (e.strip() for e in settings.webhook_allow.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        ports = set(TEMPORAL_PORTS) | {settings.api_port}
        temporal_port = settings.temporal_address.rsplit(":", 1)[-1]
        if temporal_port.isdigit():
            ports.add(int(temporal_port))
        own = urlsplit(settings.api_url)
        origins = set()
        if own.hostname:
            origins.add((own.hostname.lower(), own.port or (443 if own.scheme == "https" else 80)))
        return cls(tuple(networks), frozenset(hosts), frozenset(ports), frozenset(origins))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host and port if its form is acceptable (addresses are checked by `check_address`).

        Raises DestinationRefused."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise DestinationRefused("only http and https webhooks")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise DestinationRefused("a webhook URL must not carry a user name or password")
        host = (parts.hostname or "").lower()
        if not host:
            raise DestinationRefused("the webhook URL has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise DestinationRefused("the webhook URL has an invalid port") from None
        if port in self.refused_ports:
            raise DestinationRefused(f"port {port} is a port of Fenix's API or of Temporal")
        if (host.rstrip("."), port) in self.refused_origins:
            raise DestinationRefused("a webhook must not point at Fenix's own API")
        if self.host_allowed(host):
            return host, port
        literal = parse_address(host)
        if literal is not None:
            self.check_address(literal)
        elif host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
            raise DestinationRefused(f"{host} is a loopback name")
        return host, port

    def check_address(self, ip: IPAddress, host: str = "") -> None:
        """Raises DestinationRefused for an internal address that the operator did not allow."""
        if host and self.host_allowed(host):
            return
        if any(ip in net for net in self.allowed_networks):
            return
        inner = _embedded_v4(ip)
        if inner is not None and any(inner in net for net in self.allowed_networks):
            return
        why = internal_reason(ip)
        if why:
            raise DestinationRefused(f"{why}; webhooks may reach only public addresses unless the operator allows "
                                     "it (FENIX_WEBHOOK_ALLOW)")

    def check_resolved(self, host: str, addresses: Iterable[str]) -> list[str]:
        """The addresses a name resolved to, if every one is acceptable (one internal address refuses the name)."""
        found = []
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            self.check_address(ip, host)
            found.append(text)
        if not found:
            raise DestinationRefused(f"{host} does not resolve")
        return found
