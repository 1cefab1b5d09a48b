"""Where outbound requests may go: the address rules of ``addresses`` plus an allow-list.

Two checks, at two times. ``check_url`` looks at a URL alone, without DNS, and refuses what is
plainly bad: a scheme other than http(s), a literal blocked address in any spelling the URL
allows (``127.1``, ``0x7f000001``, ``[::ffff:127.0.0.1]``), a ``localhost`` name. The API runs it
at submit. ``addresses`` resolves a host and checks every address it gets; the pinned transport
runs it for each connection it opens and then connects to exactly those addresses, so a name
that answers differently the second time (DNS rebinding) gains nothing.

The allow-list (``fetch_allow_hosts``) names hosts (any address they resolve to is accepted)
or IP networks (their addresses are accepted): a self-hosted Supabase on 10.0.0.5, say.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from urllib.parse import urlsplit

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Settings
from tilework.net.addresses import IPAddress, blocked_reason, parse_address

SCHEMES = frozenset({"http", "https"})
# host, port -> the IP addresses (as text) to connect to; the tests swap in their own
Resolver = Callable[[str, int], list[str]]
IPNetwork = IPv4Network | IPv6Network


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchPolicy:
    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def allowing(cls, entries: Iterable[str], resolver: Resolver | None = None) -> FetchPolicy:
        """A policy whose allow-list is ``entries``: host names, addresses or CIDR networks."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().lower()
            if not text:
                continue
            try:
                networks.append(ip_network(text.strip("[]"), strict=False))
            except ValueError:
                names.add(text.rstrip("."))
        return cls(frozenset(names), tuple(networks), resolver or system_resolver)

    def check_url(self, url: str) -> None:
        """Refuse, without DNS, a URL that can only reach a blocked place."""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            raise blocked(url, "it is not a valid URL") from None
        if parts.scheme.lower() not in SCHEMES:
            raise blocked(url, f"the scheme {parts.scheme or '(none)'!r} is not http or https")
        host = (hostname or "").rstrip(".")
        if not host:
            raise blocked(url, "it names no host")
        if host in self.allowed_names:
            return
        address = parse_address(host) or _legacy_ipv4(host)
        if address is not None:
            self._check_address(url, host, address)
        elif host == "localhost" or host.endswith(".localhost"):
            raise blocked(url, f"{host} is blocked (loopback)")

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return its addresses, all of them checked."""
        name = host.strip("[]").lower().rstrip(".")
        literal = parse_address(name)
        if literal is not None:
            self._check_address(host, name, literal)
            return [str(literal)]
        try:
            found = self.resolver(name, port)
        except OSError as exc:
            raise TileworkError(
                ErrorCode.DOWNLOAD_FAILED, f"cannot resolve {name}: {exc}", {"host": name}
            ) from exc
        if not found:
            raise TileworkError(ErrorCode.DOWNLOAD_FAILED, f"{name} has no address")
        if name in self.allowed_names:
            return found
        for text in found:
            address = parse_address(text)
            if address is None:
                raise blocked(name, f"it resolved to {text!r}, which is not an address")
            self._check_address(name, name, address)
        return found

    def _check_address(self, what: str, host: str, address: IPAddress) -> None:
        if any(address in network for network in self.allowed_networks):
            return
        reason = blocked_reason(address)
        if reason is not None:
            shown = host if host == str(address) else f"{host} ({address})"
            raise blocked(what, f"{shown} is blocked ({reason})")


def configured_policy(settings: Settings, *also_allowed: str) -> FetchPolicy:
    """The policy ``fetch_allow_hosts`` sets, also allowing ``also_allowed`` (a provider the
    operator configured, say)."""
    return FetchPolicy.allowing([*settings.fetch_allow_hosts, *also_allowed])


# The setting that lets a private host through, named in every refusal: whoever runs a source
# on their own network should not have to search the docs for it.
ALLOW_SETTING = "TILEWORK_FETCH_ALLOW_HOSTS"


def blocked(what: str, why: str) -> TileworkError:
    return TileworkError(
        ErrorCode.SSRF_BLOCKED,
        f"refusing to fetch {what}: {why}; if this host is yours, allow it with "
        f"""{ALLOW_SETTING}='["<host, address or network>"]' on the server""",
        {"reason": why, "setting": ALLOW_SETTING},
    )


def _legacy_ipv4(host: str) -> IPAddress | None:
    """The address of an old-style IPv4 spelling (``127.1``, ``2130706433``, ``0x7f.0.0.1``),
    which resolvers still accept; None for a real name."""
    if not host or not all(c in "0123456789abcdefx." for c in host) or not host[0].isdigit():
        return None
    try:
        return parse_address(socket.inet_ntoa(socket.inet_aton(host)))
    except OSError:
        return None
