"""Encryption at rest for transcripts and caller identities (AES-256-GCM).

The key comes from the per-install secrets (Secrets.encryption_key, urlsafe base64 of 32 bytes).
Ciphertexts are self-describing text: "v1:" + urlsafe base64(nonce || ciphertext+tag), so
they fit in ordinary text columns of SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """The stored value was not written with this key (or was tampered with)."""


class FieldCipher:
    def __init__(self, key_b64: str) -> None:
        key = base64.urlsafe_b64decode(key_b64.encode())
        if len(key) != 32:
            raise ValueError("encryption key must be 32 bytes (urlsafe base64)")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str | None, context: str = "") -> str | None:
        """`context` (e.g. the table and column) is authenticated: a value moved elsewhere won't decrypt."""
        if plaintext is None:
            return None
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str | None, context: str = "") -> str | None:
        if stored is None:
            return None
        if not stored.startswith(_PREFIX):
            raise DecryptionError("value is not an encrypted field")
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :].encode())
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
            return plain.decode("utf-8")
        except InvalidTag as err:
            raise DecryptionError("cannot decrypt: wrong key or altered value") from err
