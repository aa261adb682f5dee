"""How livestyle's local HTTP servers defend themselves (the control API and the network output).

Modelled on what Jupyter's server does for a local web app:

* bind 127.0.0.1 unless the user names another address (and then warn);
* a random token per run, sent as ``Authorization: Bearer TOKEN`` (or
  ``?token=`` where a URL must carry it), compared in constant time;
* a ``Host`` header outside 127.0.0.1 / localhost / [::1] with our port is
  refused, which defeats DNS rebinding (a hostile page whose name resolves to
  127.0.0.1 still sends its own name as Host);
* a cross-origin ``Origin`` on a state-changing request is refused, and no
  wildcard CORS header is ever sent.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def new_token() -> str:
    """A fresh URL-safe random token (128 bits)."""
    return secrets.token_urlsafe(16)


def token_ok(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the run's token."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def bearer_token(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer TOKEN`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, str | None]:
    value = value.strip()
    if value.startswith("["):  # [::1]:8765
        end = value.find("]")
        if end < 0:
            return value, None
        host, rest = value[: end + 1], value[end + 1:]
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, None
    return host, port


def host_allowed(host_header: str | None, port: int, bind_host: str = "127.0.0.1") -> bool:
    """Whether a request's ``Host`` header names this server.

    Accepted: 127.0.0.1, localhost or [::1] with exactly ``port``; and, when
    the user bound an explicit non-loopback address, that address with ``port``.
    """
    if not host_header:
        return False
    host, p = _split_host(host_header.lower())
    if p is None or not p.isdigit() or int(p) != port:
        return False
    if host in ("127.0.0.1", "localhost", "[::1]"):
        return True
    bind = bind_host.lower()
    if bind not in ("", "0.0.0.0", "::") and not is_loopback(bind):
        return host == (f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind)
    return False


def origin_allowed(origin: str | None, host_header: str | None) -> bool:
    """A POST's ``Origin`` must be absent (curl, Stream Deck, OBS script) or this server's own origin."""
    if origin is None or origin == "":
        return True
    if not host_header:
        return False
    return origin.lower() in (f"http://{host_header.lower()}",)
