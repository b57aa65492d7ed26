"""Certificates for the TLS peers, made with trustme when the session starts."""

from __future__ import annotations

import pathlib
import ssl
from typing import Sequence

import attrs
import trustme

__all__ = ["PeerCerts", "make_certs"]


@attrs.frozen
class PeerCerts:
    """A throwaway CA and one server certificate it signed (for
    ``127.0.0.1``, ``::1`` and ``localhost``), as PEM files.

    ``client_context()`` makes a verifying client context that trusts the
    CA; ``alpn`` is what it offers (the trio client speaks only
    ``http/1.1`` today, so that is the default).
    """

    ca: trustme.CA
    ca_file: pathlib.Path
    cert_file: pathlib.Path
    key_file: pathlib.Path

    def client_context(self, alpn: Sequence[str] | None = ("http/1.1",)) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context


def make_certs(directory: pathlib.Path) -> PeerCerts:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "::1", "localhost")
    ca_file = directory / "ca.pem"
    cert_file = directory / "server-chain.pem"
    key_file = directory / "server-key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    # The chain (leaf first) in one file: nginx and hypercorn both take it so.
    server.private_key_pem.write_to_path(str(key_file))
    with open(cert_file, "wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    return PeerCerts(ca=ca, ca_file=ca_file, cert_file=cert_file, key_file=key_file)
