"""Response headers that make the browser refuse what the app never does: inline script, framing, sniffing."""
import secrets

from flask import g, request
from flask_login import current_user


def style_nonce() -> str:
    """A per-response nonce for the one inline <style> that styles "mine" and "mentions me"."""
    if "style_nonce" not in g:
        g.style_nonce = secrets.token_urlsafe(16)
    return g.style_nonce


def add_security_headers(response):
    nonce = g.get("style_nonce")
    style_src = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    response.headers.setdefault("Content-Security-Policy", (
        "default-src 'self'; script-src 'self'; "
        f"style-src {style_src}; img-src 'self' data:; connect-src 'self'; worker-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if "Cache-Control" not in response.headers and current_user and current_user.is_authenticated:
        # Pages show private conversations: never keep them in a shared cache.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def secure_cookies_on_https(response):
    """Every cookie set over https is Secure, the remember-me cookie included (flask-login marks
    it only when REMEMBER_COOKIE_SECURE is set, whatever the scheme): never sent over plain http.

    Registered before flask-login so that it runs after flask-login has set its cookie.
    """
    if request.is_secure:
        cookies = response.headers.getlist("Set-Cookie")
        if any("; secure" not in c.lower() for c in cookies):
            response.headers.remove("Set-Cookie")
            for cookie in cookies:
                response.headers.add("Set-Cookie", cookie if "; secure" in cookie.lower() else cookie + "; Secure")
    return response
