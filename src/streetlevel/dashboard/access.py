"""Who may talk to the dashboard, and what a browser may do with its page.

The server listens on 127.0.0.1 by default, but a web page the user visits can still reach it
through the browser. Four rules keep such a page out:

- **The Host header names an address served** (DNS rebinding: a page of ``rebind.example``
  whose name is made to resolve to 127.0.0.1 sends ``Host: rebind.example``): a loopback name
  (``127.0.0.1``, ``localhost``, ``::1``), the ``--host`` address, a name given with
  ``--allow-host``, or, when the server listens on every address (``0.0.0.0``), any IP
  address, which no one can rebind (a rebinding needs a DNS name the attacker controls).
- **A state-changing request** (anything but GET and HEAD: every callback, "Start run"
  among them) with an ``Origin`` is refused unless the origin is the server's own: another
  site's page cannot press the buttons.
- **Beyond this machine, a token**, as Jupyter does: a server that listens on anything but a
  loopback address makes one (or takes ``--token``); the address printed at start-up carries
  it (``?token=``), the first page load exchanges it for a cookie of this port (HttpOnly,
  SameSite=Strict) and drops it from the address bar, and a request without it is answered 403.
- **Headers** that keep the page from being framed (``X-Frame-Options: DENY`` and CSP
  ``frame-ancestors 'none'``: no clickjacking of "Start run"), its files from being sniffed as
  another type (``X-Content-Type-Options: nosniff``), scripts other than the server's own and
  Dash's one inline script (by its hash) from running, and the token from leaking in a
  ``Referer``.

The checks are plain functions of the request's headers, tested without a server;
:func:`install` hooks them into the Flask server Dash runs on.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = [
    "LOOPBACK_NAMES",
    "TOKEN_ENV",
    "TOKEN_PARAMETER",
    "Access",
    "access_for",
    "content_security_policy",
    "host_allowed",
    "host_name",
    "install",
    "origin_allowed",
    "urls",
]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
TOKEN_PARAMETER = "token"
TOKEN_ENV = "STREETLEVEL_DASHBOARD_TOKEN"
"""Environment variable giving the token (instead of ``--token``, which shows in ``ps``)."""
TOKEN_BYTES = 24
"""Random bytes of a made token (32 URL-safe characters), as Jupyter's 24."""
SAFE_METHODS = frozenset({"GET", "HEAD"})
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Access:
    """Who may talk to a dashboard served on one address and port."""

    hosts: frozenset[str]
    """Names a request's Host header may give (lower case, without the port)."""
    any_ip: bool
    """Whether any IP address is accepted as Host as well (served on every address)."""
    token: str | None
    """The token every request must carry, or None on this machine only."""
    port: int

    @property
    def cookie(self) -> str:
        """The cookie holding the token: one per port, since cookies ignore ports and two
        dashboards on one machine would otherwise overwrite each other's."""
        return f"streetlevel-token-{self.port}"


def access_for(
    host: str, port: int, allow_hosts: Iterable[str] = (), token: str | None = None
) -> Access:
    """The rules for a server listening on ``host:port``: a token is made unless ``host`` is
    a loopback address or ``token`` is given.

    >>> access_for("127.0.0.1", 8050).token is None
    True
    >>> served = access_for("0.0.0.0", 8050, ["stats.example.org"])
    >>> len(served.token), sorted(served.hosts), served.any_ip
    (32, ['127.0.0.1', '::1', 'localhost', 'stats.example.org'], True)
    """
    name = host.strip("[]").lower()
    any_ip = name in EVERY_ADDRESS
    hosts = set(LOOPBACK_NAMES) | {h.strip("[]").lower() for h in allow_hosts}
    if not any_ip:
        hosts.add(name)
    if token is None and not _loopback(name):
        token = secrets.token_urlsafe(TOKEN_BYTES)
    return Access(frozenset(hosts), any_ip, token or None, port)


def _loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(header: str | None) -> str | None:
    """The name a Host header gives, lower case and without its port, or None when it is
    not a well-formed Host.

    >>> host_name("LocalHost:8050"), host_name("[::1]:8050"), host_name("a.example")
    ('localhost', '::1', 'a.example')
    >>> host_name("a b"), host_name("::1"), host_name("x:99999999"), host_name("")
    (None, None, None, None)
    """
    if not header:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, rest = header[1:].partition("]")
        port = rest.removeprefix(":")
        port_ok = rest == "" or (rest.startswith(":") and _PORT.fullmatch(port) is not None)
        return name if bracket and port_ok and _ip(name) else None
    name, colon, port = header.partition(":")
    if colon and _PORT.fullmatch(port) is None:
        return None
    return name if _NAME.fullmatch(name) else None


def host_allowed(access: Access, header: str | None) -> bool:
    """Whether a request naming ``header`` as its Host is for this server (not a rebound
    name).

    >>> local = access_for("127.0.0.1", 8050)
    >>> host_allowed(local, "127.0.0.1:8050"), host_allowed(local, "rebind.example:8050")
    (True, False)
    >>> host_allowed(access_for("0.0.0.0", 8050), "192.0.2.7:8050")
    True
    """
    name = host_name(header)
    if name is None:
        return False
    return name in access.hosts or (access.any_ip and _ip(name))


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Whether a state-changing request with this ``Origin`` comes from the server's own page
    (its origin's host and port are the request's Host). No ``Origin`` is allowed: browsers
    send one with every cross-origin request, and a client that is not a browser (``curl``)
    is not a web page acting for the user.

    >>> origin_allowed("http://127.0.0.1:8050", "127.0.0.1:8050")
    True
    >>> origin_allowed("http://evil.example", "127.0.0.1:8050"), origin_allowed("null", "x")
    (False, False)
    """
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and host is not None
        and parts.netloc.lower() == host.strip().lower()
    )


def token_matches(access: Access, given: str | None) -> bool:
    """Whether ``given`` is the token (compared in constant time)."""
    if access.token is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), access.token.encode())


def content_security_policy(script_hashes: Sequence[str]) -> str:
    """The page's content security policy: scripts from the server and Dash's inline ones
    by hash (``Dash.csp_hashes``); styles inline too, because the page's components inject
    ``<style>`` elements (a style cannot run code); images also as ``data:`` URLs (the funnel
    plots); nothing may frame it.

    >>> "frame-ancestors 'none'" in content_security_policy(["'sha256-x'"])
    True
    """
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def urls(access: Access, host: str) -> list[str]:
    """The addresses to print at start-up, with the token where one is needed.

    >>> urls(access_for("127.0.0.1", 8050), "127.0.0.1")
    ['http://127.0.0.1:8050/']
    >>> urls(access_for("0.0.0.0", 8050, token="t"), "0.0.0.0")
    ['http://127.0.0.1:8050/?token=t', 'http://<this machine>:8050/?token=t']
    """
    query = f"?{urlencode({TOKEN_PARAMETER: access.token})}" if access.token else ""
    if host.strip("[]").lower() in EVERY_ADDRESS:
        shown = ["127.0.0.1", "<this machine>"]
    else:
        shown = [f"[{host.strip('[]')}]" if ":" in host else host]
    return [f"http://{name}:{access.port}/{query}" for name in shown]


def install(server: Any, access: Access, script_hashes: Sequence[str]) -> None:
    """Check every request of the Flask ``server`` against ``access`` before anything else
    reads it, answering 403 with a one-line reason, and add the headers to every answer."""
    from flask import Response, redirect, request

    policy = content_security_policy(script_hashes)

    def refused(message: str) -> Response:
        return Response(message + "\n", status=403, mimetype="text/plain")

    def check() -> Any:
        host = request.headers.get("Host")
        if not host_allowed(access, host):
            return refused(
                f"Host {str(host)[:80]!r} is not an address this dashboard serves "
                "(start it with --allow-host NAME to serve it under another name)"
            )
        if request.method not in SAFE_METHODS and not origin_allowed(
            request.headers.get("Origin"), host
        ):
            return refused("a request from another site's page is refused")
        if access.token is None:
            return None
        from_url = request.args.get(TOKEN_PARAMETER)
        header = request.headers.get("Authorization", "")
        scheme, _, from_header = header.partition(" ")
        given = [
            from_url,
            from_header if scheme.lower() in ("token", "bearer") else None,
            request.cookies.get(access.cookie),
        ]
        if not any(token_matches(access, g) for g in given if g is not None):
            return refused(
                "this dashboard needs its token: open the address it printed when it started "
                f"(ending in ?{TOKEN_PARAMETER}=...)"
            )
        if from_url is not None and request.method in SAFE_METHODS:
            # Into a cookie, and out of the address bar, history and bookmarks.
            rest = {k: v for k, v in request.args.items() if k != TOKEN_PARAMETER}
            target = request.path + (f"?{urlencode(rest)}" if rest else "")
            answer = redirect(target, code=302)
            answer.set_cookie(access.cookie, from_url, httponly=True, samesite="Strict", path="/")
            return answer
        return None

    def headers(answer: Response) -> Response:
        answer.headers["X-Frame-Options"] = "DENY"
        answer.headers["X-Content-Type-Options"] = "nosniff"
        answer.headers["Content-Security-Policy"] = policy
        answer.headers["Referrer-Policy"] = "no-referrer"
        return answer

    # First of the before-request hooks: nothing reads a request that is not let in.
    server.before_request_funcs.setdefault(None, []).insert(0, check)
    server.after_request(headers)
