"""Encryption at rest for transcripts and caller identities (AES-256-GCM).

The key comes from the per-install secrets (Secrets.encryption_key, urlsafe base64 of 32 bytes).
Ciphertexts are self-describing text: "v1:" + urlsafe base64(nonce || ciphertext+tag), so
they fit in ordinary text columns of SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1:"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """The stored value was not written with this key (or was tampered with)."""


class FieldCipher:
    def __init__(self, key_b64: str) -> None:
        key = base64.urlsafe_b64decode(key_b64.encode())
        if len(key) != 32:
            raise ValueError("encryption key must be 32 bytes (urlsafe base64)")
        self._key = key
        self._aead = AESGCM(key)
        # One blind-index key per "table.column", derived from the secret (never the AES key itself):
        # the same phone number gives unrelated indexes in two tables, so a stolen database cannot be
        # joined across tables on them.
        self._index_keys: dict[str, bytes] = {}

    def _index_key(self, column: str) -> bytes:
        key = self._index_keys.get(column)
        if key is None:
            if "." not in column:
                raise ValueError(f"blind index needs a 'table.column', got {column!r}")
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"standardiste blind index v2\x00" + column.encode(),
            ).derive(self._key)
            self._index_keys[column] = key
        return key

    def blind_index(self, value: str | None, column: str) -> str | None:
        """Keyed HMAC-SHA256 of a normalised value, for equality search on encrypted columns.

        Equal values give equal indexes within one column (that is the point, and what it leaks);
        without the key nobody can test a guess. `column` ("agenda_patients.phone") picks the key:
        indexes of two columns never match, even for the same value."""
        if value is None:
            return None
        mac = hmac.new(self._index_key(column), value.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()[:32]  # 128 bits: no collisions in practice, shorter index

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

    def encrypt_bytes(self, data: bytes, context: str) -> bytes:
        """Binary AES-GCM (recordings): nonce || ciphertext+tag, `context` authenticated."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context.encode())

    def decrypt_bytes(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context.encode())
        except InvalidTag as err:
            raise DecryptionError("cannot decrypt: wrong key or altered value") from err
