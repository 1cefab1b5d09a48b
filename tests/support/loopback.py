"""Where the tests' own sources, receivers and second servers listen.

They all live on 127.0.0.1, which tilework's production fetch policy refuses like any private
address; the test servers keep that policy. A test that fetches from them or delivers to them
says so, with ``fetch_allow_hosts=LOOPBACK``.
"""

LOOPBACK = ["127.0.0.1"]
