"""The Settings UI (services/web's build) at `/`: files, SPA fallback, strict headers.

Hashed assets are cached for a year; `index.html` is never cached, so a new build reaches
every browser at its next load. Every UI response carries a Content-Security-Policy that
allows only the gateway's own scripts, styles and API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

from shared.web import problem_response


def content_security_policy(connect_origins: list[str]) -> str:
    """Own scripts, styles and API only; `connect_origins` adds the OIDC provider, whose
    token endpoint the browser posts the authorization code to."""
    connect = " ".join(["'self'", *connect_origins])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CSP = content_security_policy([])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Paths that are never the UI, even when nothing else answered them.
NOT_UI = ("/api/", "/internal/", "/docs", "/openapi.json", "/asyncapi", "/healthz", "/readyz")


class WebUI:
    """Serves the built UI from `root` (the directory holding `index.html`)."""

    def __init__(self, root: Path, *, connect_origins: list[str] | None = None) -> None:
        self.root = root.resolve()
        self.headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": content_security_policy(connect_origins or []),
        }

    def serves(self, request: Request) -> bool:
        """Whether an unmatched request is the UI's to answer (GET/HEAD outside the API)."""
        path = request.url.path
        return request.method in ("GET", "HEAD") and not path.startswith(NOT_UI)

    def response(self, request: Request) -> Response:
        """The file asked for, or `index.html` for any other path (client-side routing)."""
        index = self.root / "index.html"
        if not index.is_file():
            return problem_response(
                404,
                "ui_not_built",
                "The UI is not built here: `make dev` builds it (deploy/local/web.sh).",
            )
        wanted = self._file(request.url.path)
        if wanted is not None and wanted != index:
            cache = IMMUTABLE if "/assets/" in request.url.path else NO_CACHE
            return self._with_headers(FileResponse(wanted), cache)
        return self._with_headers(FileResponse(index, media_type="text/html"), NO_CACHE)

    def _file(self, path: str) -> Path | None:
        relative = path.lstrip("/")
        if not relative:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _with_headers(self, response: Response, cache: str) -> Response:
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = cache
        return response
