"""Webhook secrets encrypted at rest (Fernet): the key list is ALERT_SECRET_KEYS (docs/watch.md,
"Secrets"); a key derived from SECRET_KEY is always tried last, so secrets stored before keys
were configured still decrypt."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """No configured key decrypts the stored secret (a key was removed too early)."""


def _keys() -> MultiFernet:
    derived = base64.urlsafe_b64encode(
        hashlib.sha256(b"greenai-alert-secrets:" + settings.SECRET_KEY.encode()).digest()
    )
    keys = [Fernet(key) for key in settings.ALERT_SECRET_KEYS] + [Fernet(derived)]
    return MultiFernet(keys)


def secret_encrypt(plain: str) -> str:
    return _keys().encrypt(plain.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The channel's secret cannot be decrypted with ALERT_SECRET_KEYS: set it again."
        ) from None


def secret_reencrypt(token: str) -> str:
    """The same secret under the first key (after a rotation)."""
    return _keys().rotate(token.encode()).decode()
