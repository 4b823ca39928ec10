"""One TLS context for every HTTP client the harness opens.

An ``httpx.Client`` built with the default ``verify=True`` makes a TLS context of its own,
and that reads and parses the whole CA bundle (about 18 ms of CPU), even for a client
that only ever speaks plain HTTP to loopback. A run opens several clients per scenario run
(its users, the provider's control API, the fault nemesis, each request of a burst), so
that parsing was half of the harness's CPU. They all verify the same way, so they share
one context, built once, as httpx builds it (the CA bundle ``certifi`` ships, or
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as they are at the first call: set them before the
run starts). Verification stays on.

httpcore sets the ALPN protocols on the context of each TLS connection it opens; every
harness client speaks HTTP/1.1, so they all set the same. A client with ``http2=True``
would need a context of its own.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The context to pass as ``verify=`` to every httpx client of the harness."""
    return httpx.create_ssl_context()
