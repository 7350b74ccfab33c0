"""Who may call: bearer tokens from ``--token-file``, each with a role.

The token file holds no secrets: each line is a name, a role and the SHA-256
(hex) of the token's secret, so that reading the file gives no way in.
``new_token`` makes a secret and its line (``run.py token NAME ROLE``). A
request presents the secret as ``Authorization: Bearer <secret>``; its hash is
compared with every line's in constant time, and the secret itself is never
logged, stored or repeated in an answer.

Without a token file, only clients on this machine (loopback addresses) are
served, unless ``--insecure-no-auth`` opens the service to everyone.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .router import Role

TOKEN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
SECRET_PREFIX = "tq_"  # lets secret scanners and people recognise a leaked token
SECRET_BYTES = 32
REALM = "taskqueue"


class TokenFileError(ValueError):
    """The token file cannot be used; the message says where and why (never a secret)."""


@dataclass(frozen=True)
class Token:
    name: str
    role: Role
    digest: bytes  # SHA-256 of the secret


@dataclass(frozen=True)
class TokenTable:
    """The tokens of one token file."""

    path: str
    tokens: tuple[Token, ...]

    def find(self, secret: str) -> Token | None:
        """The token whose secret this is, or None. Every line is compared (in constant
        time each), so the time taken says nothing about which line, if any, matched."""
        presented = _digest(secret)
        found = None
        for token in self.tokens:
            if hmac.compare_digest(presented, token.digest):
                found = token
        return found


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"role must be one of {', '.join(Role)}, got {text!r}") from None


def check_token_name(name: str) -> str:
    if not TOKEN_NAME.fullmatch(name):
        raise ValueError("a token name is 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'")
    return name


def parse_tokens(text: str, path: str) -> TokenTable:
    """Lines of ``NAME ROLE SHA256``; blank lines and lines starting with # are skipped."""
    tokens: list[Token] = []
    names: set[str] = set()
    digests: set[bytes] = set()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        where = f"{path}, line {number}"
        if len(fields) != 3:
            raise TokenFileError(f"{where}: expected NAME ROLE SHA256, got {len(fields)} fields")
        name, role_text, digest_hex = fields
        try:
            check_token_name(name)
            role = parse_role(role_text)
        except ValueError as exc:
            raise TokenFileError(f"{where}: {exc}") from None
        if not SHA256_HEX.fullmatch(digest_hex):
            raise TokenFileError(
                f"{where}: the third field must be the SHA-256 of the secret, in 64 hex digits "
                "(run.py token NAME ROLE prints a line)"
            )
        digest = bytes.fromhex(digest_hex)
        if name in names:
            raise TokenFileError(f"{where}: the name {name!r} is used twice")
        if digest in digests:
            raise TokenFileError(f"{where}: the same secret is used twice")
        names.add(name)
        digests.add(digest)
        tokens.append(Token(name, role, digest))
    if not tokens:
        raise TokenFileError(f"{path}: holds no token (run.py token NAME ROLE prints a line)")
    return TokenTable(path, tuple(tokens))


def load_tokens(path: str) -> TokenTable:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read {path}: {exc}") from None
    return parse_tokens(text, path)


def new_token(name: str, role: Role) -> tuple[str, str]:
    """A new secret, and the token-file line that admits it as ``name`` with ``role``."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    return secret, f"{check_token_name(name)} {role} {_digest(secret).hex()}"


@functools.lru_cache(maxsize=1024)  # asked on every request without tokens
def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@dataclass(frozen=True)
class Identity:
    """Who a request comes from: the token's name (None without tokens) and its role."""

    name: str | None
    role: Role


@dataclass(frozen=True)
class Denied(Exception):
    """A request that may not go on: its status, message and extra headers."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


def _challenge(error: str | None = None) -> tuple[tuple[str, str], ...]:
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
    return (("WWW-Authenticate", value),)


class Authenticator:
    """Turns a request's ``Authorization`` header and address into an ``Identity``."""

    def __init__(self, tokens: TokenTable | None, open_to_all: bool = False) -> None:
        self._tokens = tokens
        self._open_to_all = open_to_all

    @property
    def uses_tokens(self) -> bool:
        return self._tokens is not None

    def reload_tokens(self) -> TokenTable | None:
        """Read the token file again and check every request against it from now on.

        None, and nothing changes, for a service without a token file. Raises
        ``TokenFileError`` if the file cannot be used: the tokens in use stay.
        A request already past its check is not asked again.
        """
        if self._tokens is None:
            return None
        table = load_tokens(self._tokens.path)
        self._tokens = table  # one reference: a request sees the old table or the new
        return table

    def identify(self, authorization: str | None, address: str) -> Identity:
        """Raises ``Denied``: 401 for a missing or wrong token, 403 for a client the
        service does not serve without tokens."""
        if self._tokens is None:
            if self._open_to_all or is_loopback(address):
                return Identity(None, Role.ADMIN)
            raise Denied(
                403,
                "this service serves only clients on its own machine until it is given "
                "--token-file",
            )
        if not authorization:
            raise Denied(
                401, "authentication required: send Authorization: Bearer <token>", _challenge()
            )
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Denied(
                401,
                "the Authorization header must be: Bearer <token>",
                _challenge("invalid_request"),
            )
        token = self._tokens.find(secret)
        if token is None:
            raise Denied(401, "invalid token", _challenge("invalid_token"))
        return Identity(token.name, token.role)

    @staticmethod
    def authorize(identity: Identity, needed: Role) -> None:
        if not identity.role.covers(needed):
            raise Denied(
                403,
                f"this needs the {needed} role; the token {identity.name!r} has {identity.role}",
                _challenge("insufficient_scope"),
            )
