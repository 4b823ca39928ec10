"""harness._tls: one TLS context for the harness's clients, built once, still verifying."""

from __future__ import annotations

import os
import ssl

from harness._tls import tls_context


def test_every_caller_gets_the_same_context() -> None:
    assert tls_context() is tls_context()


def test_the_shared_context_verifies_like_httpx_default() -> None:
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    if not (os.environ.get("SSL_CERT_DIR") and not os.environ.get("SSL_CERT_FILE")):
        assert context.cert_store_stats()["x509_ca"] > 0  # the bundle (a directory: lazily)
