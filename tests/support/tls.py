"""A throwaway certificate authority for HTTPS tests (trustme): server and client SSL contexts.

``TestCA().server_context("public.test")`` gives a server context with a leaf certificate for
the names given; ``client_context()`` trusts only this CA (never the system store), so a test
can only ever succeed against our own servers.
"""

from __future__ import annotations

import datetime
import ssl

import trustme

__all__ = ["DEFAULT_NAMES", "TestCA"]

#: Names on the default server certificate: the made-up names tests resolve to loopback.
DEFAULT_NAMES = ("public.test", "other.test", "localhost", "127.0.0.1")


class TestCA:
    """A trustme CA plus helpers to build server and client contexts."""

    __test__ = False

    def __init__(self) -> None:
        self.ca = trustme.CA()

    def server_context(self, *names: str, expired: bool = False) -> ssl.SSLContext:
        """A server context whose certificate covers ``names`` (default: DEFAULT_NAMES).

        ``expired=True``: valid from 2000-01-01 to 2001-01-01.
        """
        kwargs = {}
        if expired:
            kwargs = {"not_before": datetime.datetime(2000, 1, 1),
                      "not_after": datetime.datetime(2001, 1, 1)}
        cert = self.ca.issue_cert(*(names or DEFAULT_NAMES), **kwargs)  # type: ignore[arg-type]
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA."""
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cadata=self.ca.cert_pem.bytes().decode())
        return ctx

    def write_cert(self, directory: str, *names: str) -> tuple[str, str]:
        """Write a leaf cert chain and key for ``names`` as PEM files; returns (cert, key) paths."""
        cert = self.ca.issue_cert(*(names or DEFAULT_NAMES))
        cert_path, key_path = f"{directory}/cert.pem", f"{directory}/key.pem"
        with open(cert_path, "wb") as f:
            for blob in cert.cert_chain_pems:
                f.write(blob.bytes())
        cert.private_key_pem.write_to_path(key_path)
        return cert_path, key_path
