"""Safe by default: loopback only unless told, a token when not, no cross-site requests.

- Bound to a loopback address, the app answers only requests whose ``Host`` names loopback
  (so a web page elsewhere cannot reach it through DNS rebinding).
- Bound to any other address it requires the token printed at start (``?token=`` once, then
  a cookie; or ``Authorization: Bearer``), since anyone on the network could otherwise read
  patients' recordings.
- Requests that change anything are POSTs that carry this run's form token (hidden field
  ``csrf`` or header ``X-CSRF-Token``), come from this app's own origin (``Origin`` and
  ``Sec-Fetch-Site`` when the browser sends them) and, except uploads, are small.
- A WebSocket (the exercise page's camera frames) is opened only by this app's own page: same
  Host and token rules, its ``Origin`` must be this app's and it carries the form token.
- Every response tells the browser to run only this app's own script and to load nothing
  from elsewhere (Content-Security-Policy), and not to cache patient pages.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlencode

from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

TOKEN_COOKIE = "facescore_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_FORM_BYTES = 1 << 20
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
#: The report as the core writes it: inline style and images, no script at all.
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'self'; sandbox")


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(request: HTTPConnection, origin: str) -> bool:
    host = request.headers.get("host", "")
    return origin.lower() in {f"http://{host}".lower(), f"https://{host}".lower()}


def csrf_ok(request: HTTPConnection, csrf_token: str, sent: str | None) -> bool:
    return bool(sent) and secrets.compare_digest(sent, csrf_token)


def check(request: Request, token: str | None) -> Response | None:
    """A refusal for a request the app must not serve, or None to go on."""
    host = request.headers.get("host", "")
    if token is None:
        if not is_loopback(_host_name(host)):
            return PlainTextResponse(
                "facescore serves this address only as localhost (127.0.0.1).", 400)
    else:
        sent = (request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token")
                or request.headers.get("authorization", "").removeprefix("Bearer ").strip())
        if not sent or not secrets.compare_digest(sent, token):
            return PlainTextResponse(
                "This facescore server needs its token: open the address it printed when it "
                "started (…/?token=…).", 401)
        if request.method in SAFE_METHODS and "token" in request.query_params:
            # Once in the address, then in a cookie: the token does not linger in the URL.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
    if request.method not in SAFE_METHODS:
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if site is not None and site not in ("same-origin", "none"):
            return PlainTextResponse("Refused: a request from another site.", 403)
        if origin is not None and not _same_origin(request, origin):
            return PlainTextResponse("Refused: a request from another origin.", 403)
        if origin is None and (referer := request.headers.get("referer")):
            host_part = referer.split("/")[2] if referer.count("/") >= 2 else ""
            if host_part.lower() != host.lower():
                return PlainTextResponse("Refused: a request from another origin.", 403)
    return None


def websocket_refusal(connection: HTTPConnection, token: str | None,
                      csrf_token: str) -> str | None:
    """Why a WebSocket must not be opened, in one line, or None to go on.

    Browsers let any page open a WebSocket to any address and send the cookies along, so
    the origin is checked here (a page elsewhere could otherwise drive the camera session).
    """
    host = connection.headers.get("host", "")
    if token is None:
        if not is_loopback(_host_name(host)):
            return "facescore serves this address only as localhost (127.0.0.1)"
    else:
        sent = connection.cookies.get(TOKEN_COOKIE) or connection.query_params.get("token")
        if not sent or not secrets.compare_digest(sent, token):
            return "this facescore server needs its token"
    origin = connection.headers.get("origin")
    if origin is None or not _same_origin(connection, origin):
        return "refused: a connection from another origin"
    if not csrf_ok(connection, csrf_token, connection.query_params.get("csrf")):
        return "the page is out of date; reload it"
    return None


def secure_headers(response: Response, path: str) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy",
                       REPORT_CSP if path.endswith("/report.html") else PAGE_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
