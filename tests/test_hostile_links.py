"""Links in messages: only absolute http, https and mailto URLs become links, each with
rel="nofollow noopener noreferrer" and no target (links open in the same tab: the app's choice).
Scripting schemes in any spelling (case, tabs and newlines, zero-width and soft-hyphen characters,
entity-encoded), data: URLs, and relative or scheme-relative URLs stay text, whether written as a
Markdown link, an autolink, bare text or raw HTML. Sent through the HTTP API and read back from
the send answer, the chat page and polling, as html5lib parses them.
"""

import pytest

from .support.hostile import LINK_REL, find_class, markdown_text, parse_document, parse_fragment, squash, text_of
from .support.records import create_group, stored_messages

HIDDEN_SCHEMES = {
    "markdown javascript": "[x](javascript:alert(1))",
    "mixed case": "[x](JaVaScRiPt:alert(1))",
    "tab inside": "[x](java\tscript:alert(1))",
    "entity tab": "[x](java&#x09;script:alert(1))",
    "named entity tab": "[x](java&Tab;script:alert(1))",
    "entity newline": "[x](jav&NewLine;ascript:alert(1))",
    "percent newline": "[x](java%0ascript:alert(1))",
    "zero-width space inside": "[x](java\u200bscript:alert(1))",
    "zero-width space before": "[x](\u200bjavascript:alert(1))",
    "zero-width joiner": "[x](java\u200dscript:alert(1))",
    "byte order mark before": "[x](\ufeffjavascript:alert(1))",
    "soft hyphen": "[x](java\u00adscript:alert(1))",
    "entity soft hyphen": "[x](java&shy;script:alert(1))",
    "numeric soft hyphen": "[x](java&#173;script:alert(1))",
    "line separator before": "[x](\u2028javascript:alert(1))",
    "entity-encoded j": "[x](&#106;avascript:alert(1))",
    "hex-encoded j": "[x](&#x6A;avascript:alert(1))",
    "entity colon": "[x](javascript&colon;alert(1))",
    "angle-bracket destination": "[x](<javascript:alert(1)>)",
    "vbscript": "[x](vbscript:msgbox(1))",
    "data html": "[x](data:text/html,<script>alert(1)</script>)",
    "data base64": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "data image": "[x](data:image/png;base64,iVBORw0KGgo=)",
    "file": "[x](file:///etc/passwd)",
    "ftp": "[x](ftp://example.com/file)",
    "scheme-relative": "[x](//evil.example/x)",
    "relative path": "[x](/logout)",
    "fragment": "[x](#m-1)",
    "query": "[x](?next=/logout)",
    "https without host": "[x](https:javascript:alert(1))",
    "autolink javascript": "<javascript:alert(1)>",
    "autolink upper case": "<JAVASCRIPT:alert(1)>",
    "autolink data": "<data:text/html,<script>alert(1)</script>>",
    "autolink vbscript": "<vbscript:msgbox(1)>",
    "autolink zero-width": "<java\u200bscript:alert(1)>",
    "autolink scheme-relative": "<//evil.example>",
    "bare javascript": "javascript:alert(1)",
    "bare mixed case": "JaVaScRiPt:alert(1)",
    "bare data": "data:text/html,<script>alert(1)</script>",
    "bare scheme-relative": "see //evil.example/x",
    "bare ftp": "ftp://example.com/file",
    "bare zero-width": "java\u200bscript:alert(1)",
    "raw html link": '<a href="javascript:alert(1)">x</a>',
    "raw html entity tab": '<a href="jav&#x09;ascript:alert(1)">x</a>',
}

LINKS = {
    "markdown https": ("[docs](https://example.com/docs)", "https://example.com/docs", "docs"),
    "markdown http": ("[site](http://example.com)", "http://example.com", "site"),
    "upper-case scheme": ("[x](HTTPS://EXAMPLE.COM/)", "HTTPS://EXAMPLE.COM/", "x"),
    "markdown mailto": ("[mail](mailto:bob@example.com)", "mailto:bob@example.com", "mail"),
    "autolink": ("<https://example.com>", "https://example.com", "https://example.com"),
    "autolink mailto": ("<mailto:bob@example.com>", "mailto:bob@example.com", "mailto:bob@example.com"),
    "bare url": ("see http://example.com/a?b=c&d=e.", "http://example.com/a?b=c&d=e", "http://example.com/a?b=c&d=e"),
    "bare www": ("www.example.com", "http://www.example.com", "www.example.com"),
    "bare email": ("bob@example.com", "mailto:bob@example.com", "bob@example.com"),
}


@pytest.fixture
def chat(actor):
    """(chat id, alice): alice in a chat of her own."""
    alice = actor("alice")
    return create_group(alice, "Links"), alice


def shown_bodies(alice, chat_id: int, source: str) -> tuple[int, list]:
    """Send source over HTTP (htmx); its .msg-body as the send answer, the page and polling show it."""
    response = alice.send(chat_id, source, htmx=True)
    assert response.status_code == 200, response.status_code
    [stored] = [m for m in stored_messages(alice.app, chat_id) if m.kind == "user"]
    assert stored.body == source.strip()
    bodies = []
    for html, parse in ((response.get_data(as_text=True), parse_fragment),
                        (alice.get(f"/chats/{chat_id}").get_data(as_text=True), parse_document),
                        (alice.get(f"/chats/{chat_id}/messages?after=0").get_data(as_text=True), parse_fragment)):
        article = next(a for a in parse(html).iter("article") if a.get("id") == f"m-{stored.id}")
        bodies.append(find_class(article, "msg-body")[0])
    return stored.id, bodies


@pytest.mark.parametrize("source", HIDDEN_SCHEMES.values(), ids=HIDDEN_SCHEMES.keys())
def test_a_url_that_is_not_absolute_http_https_or_mailto_never_becomes_a_link_and_its_text_stays(chat, source):
    chat_id, alice = chat

    _, bodies = shown_bodies(alice, chat_id, source)

    for body in bodies:
        anchors = list(body.iter("a"))
        assert [a.get("href") for a in anchors if a.get("href") is not None] == []
        assert not [el for el in body.iter() if el.get("target") or el.get("src") or el.get("onclick")]
        assert squash(text_of(body)) == markdown_text(source)  # what Markdown shows, none of it cleaned away
        if not anchors and "&" not in source:  # (Markdown decodes character references)
            assert squash(text_of(body)) == squash(source)  # shown exactly as typed


@pytest.mark.parametrize(("source", "href", "text"), LINKS.values(), ids=LINKS.keys())
def test_absolute_http_https_and_mailto_urls_become_links_with_rel_nofollow_noopener_noreferrer(chat, source, href,
                                                                                                text):
    chat_id, alice = chat

    _, bodies = shown_bodies(alice, chat_id, source)

    for body in bodies:
        [link] = list(body.iter("a"))
        assert link.get("href") == href
        assert set(link.get("rel").split()) == LINK_REL
        assert "target" not in link.attrib  # same tab: the app's choice
        assert text_of(link) == text


def test_a_raw_links_target_opener_and_handler_stay_text_and_only_its_url_is_linked_safely(chat):
    chat_id, alice = chat
    source = '<a href="https://example.com" target="_blank" rel="opener" onclick="alert(1)">x</a>'

    _, bodies = shown_bodies(alice, chat_id, source)

    for body in bodies:
        [link] = list(body.iter("a"))  # linkify's, for the URL inside the text
        assert set(link.attrib) == {"href", "rel"} and link.get("href") == "https://example.com"
        assert set(link.get("rel").split()) == LINK_REL
        assert text_of(body) == source
