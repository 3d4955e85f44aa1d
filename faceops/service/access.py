"""Who may use `faceops serve`: the Host header check and API keys with roles.

Keys come from FACEOPS_API_KEYS (`role:key` entries, comma-separated) or the file named by
FACEOPS_API_KEYS_FILE (one `role:key` a line, `#` comments). Roles: `predict` (ask who is in a
photo, read the model's description), `metrics` (read /metrics, for Prometheus) and `admin` (everything,
including /reload and the endpoints that change data). When keys are set, every endpoint but /health and the
pages (/, /admin) needs one, as `Authorization: Bearer KEY` or `X-API-Key: KEY`. Keys are compared in constant
time and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from faceops.core.errors import FaceopsError

KEYS_VARIABLE = "FACEOPS_API_KEYS"
KEYS_FILE_VARIABLE = "FACEOPS_API_KEYS_FILE"
HOSTS_VARIABLE = "FACEOPS_ALLOWED_HOSTS"  # comma-separated; what --allowed-host gives when it is not used
ROLES = ("predict", "admin", "metrics")
MIN_KEY_LENGTH = 16
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# The pages and the health check: no key needed. The pages hold no data (a browser cannot send a key to open one):
# each asks for a key and sends it with the calls it makes (the admin console's, /admin/*, need the admin role).
OPEN_PATHS = frozenset({"/", "/health", "/admin"})
# The API's description and its offline Swagger UI: a browser cannot send a key when it opens /docs, and they
# hold no data; "Authorize" on that page takes the key for the calls tried from it.
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json"})
DOCS_PREFIXES = ("/static-offline-docs/",)
ADMIN_PATHS = frozenset({"/reload", "/feedback"})
ADMIN_PREFIXES = ("/people/", "/admin/")  # enrolment: POST /people/{name}/photos; the admin console's JSON
METRICS_PATHS = frozenset({"/metrics"})  # a Prometheus scraper's key reads these and nothing else


@dataclass(frozen=True)
class ApiKey:
    role: str
    secret: bytes

    def grants(self, role: str) -> bool:
        return self.role == "admin" or self.role == role


def parse_keys(text: str, source: str) -> list[ApiKey]:
    """Keys from `role:key` entries separated by commas or lines; a bad entry is named by its position, never
    by its key."""
    keys = []
    entries = [entry.strip() for line in text.splitlines() for entry in line.split("#")[0].split(",")]
    for number, entry in enumerate((e for e in entries if e), start=1):
        role, separator, secret = entry.partition(":")
        role, secret = role.strip(), secret.strip()
        if not separator or role not in ROLES:
            raise FaceopsError(
                f"{source}: entry {number} does not start with a role; "
                f"write role:key with role one of {', '.join(ROLES)}"
            )
        if len(secret) < MIN_KEY_LENGTH:
            raise FaceopsError(
                f"{source}: the {role} key of entry {number} has {len(secret)} characters; "
                f"use at least {MIN_KEY_LENGTH} (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        keys.append(ApiKey(role, secret.encode()))
    return keys


def keys_from_environment(environ: dict[str, str] | None = None) -> list[ApiKey]:
    """The configured keys (FACEOPS_API_KEYS and FACEOPS_API_KEYS_FILE together); none: an empty list."""
    environ = os.environ if environ is None else environ
    keys = parse_keys(environ.get(KEYS_VARIABLE, ""), KEYS_VARIABLE)
    file = environ.get(KEYS_FILE_VARIABLE, "").strip()
    if file:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise FaceopsError(f"{KEYS_FILE_VARIABLE}: cannot read {file}: {exc.strerror or exc}") from None
        found = parse_keys(text, file)
        if not found:
            raise FaceopsError(f"{file}: no keys in it ({KEYS_FILE_VARIABLE} names it); write one role:key a line")
        keys += found
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind_host: str, environ: dict[str, str] | None = None) -> list[str]:
    """Host names a browser may use: FACEOPS_ALLOWED_HOSTS when set, else the local names, plus the address
    bound to when it is a specific one."""
    environ = os.environ if environ is None else environ
    given = [host.strip() for host in environ.get(HOSTS_VARIABLE, "").split(",") if host.strip()]
    if given:
        return given
    hosts = list(LOCAL_HOSTS)
    if bind_host not in ("0.0.0.0", "::", "") and bind_host not in hosts:
        hosts.append(bind_host)
    return hosts


def host_name(header: str) -> str:
    """The name in a Host header, without the port ("[::1]:8000" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def required_role(path: str) -> str | None:
    if path in OPEN_PATHS or path in DOCS_PATHS or path.startswith(DOCS_PREFIXES):
        return None
    if path in METRICS_PATHS:
        return "metrics"
    return "admin" if path in ADMIN_PATHS or path.startswith(ADMIN_PREFIXES) else "predict"


def presented_key(headers: dict[str, str]) -> bytes | None:
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip().encode()
    key = headers.get("x-api-key")
    return key.strip().encode() if key else None


def find_key(keys: list[ApiKey], given: bytes) -> ApiKey | None:
    """The key equal to `given`, comparing with every configured key in constant time."""
    match = None
    for key in keys:
        if hmac.compare_digest(key.secret, given):
            match = key
    return match


class AccessGuard:
    """ASGI middleware: 400 for a Host not allowed (DNS rebinding), 401 without a valid key, 403 for the wrong role."""

    def __init__(self, app, allowed_hosts: list[str], keys: list[ApiKey]) -> None:  # noqa: ANN001 - ASGI app
        self.app = app
        self.allowed = {host.lower().strip("[]") for host in allowed_hosts}
        self.keys = keys

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        refusal = self.refusal(scope["path"], headers)
        if refusal is None:
            return await self.app(scope, receive, send)
        from starlette.responses import JSONResponse

        status, detail = refusal
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await JSONResponse({"detail": detail}, status_code=status, headers=extra)(scope, receive, send)

    def refusal(self, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        host = host_name(headers.get("host", ""))
        if "*" not in self.allowed and host not in self.allowed:
            return 400, f"Host {host!r} is not allowed; start faceops serve with --allowed-host {host or 'NAME'}"
        role = required_role(path)
        if role is None or not self.keys:
            return None
        given = presented_key(headers)
        if not given:
            return 401, "an API key is needed: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
        key = find_key(self.keys, given)
        if key is None:
            return 401, "the API key is not valid"
        if not key.grants(role):
            return 403, f"this key has the {key.role} role; {path} needs {role}"
        return None


def document_keys(app) -> None:  # noqa: ANN001 - a FastAPI app
    """Declare the key in the API description, so that /docs offers "Authorize" and sends it with each call."""
    describe = app.openapi

    def openapi() -> dict:
        schema = describe()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["ApiKey"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key from FACEOPS_API_KEYS (sent as Authorization: Bearer KEY)",
        }
        schema["security"] = [{"ApiKey": []}]
        return schema

    app.openapi = openapi
