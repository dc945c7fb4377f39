"""The one place user-supplied HTML is cleaned (nh3, a maintained html5ever/ammonia binding).

Everything the Markdown renderer produces passes through clean() before it is stored, so the
allow-list below is the whole of what a message can ever contain.
"""
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


def clean(html: str) -> str:
    """Return html with every tag, attribute, class and URL scheme outside the allow-list removed."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
