"""Message text to HTML: a Markdown subset, auto-links, :shortcode: emoji and @mentions, cleaned by
sanitize.clean.

Runs once per message, at write time; the stored HTML is what every page and socket shows.
"""
import re

import emoji
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import escape

from .. import sanitize

MENTION = re.compile(r"(?<![\w@./-])@([a-z0-9_-]{3,32})(?![\w-])", re.IGNORECASE)
# :tada:, :+1:, :thumbs_up: (or a run, ":tada::tada:") standing on their own: not "a:b:c" or a time
# like "10:30:00", whose parts could be names too (":b:" is 🅱️).
SHORTCODES = re.compile(r"(?<![\w:])(?::[a-z0-9_+-]{1,64}:)+(?![\w:])", re.IGNORECASE)
SHORTCODE = re.compile(r":[a-z0-9_+-]{1,64}:", re.IGNORECASE)


def _build_markdown() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": True, "breaks": True, "typographer": False})
    # The subset a chat needs; headings, tables, images and raw HTML stay plain text.
    md.enable(["emphasis", "backticks", "strikethrough", "escape", "entity", "newline",
               "fence", "code", "list", "blockquote", "link", "autolink", "linkify"])
    md.core.ruler.push("emoji", _emoji_rule)
    md.core.ruler.push("mentions", _mentions_rule)
    return md


def _emoji_rule(state) -> None:
    """Turn :shortcode: (the emoji package's names and GitHub/Slack aliases) into the emoji, in
    text only: code spans and blocks are other tokens, and an auto-linked URL is left as written
    (a link's own words are text like any other)."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        in_url = 0
        for tok in block.children:
            if tok.type == "link_open" and tok.markup in ("linkify", "autolink"):
                in_url += 1
            elif tok.type == "link_close" and in_url:
                in_url -= 1
            elif tok.type == "text" and not in_url and ":" in tok.content:
                tok.content = SHORTCODES.sub(_emoji_run, tok.content)


def _emoji_run(match: re.Match) -> str:
    # A name the package does not know comes back as typed.
    return SHORTCODE.sub(lambda name: emoji.emojize(name.group(0).lower(), language="alias"), match.group(0))


def _mentions_rule(state) -> None:
    """Turn @username of a chat member into a highlighted span, outside links and code."""
    members: set[str] = state.env.get("members", set())
    found: list[str] = state.env.setdefault("mentioned", [])
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children, in_link = [], 0
        for tok in block.children:
            if tok.type == "link_open":
                in_link += 1
            elif tok.type == "link_close":
                in_link -= 1
            if tok.type != "text" or in_link or "@" not in tok.content:
                children.append(tok)
                continue
            children.extend(_split_mentions(tok.content, members, found))
        block.children = children


def _split_mentions(text: str, members: set[str], found: list[str]) -> list[Token]:
    tokens, pos = [], 0
    for match in MENTION.finditer(text):
        username = match.group(1).lower()
        if username not in members:
            continue
        if match.start() > pos:
            tokens.append(_text(text[pos:match.start()]))
        span = Token("html_inline", "", 0)
        span.content = f'<span class="mention" data-user="{escape(username)}">@{escape(username)}</span>'
        tokens.append(span)
        if username not in found:
            found.append(username)
        pos = match.end()
    if pos < len(text):
        tokens.append(_text(text[pos:]))
    return tokens


def _text(content: str) -> Token:
    tok = Token("text", "", 0)
    tok.content = content
    return tok


_markdown = _build_markdown()


# One line that Markdown would leave as one paragraph of text: none of the characters the enabled
# inline rules start at (backslash, code spans, emphasis, strikethrough, links, autolinks,
# entities), no control or line-separating character, and no list marker first. Other
# punctuation ("Thanks!", "10:30", "+1", "#3", "50%") starts no enabled rule, so markdown-it
# keeps it as text. What auto-linking would still find ("file.py", "bob@example.com") is asked of
# the same linkify the renderer uses ("://" aside: markdown-it links "xhttp://host" where
# linkify alone finds nothing); :shortcodes: and @mentions are the two rules of ours, done
# here as they do them (_emoji_run, _split_mentions).
_PLAIN_LINE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029\\`*_~\[\]<>&]+")
_LIST_MARKER = re.compile(r"(?:\d+[.)]|[-+])(?:[ \t]|$)")
_LINK_HINT = re.compile(r"[.:@/]")  # what every link linkify finds has: a dot, a scheme, an e-mail's @ or "//"


def render_message(body: str, member_usernames: set[str]) -> tuple[str, list[str]]:
    """Return (clean HTML, usernames mentioned) for a message body."""
    if _is_plain_line(body):
        # Most chat messages are a line of words and punctuation; the full parse costs several
        # times what the rest of drafting does. tests/test_sanitize.py holds the two paths to one
        # answer.
        return _render_plain_line(body, member_usernames)
    return render_markdown(body, member_usernames)


def render_markdown(body: str, member_usernames: set[str]) -> tuple[str, list[str]]:
    """render_message through the full Markdown parse, whatever the text."""
    env = {"members": member_usernames}
    if _is_one_paragraph(body):
        html = _markdown.renderer.render(_paragraph_tokens(body, env), _markdown.options, env)
    else:
        html = _markdown.render(body, env)
    return sanitize.clean(html).strip(), env.get("mentioned", [])


# The core rules after the block parse (inline, linkify, text_join, ours): what a paragraph's
# text goes through once the block parser has found it.
_AFTER_BLOCKS = [rule.fn for rule in _markdown.core.ruler.__rules__
                 if rule.enabled and rule.name not in ("normalize", "block")]
# What can make one line more than one paragraph of its own text: a blockquote, a list item or a
# fence at its start (code blocks need indentation, which _is_one_paragraph leaves out).
_BLOCK_START = re.compile(r"[>*+\-`~]|\d+[.)]")


def _is_one_paragraph(body: str) -> bool:
    """True for a line the block parser would make one paragraph of, the whole line its text."""
    return (body != "" and body == body.strip() and not _BLOCK_START.match(body)
            and "\n" not in body and "\r" not in body and "\x00" not in body)


def _paragraph_tokens(body: str, env: dict) -> list[Token]:
    """The tokens markdown-it's parse makes of a line that is one paragraph, without the block
    parser (its line bookkeeping costs more than the paragraph itself on one line): the
    paragraph tokens as rules_block/paragraph.py pushes them, then the core rules after it."""
    opening, inline = Token("paragraph_open", "p", 1), Token("inline", "", 0)
    closing = Token("paragraph_close", "p", -1)
    opening.map, inline.map = [0, 1], [0, 1]
    inline.content, inline.children, inline.level = body, [], 1
    opening.block = inline.block = closing.block = True
    state = StateCore(body, _markdown, env, [opening, inline, closing])
    for rule in _AFTER_BLOCKS:
        rule(state)
    return state.tokens


def _is_plain_line(body: str) -> bool:
    return (_PLAIN_LINE.fullmatch(body) is not None and body == body.strip()
            and not _LIST_MARKER.match(body) and "://" not in body  # markdown-it's own scheme links
            and not (_LINK_HINT.search(body) and _markdown.linkify.test(body)))


def _render_plain_line(body: str, member_usernames: set[str]) -> tuple[str, list[str]]:
    """What the full parse makes of a plain line (one text token): its shortcodes as emoji, then
    its members' mentions as spans, the rest escaped, in a paragraph."""
    text = SHORTCODES.sub(_emoji_run, body) if ":" in body else body
    mentioned: list[str] = []
    if "@" in text:
        html = "".join(tok.content if tok.type == "html_inline" else escape(tok.content)
                       for tok in _split_mentions(text, member_usernames, mentioned))
    else:
        html = escape(text)
    return sanitize.clean(f"<p>{html}</p>"), mentioned


def render_plain(text: str) -> str:
    """HTML for text that is never Markdown (system events)."""
    return str(escape(text))
