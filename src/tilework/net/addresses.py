"""Which IP addresses an outbound fetch must never reach, and why.

Anything not on the public internet is refused: loopback, private, link-local (the cloud
metadata service at 169.254.169.254 among them), shared CGNAT space, multicast, reserved and
documentation ranges. IPv6 forms that carry an IPv4 address inside them (IPv4-mapped,
IPv4-compatible, 6to4, NAT64) are judged by the address they carry, so ``::ffff:127.0.0.1`` is
loopback. Python's ``is_global`` alone misses several of these (it calls ``::127.0.0.1``,
``2002:7f00:1::`` and ``fec0::1`` global), hence the explicit table.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

_IPV4_BLOCKED: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.88.99.0/24", "reserved (6to4 relay anycast)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_IPV6_BLOCKED: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(network), reason)
    for network, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("fc00::/7", "unique local (ULA)"),
        ("ff00::/8", "multicast"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("2001::/32", "Teredo tunnel"),
        ("100::/64", "discard-only"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is off limits (``"loopback"``, ``"IPv4-mapped private"``, …), or None
    when it is a public address."""
    if isinstance(address, IPv4Address):
        return _ipv4_reason(address)
    for network, reason in _IPV6_BLOCKED:
        if address in network:
            return reason
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        form, inner = embedded
        carried = _ipv4_reason(inner)
        return None if carried is None else f"{form} {carried}"
    return None if address.is_global else "reserved"


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an IP address (brackets and an IPv6 zone allowed), or None for a name."""
    bare = text.strip("[]").split("%", 1)[0]
    try:
        return ip_address(bare)
    except ValueError:
        return None


def _ipv4_reason(address: IPv4Address) -> str | None:
    for network, reason in _IPV4_BLOCKED:
        if address in network:
            return reason
    return None if address.is_global else "reserved"


def _embedded_ipv4(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _NAT64:
        return "NAT64", IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE:
        return "IPv4-compatible", IPv4Address(int(address) & 0xFFFFFFFF)
    return None
