import base64
import os

import pytest

from standardiste.privacy.crypto import DecryptionError, FieldCipher


def key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_round_trip_and_no_plaintext_in_storage():
    cipher = FieldCipher(key())
    stored = cipher.encrypt("Je voudrais un rendez-vous, Dupont Marie", "calls.transcript")
    assert stored is not None and "Dupont" not in stored
    assert cipher.decrypt(stored, "calls.transcript") == "Je voudrais un rendez-vous, Dupont Marie"
    assert cipher.encrypt(None) is None and cipher.decrypt(None) is None


def test_same_text_encrypts_differently():
    cipher = FieldCipher(key())
    assert cipher.encrypt("x") != cipher.encrypt("x")


def test_wrong_key_or_context_is_refused():
    stored = FieldCipher(key()).encrypt("secret", "a")
    with pytest.raises(DecryptionError):
        FieldCipher(key()).decrypt(stored, "a")
    cipher = FieldCipher(key())
    with pytest.raises(DecryptionError):
        cipher.decrypt(cipher.encrypt("secret", "a"), "b")
    with pytest.raises(DecryptionError):
        cipher.decrypt("plain text", "a")


def test_bad_key_length():
    with pytest.raises(ValueError):
        FieldCipher(base64.urlsafe_b64encode(b"short").decode())
