"""The one place user-supplied HTML is cleaned (nh3, a maintained html5ever/ammonia binding).

Everything the Markdown renderer produces passes through clean() before it is stored, so the
allow-list below is the whole of what a message can ever contain.
"""
import html as html_entities
import re

import nh3

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "a", "ul", "ol", "li", "blockquote", "span", "del",
    "s",  # markdown-it renders ~~strikethrough~~ as <s>
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "span": {"data-user"},
}
ALLOWED_CLASSES = {"span": {"mention"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer"
# nh3 checks the scheme of absolute URLs only and lets relative ones through. A relative href is
# how a scheme hidden behind an invisible or entity-encoded character ends up ("java%09script:",
# "%E2%80%8Bjavascript:"), and "//host" leaves the site: only absolute http, https and mailto
# URLs make a link; anything else keeps its text and loses its href.
ABSOLUTE_LINK = re.compile(r"(?:https?|mailto):", re.IGNORECASE)


def _absolute_links_only(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href" and not ABSOLUTE_LINK.match(value):
        return None
    return value


# Built once: nh3.clean() converts the allow-lists into a new ammonia builder on every call,
# most of what cleaning a short message costs.
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_absolute_links_only,
    allowed_classes=ALLOWED_CLASSES,
    url_schemes=URL_SCHEMES,
    link_rel=LINK_REL,
    strip_comments=True,
)


def clean(html: str) -> str:
    """Return html with every tag, attribute, class and URL scheme outside the allow-list removed."""
    return _CLEANER.clean(html)


_NO_TAGS = nh3.Cleaner(tags=set(), attributes={}, strip_comments=True)


def plain_text(html: str) -> str:
    """The text a browser shows of stored message HTML, without its markup: what a chat list
    preview says, the same words a live page reads from the message's textContent."""
    return html_entities.unescape(_NO_TAGS.clean(html))
