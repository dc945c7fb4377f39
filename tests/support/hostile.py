"""Hostile input, and a browser-grade check (html5lib, the WHATWG parsing algorithm) that what
the app sends back is inert: no markup of the user's, text kept, every id and top-level element
of a socket frame made by the server.

The allow-lists here are the tests' own copy, not imported from webchat.sanitize: widening the
app's allow-list must make these tests fail, not silently follow along.
"""
import json
import re
import unicodedata
from pathlib import Path

import html5lib

DATA = Path(__file__).resolve().parents[1] / "data"


def naughty_strings() -> list[str]:
    """The Big List of Naughty Strings (tests/data/blns.json, see tests/data/README.md)."""
    return json.loads((DATA / "blns.json").read_text(encoding="utf-8"))


def xss_payloads() -> list[str]:
    """Classic OWASP filter-evasion payloads (tests/data/owasp_xss.json)."""
    return json.loads((DATA / "owasp_xss.json").read_text(encoding="utf-8"))


# Markup that tries to drive htmx: requests on load, inline handlers, eval'd values, and
# out-of-band swaps that would replace the page's own elements.
HTMX_PAYLOADS = [
    '<div hx-get="/logout" hx-trigger="load">load</div>',
    '<div hx-post="/logout" hx-trigger="load">post on load</div>',
    '<div data-hx-post="/logout" data-hx-trigger="load">data-hx-post</div>',
    '<button hx-on:click="alert(1)">hx-on</button>',
    '<button hx-on::load="window.__xss=1" data-hx-on:click="alert(1)">hx-on load</button>',
    "<div hx-post=\"/logout\" hx-vals='js:{a: alert(1)}' hx-trigger=\"load\">hx-vals js</div>",
    '<div hx-get="/logout" hx-trigger="every 1s">every second</div>',
    '<div id="composer" hx-swap-oob="true">composer replaced</div>',
    '<form id="composer" hx-swap-oob="outerHTML"><input name="body"></form>',
    '<div id="messages" hx-swap-oob="innerHTML">messages wiped</div>',
    '<nav id="chat-list" hx-swap-oob="true">chat list replaced</nav>',
    '<div hx-swap-oob="beforeend:#chat-list"><li>fake chat</li></div>',
    '<section id="chat-pane" hx-swap-oob="true">pane replaced</section>',
    '<hx-partial hx-target="#composer">partial</hx-partial>',
    '<div hx-ext="ws" ws-connect="ws://127.0.0.1:9/socket">second socket</div>',
    '<a hx-boost="true" href="/logout">boost</a>',
    '<div hx-headers=\'{"X-CSRFToken": "x"}\' hx-post="/logout" hx-trigger="load">headers</div>',
    '[x](https://example.com "<hx-partial id=composer hx-swap-oob=true>")',
]

# ----- what a message body may hold ------------------------------------------------------------

BODY_TAGS = {"p", "br", "strong", "em", "code", "pre", "a", "ul", "ol", "li", "blockquote", "span", "del", "s"}
BODY_ATTRIBUTES = {"a": {"href", "title", "rel"}, "ol": {"start"}, "span": {"class", "data-user"}}
LINK_REL = {"nofollow", "noopener", "noreferrer"}
LINK_SCHEME = re.compile(r"^(https?|mailto):", re.IGNORECASE)
SCRIPTY_URL = re.compile(r"^(javascript|vbscript|data|livescript):", re.IGNORECASE)


def parse_fragment(html: str):
    """A fragment as the browser parses it (in a <div>), as an ElementTree element."""
    return html5lib.parseFragment(html, container="div", treebuilder="etree", namespaceHTMLElements=False)


def parse_document(html: str):
    return html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False)


def classes(el) -> set[str]:
    return set((el.get("class") or "").split())


def find_class(root, cls: str, tag: str | None = None) -> list:
    return [el for el in root.iter()
            if isinstance(el.tag, str) and cls in classes(el) and (tag is None or el.tag == tag)]


def find_id(root, element_id: str):
    return next((el for el in root.iter() if isinstance(el.tag, str) and el.get("id") == element_id), None)


def elements_below(el) -> list:
    return [e for e in el.iter() if e is not el and isinstance(e.tag, str)]


# What a display name or chat name keeps of what was typed: the tests' own copy of the rule (the
# app's is webchat.text_rules.without_controls). Control and format characters go (bidi controls,
# zero-width spaces); the joiners of emoji and scripts, and a flag's tag characters, stay.
NAME_JOINERS = {"\u200c", "\u200d"}


def name_as_kept(typed: str) -> str:
    kept = "".join(ch for ch in typed if unicodedata.category(ch) not in ("Cc", "Cf") or ch in NAME_JOINERS
                   or "\U000e0020" <= ch <= "\U000e007f")
    return " ".join(kept.split())


def body_as_kept(typed: str) -> str:
    """A message's text as the app keeps it (its rule is webchat.text_rules.body_without_controls):
    C0 controls and DEL go, but tab and line breaks; search marks its matches with two of them."""
    return "".join(ch for ch in typed if not (ch < " " or ch == "\x7f") or ch in "\t\n\r")


def text_of(el) -> str:
    return "".join(el.itertext())


def squash(text: str) -> str:
    """Whitespace collapsed, as a browser lays out normal text."""
    return " ".join(text.split())


def body_markup_problems(body) -> list[str]:
    """What in a rendered .msg-body is not on the allow-list (tags, attributes, link schemes, ids)."""
    problems = []
    for el in elements_below(body):
        if el.tag not in BODY_TAGS:
            problems.append(f"<{el.tag}> in a message body")
            continue
        for name, value in el.attrib.items():
            if name not in BODY_ATTRIBUTES.get(el.tag, set()):
                problems.append(f"<{el.tag} {name}={value!r}> in a message body")
        if el.tag == "a":
            href = el.get("href")
            if href is not None and not LINK_SCHEME.match(href):
                problems.append(f"link to {href!r}")
            if set((el.get("rel") or "").split()) != LINK_REL:
                problems.append(f"link without rel=nofollow noopener noreferrer: {el.attrib}")
        if el.tag == "span" and (classes(el) != {"mention"} or not el.get("data-user")):
            problems.append(f"span that is not a mention: {el.attrib}")
    return problems


SERVER_SPANS = {"presence", "muted", "tag", "dm-mark", "chat-title"}


def name_problems(el, allowed_children=("span",)) -> list[str]:
    """A name (display name, chat title) shown as plain text: no elements of the user's inside.

    allowed_children: the server's own markup that may sit in the same element (a presence
    span, which must carry a class the server gives it; the <em> of a system event's preview).
    """
    problems = []
    for child in elements_below(el):
        if child.tag not in allowed_children or (child.tag == "span" and not classes(child) & SERVER_SPANS) \
                or (child.tag != "span" and child.attrib):
            problems.append(f"<{child.tag} {child.attrib}> inside a name")
    return problems


SAFE_META = {"charset", "viewport", "htmx-config", "webchat-config", "color-scheme"}  # ours: fixed words, no user text


def page_problems(doc) -> list[str]:
    """Anything on a whole page that could run, load or drive htmx for a user's content.

    The page's own scripts are /static/ files; its one <style> carries the per-response nonce.
    """
    problems = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag == "script" and (not (el.get("src") or "").startswith("/static/") or text_of(el).strip()):
            problems.append(f"script {el.attrib} {text_of(el)[:60]!r}")
        if el.tag == "style" and not el.get("nonce"):
            problems.append("a <style> without the page's nonce")
        if el.tag in {"iframe", "frame", "frameset", "object", "embed", "svg", "math", "img", "base", "video",
                      "audio", "source", "applet", "bgsound", "keygen", "noscript", "xmp", "plaintext", "marquee"}:
            problems.append(f"<{el.tag}> on the page")
        if el.tag == "meta" and not SAFE_META & ({el.get("name")} | set(el.attrib)):
            problems.append(f"<meta {el.attrib}>")
        if el.tag == "link" and not (el.get("href") or "").startswith("/static/"):
            problems.append(f"<link {el.attrib}>")
        for name, value in el.attrib.items():
            if name.startswith("on"):
                problems.append(f"<{el.tag} {name}=…> event handler")
            if name.startswith(("hx-on", "data-hx-on")) or name in {"hx-vals", "data-hx-vals", "hx-vars"}:
                problems.append(f"<{el.tag} {name}> htmx code attribute")
            if name in {"href", "src", "action", "formaction", "data", "xlink:href", "background", "poster"} \
                    and SCRIPTY_URL.match(re.sub(r"[\x00-\x20]", "", value)):
                problems.append(f"<{el.tag} {name}={value!r}>")
            if name in {"hx-get", "hx-post", "data-hx-get", "data-hx-post"} and "logout" in value:
                problems.append(f"<{el.tag} {name}={value!r}>")
    return problems


# ----- what a message's text should look like ---------------------------------------------------

# Characters and line starts that the Markdown subset (or linkify, or mentions) may act on. A
# string without any of them must be shown exactly as typed.
MARKDOWN_SIGNIFICANT = re.compile(r"[\\`*_~\[\]<>&!|@:]|^\s*(#|>|[-+]|\d+[.)])|www\.", re.MULTILINE)


def is_plain(source: str) -> bool:
    return not MARKDOWN_SIGNIFICANT.search(source)


def markdown_text(source: str) -> str:
    """The text the Markdown subset makes visible of source before any cleaning.

    Markdown never emits raw HTML here, so cleaning must not take any of this text away.
    """
    from webchat.core.formatting import _markdown

    return squash(text_of(parse_fragment(_markdown.render(source, {"members": set()}))))


def message_problems(root, sources: dict[int, str], author: str | None = None) -> tuple[int, list[str]]:
    """Check every message of `sources` (id -> text sent) found under root: its body holds only
    allowed markup and shows the text, its author's name is text. Returns (found, problems)."""
    found, problems = 0, []
    for article in root.iter("article"):
        element_id = article.get("id") or ""
        if not re.fullmatch(r"m-\d+", element_id) or int(element_id[2:]) not in sources:
            continue
        found += 1
        source = sources[int(element_id[2:])]
        [body] = find_class(article, "msg-body")
        problems += [f"{source!r}: {p}" for p in body_markup_problems(body)]
        shown = squash(text_of(body))
        if shown != markdown_text(source) or (is_plain(source) and shown != squash(source)):
            problems.append(f"{source!r} is shown as {shown!r}")
        if author is not None:
            [name] = find_class(article, "msg-author")
            problems += name_problems(name, allowed_children=())
            if text_of(name) != author:
                problems.append(f"author shown as {text_of(name)!r}, not {author!r}")
    return found, problems
