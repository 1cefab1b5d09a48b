"""Certificates for an HTTPS server on 127.0.0.1, from a throwaway CA (``trustme``): the
server gets the certificate and key, clients get the CA through the environment
(``SSL_CERT_FILE`` for Python's httpx, ``NODE_EXTRA_CA_CERTS`` for Node), as a user's would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate clients trust
    cert: Path  # the server's certificate chain
    key: Path  # the server's private key

    def trusting_env(self) -> dict[str, str]:
        """The environment in which Python's and Node's clients trust the server."""
        return {"SSL_CERT_FILE": str(self.ca), "NODE_EXTRA_CA_CERTS": str(self.ca)}


def certificates(folder: Path) -> TlsFiles:
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    with files.cert.open("wb") as chain:
        for blob in issued.cert_chain_pems:
            chain.write(blob.bytes())
    return files
