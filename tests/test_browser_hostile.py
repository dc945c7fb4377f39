"""The worst payloads in Debian's Chromium, live over the socket and by polling: nothing runs (no
dialog, no window.__xss, no Content-Security-Policy refusal, which would mean markup got through),
no request leaves for /logout or anywhere else, nothing of the page is replaced, and the text is
shown as typed in message bodies, names, the tab title and desktop notifications.
"""
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from .support.browser import HIDE_TAB, refresh_chat_list
from .support.hostile import HTMX_PAYLOADS, markdown_text, squash

pytestmark = pytest.mark.browser

MESSAGES = "#messages > .msg"
PASSWORD = "password123"

# Wraps the dialogs so a payload that calls one is recorded even if a dialog is dismissed first.
WATCH_SCRIPT = """
(() => {
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    const original = window[name];
    window[name] = function (...args) {
      (window.__xss = window.__xss || []).push(name);
      return original.apply(this, args);
    };
  }
})();
"""

# What may be inside the user's parts of a page: the tests' own allow-list, checked in the DOM.
DOM_PROBLEMS = """
() => {
  const allowed = {P: [], BR: [], STRONG: [], EM: [], CODE: [], PRE: [], A: ["href", "title", "rel"], UL: [],
                   OL: ["start"], LI: [], BLOCKQUOTE: [], SPAN: ["class", "data-user"], DEL: [], S: []};
  const problems = [];
  document.querySelectorAll(".msg-body").forEach((body) => body.querySelectorAll("*").forEach((el) => {
    const attributes = allowed[el.tagName];
    if (!attributes) { problems.push(`<${el.tagName}> in a message body`); return; }
    for (const a of el.attributes) {
      // tabindex="-1": keyboard.js takes the links of all but the list's active message out of the tab order.
      if (!attributes.includes(a.name) && !(a.name === "tabindex" && a.value === "-1"))
        problems.push(`${el.tagName} ${a.name} in a body`);
    }
    if (el.tagName === "A" && el.hasAttribute("href") && !/^(https?|mailto):/i.test(el.getAttribute("href")))
      problems.push(`link to ${el.getAttribute("href")}`);
  }));
  const names = ".msg-author, .chat-title, .preview, .who, .pending-body, #chat-pane h2, .typing span, " +
                ".receipts span, .people li > span";
  document.querySelectorAll(names).forEach((el) => el.querySelectorAll("*").forEach((child) => {
    // The server's own markup only: a <bdi> (a name isolated, bare) or a span it classes.
    if (!child.matches(".presence, .muted, .tag, .dm-mark, .chat-title, .preview > em") &&
        !(child.tagName === "BDI" && !child.attributes.length))
      problems.push(`<${child.tagName}> inside a name (${el.className || el.tagName})`);
  }));
  document.querySelectorAll("*").forEach((el) => {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) problems.push(`${el.tagName} ${a.name}`);
      if (/^(data-)?hx-(on|vals|vars)/i.test(a.name)) problems.push(`${el.tagName} ${a.name}`);
      if (/^(data-)?hx-(get|post)$/i.test(a.name) && /logout/.test(a.value)) problems.push(`${el.tagName} ${a.name}`);
    }
  });
  const foreign = [
    "script:not([src^='/static/'])", "iframe", "frame", "object", "embed", "svg", "math",
    "img:not([src^='/chats/'])", "base", "meta[http-equiv]", "style:not([nonce])", "link:not([href^='/static/'])",
    "video", "audio", "input:not(form input)", "textarea:not(form textarea)", "select:not(form select)",
    "marquee"].join(", ");
  document.querySelectorAll(foreign).forEach((el) => problems.push(`<${el.tagName}> on the page`));
  return problems;
}
"""


class Watched:
    """One person's page with everything hostile content could do recorded."""

    def __init__(self, page: Page, username: str, display_name: str) -> None:
        self.page = page
        self.username = username
        self.display_name = display_name
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: self.console.append(m.text))
        page.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))
        page.on("websocket", lambda ws: self.requests.append(f"WS {ws.url}"))

    def harm(self, base_url: str) -> list[str]:
        """Everything that shows a payload got through; [] when nothing did."""
        found = [f"dialog {d!r}" for d in self.dialogs]
        found += [f"console {c!r}" for c in self.console if "Content Security Policy" in c or "Refused to" in c]
        found += [f"request {r}" for r in self.requests
                  if "/logout" in r or not r.split(" ", 1)[1].startswith((base_url, base_url.replace("http", "ws")))]
        xss = self.page.evaluate("window.__xss")
        if xss is not None:
            found.append(f"window.__xss = {xss!r}")
        return found + self.page.evaluate(DOM_PROBLEMS)


@pytest.fixture
def people(chromium, live_server):
    contexts = []

    def make(display_name: str, polling: bool = False, **options) -> Watched:
        context = chromium.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 800}, **options)
        context.set_default_timeout(15_000)
        context.add_init_script(WATCH_SCRIPT)
        contexts.append(context)
        page = context.new_page()
        if polling:  # the socket opens but never answers: the page polls and sends over HTTP
            page.route_web_socket(re.compile(r"/socket$"), lambda ws: None)
        watched = Watched(page, f"u{uuid.uuid4().hex[:8]}", display_name)
        page.goto("/register")
        page.fill("input[name=username]", watched.username)
        page.fill("input[name=display_name]", display_name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        return watched
    yield make
    for context in contexts:
        context.close()


def create_chat(owner: Watched, name: str, *members: Watched) -> int:
    page = owner.page
    form = page.locator("#chat-pane form[action='/chats']")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=members]").fill(" ".join(m.username for m in members))
    form.get_by_role("button", name="Create chat").click()
    page.wait_for_url(re.compile(r"/chats/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def expect_live(page: Page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def send(person: Watched, text: str) -> None:
    before = person.page.locator(MESSAGES).count()
    person.page.fill("#composer textarea[name=body]", text)
    person.page.press("#composer textarea[name=body]", "Enter")
    expect(person.page.locator(MESSAGES)).to_have_count(before + 1)


def bodies(page: Page) -> list[str]:
    return [squash(t) for t in page.locator(f"{MESSAGES} .msg-body").all_text_contents()]


WORST = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert('XSS')>",
    "<iframe src=javascript:alert(1)></iframe>",
    "[clickme](javascript:alert(1)) [also](java&#x09;script:alert(1)) <javascript:alert(1)>",
    '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "<style>body{display:none}</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<object data=\"javascript:alert(1)\"></object>",
]
ALICE = "<img src=x onerror=alert(1)>Alice"
BOB = '"><svg onload="window.__xss=1">Bob'
CAROL = "Carol</span><script>alert(1)</script>"
CHAT = "</title><script>alert(1)</script><b onmouseover=alert(1)>Room"


def test_the_worst_payloads_sent_live_and_by_polling_run_nothing_and_show_as_text(people, live_server):
    bob = people(BOB)
    carol = people(CAROL, polling=True)
    alice = people(ALICE)
    chat_id = create_chat(alice, CHAT, bob, carol)
    bob.page.goto(f"/chats/{chat_id}")
    carol.page.goto(f"/chats/{chat_id}")
    # Bob's tab on the chat goes to the background, his second tab shows the dashboard: the chat
    # is in view in no visible tab of his, so the server notifies his tabs of every message.
    away = Watched(bob.page.context.new_page(), bob.username, BOB)
    bob.page.context.grant_permissions(["notifications"], origin=live_server.url)
    away.page.goto("/")
    for person in (alice, bob, away):
        expect_live(person.page)
    bob.page.evaluate(HIDE_TAB)
    assert away.page.evaluate("Notification.permission") == "granted"

    for text in WORST:
        send(alice, text)
        expected = markdown_text(text)
        expect(bob.page.locator(MESSAGES).last.locator(".msg-body")).to_have_text(expected)  # live
        away.page.wait_for_function("body => (window.webchat.lastNotification || {}).body === body", arg=expected)
        assert away.page.evaluate("window.webchat.lastNotification") == {
            "chatId": chat_id, "threadId": None, "title": f"{ALICE} in {CHAT}", "body": expected}
    expect(carol.page.locator(MESSAGES).filter(has=carol.page.locator(".msg-body"))).to_have_count(len(WORST),
                                                                                                  timeout=20_000)

    shown = [markdown_text(t) for t in WORST]
    for person in (alice, bob, carol):
        page = person.page
        assert bodies(page)[-len(WORST):] == shown
        assert set(page.locator(f"{MESSAGES} .msg-author").all_text_contents()) == {ALICE}
        expect(page.locator("#chat-pane h2")).to_contain_text(CHAT)
        expect(page.locator(f"#chat-item-{chat_id} .chat-title")).to_have_text(CHAT)
        expect(page).to_have_title(re.compile(r"^(\(\d+\) )?" + re.escape(f"{CHAT} · webchat") + "$"))
        expect(page.locator(".topbar .who")).to_contain_text(person.display_name)
    preview = away.page.locator(f"#chat-item-{chat_id} .preview")
    expect(preview).to_have_text(f"{ALICE}: {shown[-1]}")
    expect(away.page).to_have_title(re.compile(r"^(\(\d+\) )?webchat$"))

    # A full reload shows the same, and still nothing runs.
    bob.page.reload()
    expect_live(bob.page)
    assert bodies(bob.page)[-len(WORST):] == shown
    members = bob.page
    members.goto(f"/chats/{chat_id}/members")
    for name in (ALICE, BOB, CAROL):
        expect(members.locator(".people li > span", has_text=name)).to_have_count(1)
    for person in (alice, bob, carol, away):
        assert person.harm(live_server.url) == []


HTMX_ALICE = '<div hx-get="/logout" hx-trigger="load">Alice</div>'
HTMX_CHAT = '<div id="composer" hx-swap-oob="true">gone</div><b hx-on:load="alert(1)">'


def test_htmx_attributes_in_messages_and_names_make_no_request_and_replace_nothing(people, live_server):
    bob = people('<b hx-on:click="alert(1)" data-hx-post="/logout">Bob</b>')  # at most 64
    carol = people("Carol Htmx", polling=True)  # one name per person on the server: no lookalikes
    alice = people(HTMX_ALICE)
    chat_id = create_chat(alice, HTMX_CHAT, bob, carol)
    bob.page.goto(f"/chats/{chat_id}")
    carol.page.goto(f"/chats/{chat_id}")
    for person in (alice, bob):
        expect_live(person.page)
    composers = {id(p): p.page.evaluate_handle("document.getElementById('composer')") for p in (alice, bob, carol)}

    for text in HTMX_PAYLOADS:
        send(alice, text)
        expect(bob.page.locator(MESSAGES).last.locator(".msg-body")).to_have_text(markdown_text(text))
    expect(carol.page.locator(MESSAGES).filter(has=carol.page.locator(".msg-body"))).to_have_count(
        len(HTMX_PAYLOADS), timeout=20_000)
    # Clicking what looks like a button in a message does nothing either.
    bob.page.locator(f"{MESSAGES} .msg-body", has_text="hx-on").first.click()
    bob.page.wait_for_timeout(1500)  # "load" and "every 1s" triggers would have fired by now

    for person in (alice, bob, carol):
        page = person.page
        assert bodies(page)[-len(HTMX_PAYLOADS):] == [markdown_text(t) for t in HTMX_PAYLOADS]
        # Nothing was replaced: the same composer element, the pane, the list, the messages.
        assert page.evaluate("c => c === document.getElementById('composer') && c.tagName === 'FORM'",
                             composers[id(person)])
        expect(page.locator("#chat-pane.chat")).to_have_count(1)
        expect(page.locator(f"#chat-list #chat-item-{chat_id} .chat-title")).to_have_text(HTMX_CHAT)
        expect(page.locator("#messages")).to_have_count(1)
        assert person.harm(live_server.url) == []

    # Everyone is still signed in, and the composer still sends.
    send(bob, "still here")
    expect(alice.page.locator(MESSAGES).last.locator(".msg-body")).to_have_text("still here")
    expect(carol.page.locator(MESSAGES).last.locator(".msg-body")).to_have_text("still here", timeout=20_000)
    carol.page.reload()
    expect(carol.page.locator(".topbar .who")).to_contain_text("Carol Htmx")


# ----- characters -------------------------------------------------------------------------------

POSITIONS = """
(el) => {
  // The left edge of each character of el's text, as laid out on the screen.
  const node = el.firstChild, range = document.createRange(), lefts = [];
  for (let i = 0; i < node.length; i++) {
    range.setStart(node, i); range.setEnd(node, i + 1);
    lefts.push(range.getBoundingClientRect().left);
  }
  return lefts;
}
"""


def test_a_right_to_left_override_in_a_name_does_not_reverse_the_text_beside_it(people):
    eve = people("Eve \u202eevil")
    bob = people("Bob Bidi")
    chat_id = create_chat(eve, "Bidi", bob)
    bob.page.goto(f"/chats/{chat_id}")
    send(eve, "hello")

    for page in (eve.page, bob.page):
        message = page.locator(MESSAGES).last
        expect(message.locator(".msg-author")).to_have_text("Eve evil")  # the override is dropped as typed
        lefts = message.locator("time").evaluate(POSITIONS)
        assert lefts == sorted(lefts), "the time beside the name is laid out right to left"
        body = message.locator(".msg-body p").evaluate(POSITIONS)
        assert body == sorted(body)
    # Beside the name in the top bar and in the member list: the username.
    handle = eve.page.locator(".topbar .who .muted")
    expect(handle).to_have_text(f"@{eve.username}")
    lefts = handle.evaluate(POSITIONS)
    assert lefts == sorted(lefts), "the @username beside the name is laid out right to left"
    bob.page.goto(f"/chats/{chat_id}/members")
    handle = bob.page.locator(".people li > span", has_text="evil").locator(".muted")
    lefts = handle.evaluate(POSITIONS)
    assert lefts == sorted(lefts), "the @username beside the name is laid out right to left"


def test_4000_four_byte_characters_typed_in_the_composer_arrive_whole_and_4001_are_marked_not_sent(people):
    alice = people("Alice Emoji")
    bob = people("Bob Emoji")
    chat_id = create_chat(alice, "Emoji", bob)
    bob.page.goto(f"/chats/{chat_id}")
    for person in (alice, bob):
        expect_live(person.page)
    text = "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 800  # 4,000 code points, 3,200 of them 4-byte

    send(alice, text)

    received = bob.page.locator(MESSAGES).last.locator(".msg-body")
    expect(received).to_have_text(text)
    assert received.evaluate("el => [...el.textContent].length") == 4000
    alice.page.fill("#composer textarea[name=body]", text + "\U0002070e")
    alice.page.press("#composer textarea[name=body]", "Enter")
    failed = alice.page.locator("#messages > .pending--failed")
    expect(failed.locator(".pending-error")).to_contain_text("That message is 4,001 characters long")
    expect(failed.locator(".pending-body")).to_have_text(text + "\U0002070e")
    expect(bob.page.locator("#messages > .msg--user")).to_have_count(1)  # the 4,001 went nowhere


def test_a_long_message_of_emoji_is_cut_on_whole_characters_in_the_live_preview_and_the_notification(people,
                                                                                                       live_server):
    alice = people("Alice Long")
    bob = people("Bob Long", permissions=["notifications"])
    chat_id = create_chat(alice, "Long", bob)
    expect_live(bob.page)  # bob stays on the dashboard: the chat is not in view, so it notifies
    text = "\U0001f600" * 200

    send(alice, text)

    bob.page.wait_for_function("() => window.webchat.lastNotification")
    note = bob.page.evaluate("window.webchat.lastNotification")
    assert note["body"] == "\U0001f600" * 139 + "…"
    preview = "Alice Long: " + "\U0001f600" * (79 - len("Alice Long: ")) + "…"
    expect(bob.page.locator(f"#chat-item-{chat_id} .preview")).to_have_text(preview)
    # The list's next refresh from the server says the same: the preview does not jump.
    refresh_chat_list(bob.page)
    expect(bob.page.locator(f"#chat-item-{chat_id} .preview")).to_have_text(preview)
