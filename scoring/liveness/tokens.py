"""Challenge tokens: a random phrase and its expiry, signed with the server's secret (HMAC-SHA256).

Any web process holding the secret verifies a token without shared state; a token is accepted once
(its nonce is remembered until it expires). The phrase's words come from `VOCABULARY`: common words
of three or more phones, each in the recogniser's dictionary and unlike the others, because the check
aligns the audio against the phrase and short or similar words are confused with each other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

from scoring.errors import Code, ServiceError

VOCABULARY = (
    "blue", "green", "orange", "purple", "silver", "yellow",
    "three", "four", "five", "seven", "nine", "twelve",
    "river", "garden", "window", "mountain", "paper", "table",
    "coffee", "summer", "morning", "pencil", "rocket", "dragon",
)  # fmt: skip


@dataclass(frozen=True)
class Challenge:
    token: str
    phrase: str
    expires_at: float  # Unix time

    def to_json(self) -> dict:
        return {"challenge": self.token, "phrase": self.phrase, "expires_at": int(self.expires_at)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ChallengeBook:
    """Issues and redeems challenges; used nonces live in memory until their tokens expire."""

    def __init__(self, secret: bytes, ttl_s: float, words: int):
        self._secret = secret
        self.ttl_s = ttl_s
        self.words = words
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, now: float | None = None) -> Challenge:
        now = time.time() if now is None else now
        phrase = " ".join(secrets.SystemRandom().sample(VOCABULARY, self.words))
        payload = _b64(json.dumps({"p": phrase, "e": round(now + self.ttl_s), "n": secrets.token_hex(8)}).encode())
        return Challenge(f"{payload}.{self._sign(payload)}", phrase, round(now + self.ttl_s))

    def redeem(self, token: str, now: float | None = None) -> str:
        """The phrase of a genuine, unexpired, unused token; the token is used up. Raises a 4xx otherwise."""
        now = time.time() if now is None else now
        claims = self._verified_claims(token)
        if claims["e"] < now:
            raise ServiceError(Code.CHALLENGE_EXPIRED, "the challenge has expired; ask GET /challenge for a new phrase")
        with self._lock:
            self._used = {nonce: expiry for nonce, expiry in self._used.items() if expiry >= now}
            if claims["n"] in self._used:
                raise ServiceError(Code.CHALLENGE_USED, "this challenge was already used; ask GET /challenge for a new phrase")
            self._used[claims["n"]] = claims["e"]
        return claims["p"]

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def _verified_claims(self, token: str) -> dict:
        payload, _, signature = token.strip().partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise ServiceError(Code.INVALID_CHALLENGE, "the challenge token is not one this service issued")
        try:
            claims = json.loads(_unb64(payload))
            if not (isinstance(claims["p"], str) and isinstance(claims["e"], int) and isinstance(claims["n"], str)):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise ServiceError(Code.INVALID_CHALLENGE, "the challenge token is malformed") from None
        return claims
