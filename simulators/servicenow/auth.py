"""Users, Basic auth and OAuth (reference section 1.6).

* Basic: ``Authorization: Basic base64(user:password)`` on every request.
* ``POST /oauth_token.do`` (form-encoded only) with ``grant_type`` ``password``, ``refresh_token`` or
  ``client_credentials``.  The client authenticates with ``client_id``/``client_secret`` in the body or
  with ``Authorization: Basic base64(client_id:client_secret)`` (RFC 6749 section 2.3.1; a Basic header
  that disagrees with body credentials is refused).  Every failure (bad client, bad user, bad refresh
  token, unknown grant, JSON body, client credentials disabled) answers HTTP 401
  ``{"error": "server_error", "error_description": "access_denied"}``.
* A password/client-credentials request while a token of the same user and client is still valid
  returns that same token (``expires_in`` counts down).
* ``Authorization: Bearer <access token>``; expired or unknown tokens are rejected like bad passwords.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from simulators.servicenow.replies import Reply, Request, json_reply

DEFAULT_ROLES = ("itil", "asset", "import_transformer", "rest_service")
REFRESH_TTL_SECONDS = 100 * 86_400
_ACCESS_DENIED = {"error": "server_error", "error_description": "access_denied"}


def user_sys_id(username: str) -> str:
    """A stable 32-hex sys_id for an account (the simulator has no ``sys_user`` table to hold it)."""
    return hashlib.md5(f"sys_user:{username}".encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class User:
    """An account with its roles."""

    username: str
    password: str
    roles: tuple[str, ...]

    @property
    def sys_id(self) -> str:
        """The account's ``sys_user`` sys_id (what the dynamic filter "Me" stands for)."""
        return user_sys_id(self.username)

    def has_role(self, *roles: str) -> bool:
        """Whether the user has any of ``roles`` (``admin`` has every role)."""
        return "admin" in self.roles or any(role in self.roles for role in roles)


@dataclass(slots=True)
class Token:
    """An issued access or refresh token."""

    value: str
    kind: str  # "access" or "refresh"
    username: str
    client_id: str
    expires_at: float
    refresh: str = ""  # the refresh token paired with an access token


class Auth:
    """Accounts, OAuth clients and tokens."""

    def __init__(
        self,
        username: str,
        password: str,
        client_id: str,
        client_secret: str,
        token_ttl_seconds: int = 1800,
        seed: int = 1,
    ) -> None:
        self._lock = threading.Lock()
        self.users: dict[str, User] = {username: User(username, password, DEFAULT_ROLES)}
        self.clients: dict[str, str] = {client_id: client_secret}
        self.application_user = username  # the "OAuth Application User" for client credentials
        self.client_credentials_enabled = True
        self.token_ttl_seconds = token_ttl_seconds
        self._tokens: dict[str, Token] = {}
        self._seed = seed
        self._counter = 0

    # ------------------------------------------------------------------ accounts
    def upsert_user(self, username: str, password: str | None, roles: Iterable[str] | None) -> User:
        """Create or update an account."""
        with self._lock:
            user = self.users.get(username)
            if user is None:
                if password is None:
                    raise ValueError("password is required for a new user")
                user = User(username, password, tuple(roles) if roles is not None else DEFAULT_ROLES)
                self.users[username] = user
            else:
                if password is not None:
                    user.password = password
                if roles is not None:
                    user.roles = tuple(roles)
            return user

    def expire_all(self, include_refresh: bool = False) -> int:
        """Expire every access token (and refresh tokens when asked); returns how many."""
        with self._lock:
            now = time.time()
            expired = 0
            for token in self._tokens.values():
                if (token.kind == "access" or include_refresh) and token.expires_at > now:
                    token.expires_at = now - 1
                    expired += 1
            return expired

    def describe(self) -> dict[str, object]:
        """Configuration summary for the control API."""
        with self._lock:
            now = time.time()
            return {
                "users": {u.username: list(u.roles) for u in self.users.values()},
                "clients": sorted(self.clients),
                "client_credentials": self.client_credentials_enabled,
                "token_ttl_seconds": self.token_ttl_seconds,
                "valid_access_tokens": sum(
                    1 for t in self._tokens.values() if t.kind == "access" and t.expires_at > now
                ),
            }

    # ------------------------------------------------------------------ request authentication
    def authenticate(self, req: Request) -> User | None:
        """The user behind the request's Basic or Bearer credentials, or None."""
        header = (req.header("Authorization") or "").strip()
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            username, sep, password = decoded.partition(":")
            with self._lock:
                user = self.users.get(username)
            if user is None or not sep or not hmac.compare_digest(user.password, password):
                return None
            return user
        if scheme.lower() == "bearer":
            with self._lock:
                token = self._tokens.get(credential)
                if token is None or token.kind != "access" or token.expires_at <= time.time():
                    return None
                return self.users.get(token.username)
        return None

    # ------------------------------------------------------------------ OAuth
    def _new_value(self, kind: str) -> str:
        self._counter += 1
        seed = f"{self._seed}:{self._counter}:{kind}".encode()
        digest = hashlib.sha256(seed).digest() + hashlib.sha256(seed + b"/2").digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:86]

    def _issue(self, username: str, client_id: str, with_refresh: bool, refresh: str = "") -> Token:
        now = time.time()
        if with_refresh and not refresh:
            refresh_token = Token(self._new_value("refresh"), "refresh", username, client_id, now + REFRESH_TTL_SECONDS)
            self._tokens[refresh_token.value] = refresh_token
            refresh = refresh_token.value
        access = Token(self._new_value("access"), "access", username, client_id, now + self.token_ttl_seconds, refresh)
        self._tokens[access.value] = access
        return access

    def _valid_access(self, username: str, client_id: str, grant_refresh: bool) -> Token | None:
        now = time.time()
        for token in self._tokens.values():
            if (
                token.kind == "access"
                and token.username == username
                and token.client_id == client_id
                and token.expires_at > now
                and bool(token.refresh) == grant_refresh
            ):
                return token
        return None

    def _token_document(self, token: Token, include_refresh: bool) -> dict[str, object]:
        document: dict[str, object] = {"access_token": token.value}
        if include_refresh and token.refresh:
            document["refresh_token"] = token.refresh
        document["scope"] = "useraccount"
        document["token_type"] = "Bearer"
        document["expires_in"] = max(0, math.floor(token.expires_at - time.time()))
        return document

    @staticmethod
    def _client_credentials(req: Request, form: dict[str, str]) -> tuple[str, str] | None:
        """The client's id and secret: HTTP Basic (RFC 6749 2.3.1 ``client_secret_basic``) or the form body
        (``client_secret_post``); None when the Basic header is malformed or disagrees with the body."""
        header = (req.header("Authorization") or "").strip()
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "basic":
            return form.get("client_id", ""), form.get("client_secret", "")
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            return None
        # RFC 6749 2.3.1: both are form-urlencoded before being joined with ":"
        client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if form.get(name) not in (None, "", value):
                return None  # two different credentials in one request
        return client_id, client_secret

    def oauth_token(self, req: Request) -> Reply:
        """``POST /oauth_token.do``."""
        denied = json_reply(401, _ACCESS_DENIED)
        content_type = (req.header("Content-Type") or "").lower()
        if req.method != "POST" or "application/x-www-form-urlencoded" not in content_type:
            return denied
        form = req.form()
        client = self._client_credentials(req, form)
        if client is None:
            return denied
        client_id, client_secret = client
        grant = form.get("grant_type", "")
        with self._lock:
            secret = self.clients.get(client_id)
            if secret is None or not hmac.compare_digest(secret, client_secret):
                return denied
            if grant == "password":
                user = self.users.get(form.get("username", ""))
                if user is None or not hmac.compare_digest(user.password, form.get("password", "")):
                    return denied
                token = self._valid_access(user.username, client_id, True) or self._issue(
                    user.username, client_id, True
                )
                return json_reply(200, self._token_document(token, True))
            if grant == "refresh_token":
                refresh = self._tokens.get(form.get("refresh_token", ""))
                if (
                    refresh is None
                    or refresh.kind != "refresh"
                    or refresh.client_id != client_id
                    or refresh.expires_at <= time.time()
                ):
                    return denied
                token = self._issue(refresh.username, client_id, True, refresh.value)
                return json_reply(200, self._token_document(token, False))
            if grant == "client_credentials":
                if not self.client_credentials_enabled or self.application_user not in self.users:
                    return denied
                token = self._valid_access(self.application_user, client_id, False) or self._issue(
                    self.application_user, client_id, False
                )
                return json_reply(200, self._token_document(token, False))
        return denied
