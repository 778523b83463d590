"""Subscription users, their account states, and gateway JWTs.

Account states (settable through ``POST /sim/control/accounts``):

* ``active``: everything works.
* ``expired``: FO 200 CODE 2001; QPS 200 UNAUTHORIZED; ``POST /auth`` 401 "Subscription expired".
* ``no_api``: FO 403 CODE 2002; QPS HTTP 403; ``POST /auth`` 401 "API access disabled".
* ``no_asset_inventory``: auth works; gateway asset endpoints 403; QPS hostasset 200 UNAUTHORIZED.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass

from simulators.qualys.timefmt import wall_ms

STATES = ("active", "expired", "no_api", "no_asset_inventory")


@dataclass(slots=True)
class Account:
    """One API user."""

    username: str
    password: str
    state: str = "active"

    @property
    def user_uuid(self) -> str:
        """A stable per-user UUID (used in X-Powered-By and the JWT)."""
        return str(uuid.UUID(bytes=hashlib.md5(f"user:{self.username}".encode(), usedforsecurity=False).digest()))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Accounts:
    """User registry plus JWT issuing/validation."""

    def __init__(self, seed: int, pod: str, jwt_ttl_seconds: int) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, Account] = {}
        self._secret = hashlib.sha256(f"qualys-sim-jwt:{seed}".encode()).digest()
        self._issued = 0
        self._revoked_upto = 0
        self.pod = pod
        self.jwt_ttl_seconds = jwt_ttl_seconds
        self.subscription_uuid = str(
            uuid.UUID(bytes=hashlib.md5(f"sub:{seed}".encode(), usedforsecurity=False).digest())
        )

    def upsert(self, username: str, password: str | None, state: str | None) -> Account:
        """Create or update a user."""
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        with self._lock:
            account = self._users.get(username)
            if account is None:
                if password is None:
                    raise ValueError("password is required for a new account")
                account = Account(username, password, state or "active")
                self._users[username] = account
            else:
                if password is not None:
                    account.password = password
                if state is not None:
                    account.state = state
            return account

    def get(self, username: str) -> Account | None:
        """A user by name."""
        return self._users.get(username)

    def check(self, username: str, password: str) -> Account | None:
        """The account when the password matches, else None."""
        account = self._users.get(username)
        if account is None or not hmac.compare_digest(account.password.encode(), password.encode()):
            return None
        return account

    def check_basic(self, header: str | None) -> Account | None:
        """Validate an ``Authorization: Basic`` header."""
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = raw.partition(":")
        return self.check(username, password) if sep else None

    # ------------------------------------------------------------------ JWT
    def issue_token(self, account: Account) -> str:
        """A signed HS256 JWT for ``account`` that expires after ``jwt_ttl_seconds``."""
        with self._lock:
            self._issued += 1
            jti = self._issued
        now = wall_ms() // 1000
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {
            "iss": "qualys-simulator",
            "sub": account.username,
            "user_uuid": account.user_uuid,
            "subscription_uuid": self.subscription_uuid,
            "pod": self.pod,
            "token_type": "ACCESS",
            "iat": now,
            "exp": now + self.jwt_ttl_seconds,
            "jti": jti,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(payload, separators=(",", ":")).encode())
        )
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    def revoke_all(self) -> int:
        """Invalidate every token issued so far; returns how many were issued."""
        with self._lock:
            self._revoked_upto = self._issued
            return self._issued

    def check_bearer(self, header: str | None) -> tuple[Account | None, str]:
        """Validate ``Authorization: Bearer``; returns (account, failure message)."""
        if not header or not header.lower().startswith("bearer "):
            return None, "Not authenticated"
        token = header[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            return None, "Not authenticated"
        signing_input = f"{parts[0]}.{parts[1]}"
        expected = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        try:
            signature = _unb64url(parts[2])
            payload = json.loads(_unb64url(parts[1]))
        except (binascii.Error, ValueError):
            return None, "Not authenticated"
        if not isinstance(payload, dict) or not hmac.compare_digest(signature, expected):
            return None, "Not authenticated"
        if int(payload.get("exp", 0)) <= wall_ms() // 1000 or int(payload.get("jti", 0)) <= self._revoked_upto:
            return None, "JWT expired"
        account = self._users.get(str(payload.get("sub", "")))
        if account is None:
            return None, "Not authenticated"
        return account, ""
