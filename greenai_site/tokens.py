"""Prefixed secret tokens stored only as a keyed hash (collector and personal API tokens).

A token looks like ``<kind>_<prefix>_<secret>``. The prefix is stored in clear for lookup; the
whole token is stored as an HMAC-SHA256 digest under settings.TOKEN_HASH_KEY and compared in
constant time.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings

PREFIX_LENGTH = 8


@dataclass(frozen=True)
class NewToken:
    token: str  # shown to the user once, never stored
    prefix: str
    digest: str


def token_digest(token: str) -> str:
    key = settings.TOKEN_HASH_KEY.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def new_token(kind: str) -> NewToken:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    token = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewToken(token=token, prefix=prefix, digest=token_digest(token))


def token_prefix(token: str, kind: str) -> str | None:
    """The lookup prefix of a well-formed token of this kind, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[1]


def digest_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


def bearer_token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
