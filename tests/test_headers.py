"""What every response tells the browser to refuse, read from the live server's real answers:
a Content-Security-Policy with no inline script and no eval, no framing, no sniffing, no leaking
referrers; cookies HttpOnly and SameSite, and Secure whenever they travel over https. Chromium
then shows the policy holds: an injected inline script or inline handler does not run, a framing
page gets nothing. (eval() can't be tried from Playwright: DevTools' own evaluation is exempt
from the page's policy; the header test shows script-src has no 'unsafe-eval'.)
"""
import pytest
from playwright.sync_api import expect

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople
from .support.sites import another_site
from .support.wsclient import CSRF, People, Person

STRICT_REFERRERS = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


@pytest.fixture(scope="module")
def responses(live_server):
    """(name, response) of every kind the app serves: pages, fragments, errors, JSON, files."""
    people = People(live_server.url)
    visitor = Person(live_server.url)
    alice = people.new("alice")
    chat = alice.create_chat("Headers")
    htmx = {"HX-Request": "true", "HX-Target": "chat-pane"}
    answers = [
        ("login page, visitor", visitor.get("/login")),
        ("registration page, visitor", visitor.get("/register")),
        ("redirect to sign in", visitor.get(f"/chats/{chat}")),
        ("dashboard", alice.get("/")),
        ("chat page", alice.get(f"/chats/{chat}")),
        ("chat pane fragment (htmx)", alice.get(f"/chats/{chat}", headers=htmx)),
        ("polling fragment", alice.get(f"/chats/{chat}/messages?after=0")),
        ("settings", alice.get("/settings")),
        ("404 page", alice.get("/chats/999999999")),
        ("405 page", alice.get("/logout")),
        ("CSRF refusal", alice.post(f"/chats/{chat}/messages", {"body": "x"}, csrf=False)),
        ("token JSON", alice.get("/csrf-token")),
        ("health JSON", visitor.get("/healthz")),
        ("static script", visitor.get("/static/webchat.js")),
    ]
    yield answers
    people.close()


def csp(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy")
    assert policy, "no Content-Security-Policy"
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_every_response_has_a_strict_content_security_policy(responses):
    for name, response in responses:
        policy = csp(response)
        scripts = policy.get("script-src") or policy["default-src"]
        assert scripts == ["'self'"], (name, scripts)  # no 'unsafe-inline', 'unsafe-eval', data:, hosts
        assert policy["default-src"] == ["'self'"], name
        for directive in ("style-src", "default-src", "connect-src", "img-src"):
            assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(policy.get(directive, [])), \
                (name, directive)
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["object-src"] == ["'none'"], name
        assert policy["base-uri"] == ["'none'"], name
        assert policy["form-action"] == ["'self'"], name


def test_every_response_forbids_sniffing_framing_and_cross_site_referrers(responses):
    for name, response in responses:
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert response.headers.get("X-Frame-Options") == "DENY", name
        assert response.headers.get("Referrer-Policy") in STRICT_REFERRERS, name


def test_pages_of_a_signed_in_person_are_never_stored_in_a_cache(responses):
    for name, response in responses:
        if name.endswith("visitor") or name in ("health JSON", "static script", "redirect to sign in"):
            continue
        assert "no-store" in response.headers.get("Cache-Control", ""), name


def set_cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_all("Set-Cookie") or []}


def attributes(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() + ("=" + part.strip().split("=")[1].lower() if "=" in part else "")
            for part in cookie.split(";")[1:]}


def sign_in(base_url: str, headers: dict | None = None, remember: bool = True):
    person = Person(base_url, People(base_url).new("carol").username)
    page = person.request("GET", "/login", headers=headers)
    token = CSRF.search(page.text).group(1)
    return person.request("POST", "/login", {"username": person.username, "password": person.password,
                                            "remember": "1" if remember else "", "csrf_token": token},
                          headers=headers)


def test_the_session_remember_me_and_device_cookies_are_http_only_and_same_site(live_server):
    signed_in = sign_in(live_server.url)

    assert signed_in.status == 302, signed_in
    cookies = set_cookies(signed_in)
    assert set(cookies) == {"session", "remember_token", "webchat_device"}
    for name, cookie in cookies.items():
        assert "httponly" in attributes(cookie), name
        assert attributes(cookie) & {"samesite=lax", "samesite=strict"}, name


@pytest.fixture(scope="module")
def behind_a_proxy():
    with services.module_server("proxied", _TMP, {"WEBCHAT_PROXY_FIX": "1"}) as live:
        yield live


def test_over_https_every_cookie_is_secure_the_remember_me_cookie_too(behind_a_proxy):
    port = behind_a_proxy.port
    https = {"X-Forwarded-Proto": "https", "Referer": f"https://127.0.0.1:{port}/login"}

    signed_in = sign_in(behind_a_proxy.url, https)

    assert signed_in.status == 302, signed_in
    cookies = set_cookies(signed_in)
    assert set(cookies) == {"session", "remember_token", "webchat_device"}
    for name, cookie in cookies.items():
        assert {"secure", "httponly"} <= attributes(cookie), (name, cookie)
    plain = set_cookies(sign_in(behind_a_proxy.url))  # plain http (a developer's machine): not Secure
    assert not any("secure" in attributes(cookie) for cookie in plain.values())


# ----- in Chromium -----------------------------------------------------------------------------

@pytest.mark.browser
def test_in_chromium_an_injected_inline_script_or_handler_does_not_run(chromium, live_server, page_errors):
    page_errors.allow(r"Content Security Policy", "the inline script this test injects is refused by the CSP")
    people = BrowserPeople(chromium, live_server.url)
    try:
        page = people()
        violations = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        ran = page.evaluate("""() => {
            const script = document.createElement('script');
            script.textContent = 'window.injected = true';
            document.body.append(script);
            const handler = document.createElement('div');
            handler.setAttribute('onclick', 'window.handler = true');
            document.body.append(handler);
            handler.click();
            return {injected: window.injected === true, handler: window.handler === true};
        }""")
        assert ran == {"injected": False, "handler": False}
        expect(page.locator(".topbar .who")).to_contain_text(page.username)  # the app's own scripts run
        assert violations
    finally:
        people.close()


@pytest.mark.browser
def test_in_chromium_a_page_on_another_site_cannot_frame_the_app(chromium, live_server, page_errors):
    page_errors.allow(r"Content Security Policy", "the framing this test tries is refused by the CSP")
    people = BrowserPeople(chromium, live_server.url)
    try:
        page = people()
        with another_site(f'<!doctype html><iframe src="{live_server.url}/login"></iframe>') as framing:
            with page.expect_response(live_server.url + "/login") as answered:  # the app answers...
                page.goto(framing)
            assert answered.value.status == 200
            page.wait_for_timeout(500)
        framed = page.frames[1]
        assert not framed.url.startswith(live_server.url), framed.url  # ...and the browser shows an error instead
        assert framed.locator("form").count() == 0
    finally:
        people.close()
