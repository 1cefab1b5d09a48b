"""Every form of a non-public address is refused, named by what it is; public ones pass."""

from __future__ import annotations

import pytest

from tilework.core.errors import ErrorCode, TileworkError
from tilework.net.addresses import blocked_reason, parse_address
from tilework.net.policy import FetchPolicy

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.255", "CGNAT"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "reserved"),  # TEST-NET-1
    ("198.18.0.1", "reserved"),  # benchmarking
    ("192.88.99.1", "6to4 relay"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("2002:7f00:1::", "6to4 loopback"),
    ("2002:a9fe:a9fe::1", "6to4 link-local"),
    ("64:ff9b::7f00:1", "NAT64 loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 link-local"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("2001::1", "Teredo"),
    ("2001:db8::1", "reserved"),  # documentation
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("text", "reason"), BLOCKED)
def test_blocked_addresses_are_named(text: str, reason: str) -> None:
    address = parse_address(text)
    assert address is not None
    found = blocked_reason(address)
    assert found is not None and reason in found


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    address = parse_address(text)
    assert address is not None
    assert blocked_reason(address) is None


PLAINLY_BAD = [
    "http://127.0.0.1/",
    "http://127.1/",  # short forms resolvers still accept
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://0/",
    "http://[::1]:8000/x",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:a9fe:a9fe]/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1%25eth0]/",
    "http://[fd00::1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://100.64.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost:8000/",
    "https://user:pass@127.0.0.1/",
    "ftp://example.com/photo.png",
    "file:///etc/passwd",
    "gopher://example.com/",
    "http:///nohost",
    "http://[::1/",
]


@pytest.mark.parametrize("url", PLAINLY_BAD)
def test_plainly_bad_urls_are_refused_without_dns(url: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"resolved {host}")

    with pytest.raises(TileworkError) as refused:
        FetchPolicy(resolver=no_dns).check_url(url)
    assert refused.value.code is ErrorCode.SSRF_BLOCKED
    assert refused.value.details["reason"]


def test_names_pass_the_url_check_and_are_checked_when_resolved() -> None:
    answers = {"images.example": ["93.184.216.34"], "evil.example": ["93.184.216.34", "10.0.0.7"]}
    policy = FetchPolicy(resolver=lambda host, port: answers[host])
    policy.check_url("https://images.example/a.png")
    policy.check_url("https://evil.example/a.png")
    assert policy.addresses("images.example", 443) == ["93.184.216.34"]
    # One private answer among public ones is enough to refuse the name.
    with pytest.raises(TileworkError) as refused:
        policy.addresses("evil.example", 443)
    assert refused.value.code is ErrorCode.SSRF_BLOCKED
    assert "10.0.0.7" in refused.value.message


def test_the_allow_list_names_hosts_and_networks() -> None:
    answers = {"supabase.internal": ["10.0.0.5"], "other.internal": ["10.0.0.6"]}
    policy = FetchPolicy.allowing(
        ["Supabase.Internal", "192.168.7.0/24", "[fd00::5]"], resolver=lambda h, p: answers[h]
    )
    policy.check_url("http://supabase.internal:8000/storage")
    assert policy.addresses("supabase.internal", 8000) == ["10.0.0.5"]
    policy.check_url("http://192.168.7.20/")
    policy.check_url("http://[fd00::5]/")
    assert policy.addresses("192.168.7.20", 80) == ["192.168.7.20"]
    for url in ("http://192.168.8.1/", "http://[fd00::6]/", "http://10.0.0.5/"):
        with pytest.raises(TileworkError):
            policy.check_url(url)
    with pytest.raises(TileworkError):
        policy.addresses("other.internal", 80)


def test_a_name_that_does_not_resolve_is_a_download_failure() -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(TileworkError) as failed:
        FetchPolicy(resolver=nothing).addresses("nowhere.example", 80)
    assert failed.value.code is ErrorCode.DOWNLOAD_FAILED
    assert failed.value.retryable
