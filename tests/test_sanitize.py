"""The HTML allow-list (webchat.sanitize.clean) and message rendering (formatting.render_message)."""
import json
import random
import string
from pathlib import Path

import pytest

from webchat.core import formatting
from webchat.core.formatting import render_message, render_plain
from webchat.sanitize import LINK_REL, clean

from .support.pages import parse

REL = f'rel="{LINK_REL}"'


# ----- clean: tags ---------------------------------------------------------------------------

@pytest.mark.parametrize("html", [
    "<p>text</p>",
    "<p>line<br>break</p>",
    "<strong>bold</strong>",
    "<em>italic</em>",
    "<code>code</code>",
    "<pre><code>block</code></pre>",
    "<ul><li>one</li></ul>",
    '<ol start="3"><li>three</li></ol>',
    "<blockquote>quoted</blockquote>",
    "<del>gone</del>",
    "<s>struck</s>",
    '<span class="mention" data-user="bob">@bob</span>',
])
def test_allowed_tags_are_kept_as_they_are(html):
    assert clean(html) == html


@pytest.mark.parametrize(("html", "expected"), [
    ("<script>alert(1)</script>after", "after"),
    ("<style>p { color: red }</style>after", "after"),
    ("<img src=x onerror=alert(1)>after", "after"),
    ('<iframe src="https://evil.example"></iframe>after', "after"),
    ('<svg onload="alert(1)"><a href="javascript:alert(1)">x</a></svg>after', "after"),
    ("<div>inside</div>", "inside"),
    ("<h1>heading</h1>", "heading"),
    ("<b>bold</b> <i>italic</i> <u>under</u>", "bold italic under"),
    ("<table><tr><td>cell</td></tr></table>", "cell"),
    ('<form action="/logout" method="post"><button>go</button></form>', "go"),
    ('<input value="x">after', "after"),
    ('<object data="x.swf"></object><embed src="x.swf">after', "after"),
    ("<!-- a comment -->after", "after"),
], ids=["script", "style", "img", "iframe", "svg", "div", "heading", "b-i-u", "table", "form", "input",
        "object-embed", "comment"])
def test_other_tags_are_removed_and_only_harmless_text_is_left(html, expected):
    assert clean(html) == expected


# ----- clean: attributes ---------------------------------------------------------------------

def test_links_get_rel_nofollow_noopener_noreferrer():
    cleaned = clean('<a href="https://example.com" title="Example">x</a>')

    [link] = parse(cleaned).find_all("a")
    assert link.attrs == {"href": "https://example.com", "title": "Example", "rel": LINK_REL}


def test_a_links_own_rel_and_target_do_not_survive():
    [link] = parse(clean('<a href="https://example.com" rel="opener" target="_blank">x</a>')).find_all("a")

    assert link.get("rel") == LINK_REL
    assert "target" not in link.attrs


@pytest.mark.parametrize("href", ["http://example.com/a?b=c", "https://example.com", "mailto:bob@example.com"])
def test_http_https_and_mailto_links_survive(href):
    [link] = parse(clean(f'<a href="{href}">x</a>')).find_all("a")

    assert link.get("href") == href


@pytest.mark.parametrize("href", [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java&#x09;script:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://example.com/file",
    "file:///etc/passwd",
])
def test_links_with_other_schemes_lose_their_href(href):
    cleaned = clean(f'<a href="{href}">x</a>')

    [link] = parse(cleaned).find_all("a")
    assert "href" not in link.attrs
    assert link.text == "x"


@pytest.mark.parametrize("attribute", [
    'onclick="alert(1)"', 'onmouseover="alert(1)"', 'onerror="alert(1)"', 'onfocus="alert(1)" autofocus',
])
@pytest.mark.parametrize("tag", ["p", "a", "span", "code"])
def test_event_handler_attributes_are_removed(tag, attribute):
    cleaned = clean(f"<{tag} {attribute}>x</{tag}>")

    [element] = parse(cleaned).find_all(tag)
    assert not [name for name in element.attrs if name.startswith("on") or name == "autofocus"]


@pytest.mark.parametrize("tag", ["p", "a", "span", "strong", "pre"])
def test_style_attributes_are_removed(tag):
    cleaned = clean(f'<{tag} style="position:fixed;inset:0;background:red">x</{tag}>')

    [element] = parse(cleaned).find_all(tag)
    assert "style" not in element.attrs


def test_htmx_attributes_ids_and_classes_outside_the_allow_list_are_removed():
    cleaned = clean('<p id="composer" class="msg" hx-get="/logout" hx-trigger="load" data-hx-post="/x">x</p>'
                    '<span class="mention evil" data-user="bob" data-other="1">@bob</span>')

    assert cleaned == '<p>x</p><span class="mention" data-user="bob">@bob</span>'


# ----- render_message ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("**bold**", "<p><strong>bold</strong></p>"),
    ("*italic* and _italic_", "<p><em>italic</em> and <em>italic</em></p>"),
    ("`x < y`", "<p><code>x &lt; y</code></p>"),
    ("~~struck~~", "<p><s>struck</s></p>"),
    ("```\nif a < b:\n    pass\n```", "<pre><code>if a &lt; b:\n    pass\n</code></pre>"),
    ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
    ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
    ("line one\nline two", "<p>line one<br>\nline two</p>"),
    ("[docs](https://example.com/docs)", f'<p><a href="https://example.com/docs" {REL}>docs</a></p>'),
    ("see https://example.com", f'<p>see <a href="https://example.com" {REL}>https://example.com</a></p>'),
], ids=["bold", "italic", "code", "strikethrough", "fenced-code", "list", "quote", "line-break", "link",
        "autolink"])
def test_render_message_turns_the_markdown_subset_into_clean_html(body, expected):
    assert render_message(body, set()) == (expected, [])


@pytest.mark.parametrize("body", [
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
])
def test_render_message_shows_raw_html_as_text(body):
    html, _ = render_message(body, set())

    page = parse(html)
    assert [el.tag for el in page.elements()] == ["p"]
    assert page.text == body


@pytest.mark.parametrize("body", [
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert(1)>",
    "[x](vbscript:msgbox(1))",
])
def test_render_message_never_makes_a_script_link(body):
    html, _ = render_message(body, set())

    for link in parse(html).find_all("a"):
        assert (link.get("href") or "").startswith(("http:", "https:", "mailto:"))
    assert body in parse(html).text  # shown as typed


@pytest.mark.parametrize("body", ["# Heading", "![alt](https://example.com/x.png)", "| a | b |\n|---|---|\n| 1 | 2 |"],
                         ids=["heading", "image", "table"])
def test_render_message_leaves_headings_images_and_tables_as_text(body):
    html, _ = render_message(body, set())

    assert {el.tag for el in parse(html).elements()} <= {"p", "br", "a"}  # an image is at most a link


def test_mentions_of_members_are_highlighted_and_reported_once_each():
    html, mentioned = render_message("@Bob, @alice and @bob again; @carol is not here", {"alice", "bob"})

    spans = parse(html).find_all("span", cls="mention")
    assert [(s.get("data-user"), s.text) for s in spans] == [("bob", "@bob"), ("alice", "@alice"), ("bob", "@bob")]
    assert mentioned == ["bob", "alice"]
    assert "@carol" in parse(html).text


@pytest.mark.parametrize("body", [
    "`@bob`",
    "```\n@bob\n```",
    "[@bob](https://example.com)",
    "mail bob@example.com",
    "see https://example.com/@bob",
    "@bobby",
])
def test_at_signs_that_are_not_mentions_of_a_member_are_left_alone(body):
    html, mentioned = render_message(body, {"bob"})

    assert parse(html).find_all("span", cls="mention") == []
    assert mentioned == []


def test_render_plain_escapes_everything():
    assert render_plain('<b>Tom & "Jerry"</b>') == "&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;"


# ----- the plain-line shortcut: the same HTML as the full parse ------------------------------

PLAIN_LINES = [
    "ok, see you at five", 'He said "hi" and it\'s fine', "thanks 👍", "version 2.5 is out", "e.g. this one",
    "a  b", "x (y) z", "100 percent; or so?", "1 2 3", "Ünïcödé façade — naïve", "日本語のテキスト", "שלום עולם",
    "e\u0301 combining", "zero\u200bwidth", "tab less, no newline", "'quoted'", '"', "/slash/ and back",
    "Thanks!", "see you at 10:30", "+1", "50% done, #3 next", ":tada: shipped :+1:", "@bob can you look?",
    "ask @bob or @carol", "a = b ^ {c} | $d", ":nosuchname: stays", "10:30:00 sharp", "-5 degrees",
]


def _bodies_to_compare():
    """Texts to render both ways: plain lines, the naughty strings, and random lines of characters
    around every rule the shortcut must leave to the full parse."""
    bodies = PLAIN_LINES + json.loads((Path(__file__).parent / "data" / "blns.json").read_text())
    everything = string.printable + "éü日👍—…\u00a0\u200b\u2028\u0085\t"
    wordy = string.ascii_letters + string.digits + " ,.?;'\"()/éü日👍—…\u00a0"
    words = ["file.py", "example.com", "1.", "2)", "www", "http", "mailto", "a.b", "e.g.", "@bob", "bob",
             ":tada:", ":+1:", "10:30", "Thanks!", "http://", "https://x.io", "//localhost", "ftp:", "-", "+",
             "@BoB", "a@b.co", "@bob:tada:", "localhost:8000", "x://y"]
    rng = random.Random(7)
    for _ in range(4000):
        alphabet = rng.choice([everything, wordy])
        parts = [rng.choice(words) if rng.random() < 0.2 else
                 "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 6))]
        bodies.append(" ".join(parts))
    return bodies


def test_a_plain_line_renders_exactly_as_the_full_markdown_parse_would():
    taken = 0
    for body in _bodies_to_compare():
        if not formatting._is_plain_line(body):
            continue
        taken += 1
        assert render_message(body, {"bob"}) == formatting.render_markdown(body, {"bob"}), body
    assert all(formatting._is_plain_line(body) for body in PLAIN_LINES)
    assert taken > 1000  # the shortcut was really compared, not skipped


@pytest.mark.parametrize("body", [
    "see file.py", "go to example.com", "1. first", "3) third", "a *b*", "a_b_", "`x`", "x\ny", "a & b",
    "<b>", "x\\y", "~~x~~", "[x]", "> quote", "- item", "+ item", "-", " leading", "ok\u2028ok",
    "a@b.co hi", "éhttp://host", "x://y and http://example.com",
])
def test_text_with_markdown_or_links_takes_the_full_parse(body):
    assert not formatting._is_plain_line(body)
    assert render_message(body, {"bob"}) == formatting.render_markdown(body, {"bob"})


def test_a_one_paragraph_line_renders_exactly_as_markdown_its_block_parse_would():
    """render_markdown skips the block parser for a line that can only be one paragraph."""
    markdown_words = ["**bold**", "*it*", "_u_", "`code`", "~~s~~", "[a](http://b.c)", "<http://x.y>", "&amp;",
                      "&#42;", "\\*", "a@b.co", "![i](x)", "https://example.com/menu?a=1&b=2", "<b>", "***", "x://y"]
    rng = random.Random(11)
    bodies = _bodies_to_compare() + [" ".join(rng.choice(markdown_words + ["word", "@bob", ":tada:", "> q", "- x"])
                                              for _ in range(rng.randint(1, 6))) for _ in range(2000)]
    taken = 0
    for body in bodies:
        taken += formatting._is_one_paragraph(body)
        env = {"members": {"bob"}}
        whole_parse = formatting.sanitize.clean(formatting._markdown.render(body, env)).strip()
        assert formatting.render_markdown(body, {"bob"}) == (whole_parse, env.get("mentioned", [])), body
    assert taken > 1000
