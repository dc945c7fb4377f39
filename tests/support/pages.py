"""Reading pages the way a person sees them: a tiny DOM over html.parser, and webchat-specific finders.

parse(html) -> Node; Node.find_all(tag, cls=..., id=..., **attrs) walks the tree; Node.text is the
visible text with entities decoded. The helpers below name what a test looks for on a chat page.
"""
import re
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None" = None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node | str] = []

    # ----- reading -------------------------------------------------------------------------
    def get(self, name: str, default=None):
        return self.attrs.get(name, default)

    @property
    def id(self) -> str | None:
        return self.attrs.get("id")

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def elements(self):
        """Every element below this one, in document order (not this one)."""
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.elements()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs) -> list["Node"]:
        """Elements by tag, class and attribute values (attr=True: present; id_ for id)."""
        wanted = {"id" if name == "id_" else name.replace("_", "-"): value for name, value in attrs.items()}

        def matches(el: Node) -> bool:
            if (tag and el.tag != tag) or (cls and cls not in el.classes):
                return False
            return all((name in el.attrs) if value is True else el.attrs.get(name) == value
                       for name, value in wanted.items())
        return [el for el in self.elements() if matches(el)]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs) -> "Node | None":
        matches = self.find_all(tag, cls, **attrs)
        return matches[0] if matches else None

    def by_id(self, element_id: str) -> "Node | None":
        return self.find(id_=element_id)

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.stack[-1])
        self.stack[-1].children.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html) -> Node:
    """A Node tree for a string or a Flask test response."""
    if not isinstance(html, str):
        html = html.get_data(as_text=True)
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def text_of(html) -> str:
    """The page's visible text, entities decoded and whitespace collapsed."""
    return " ".join(parse(html).text.split())


# ----- webchat pages -------------------------------------------------------------------------

def messages(html) -> list[Node]:
    """The message <article>s, in page order."""
    return parse(html).find_all("article", cls="msg")


def message_ids(html) -> list[int]:
    return [int(m.get("data-id")) for m in messages(html)]


def system_messages(html) -> list[str]:
    """Texts of the .msg--system messages (without their time)."""
    return [" ".join(m.find("p", cls="msg-system").children[0].split())
            for m in messages(html) if "msg--system" in m.classes]


def message_body(html, message_id: int) -> Node:
    """The .msg-body of message message_id."""
    article = parse(html).by_id(f"m-{message_id}")
    assert article is not None, f"message m-{message_id} is not on the page"
    body = article.find("div", cls="msg-body")
    assert body is not None, f"message m-{message_id} has no body"
    return body


def _count(text: str) -> int | str:
    return text if text.endswith("+") else int(text)  # beyond 999 a badge says "999+"


def chat_list(html) -> list[dict]:
    """The chat list entries in order: id, title, preview, unread (0 without a badge; "999+"
    beyond 999), mentions ("@2": 2)."""
    entries = []
    for item in parse(html).find_all("li", cls="chat-item"):
        badge = item.find("span", cls="badge")
        mentions = item.find("span", cls="mention-badge")
        entries.append({
            "id": int(item.find("a").get("data-chat-id")),
            "title": " ".join(item.find("span", cls="chat-title").text.split()),
            "preview": " ".join(item.find("span", cls="preview").text.split()),
            "unread": _count(badge.text) if badge else 0,
            "mentions": _count(mentions.text.removeprefix("@")) if mentions else 0,
        })
    return entries


def composer(html) -> dict:
    """The composer form: its client_id, textarea text, error and whether it is out of band."""
    form = parse(html).by_id("composer")
    assert form is not None, "no composer on the page"
    error = form.find("p", cls="form-error")
    return {
        "client_id": form.find("input", name="client_id").get("value"),
        "body": form.find("textarea").text,
        "error": error.text if error else None,
        "oob": form.get("hx-swap-oob") == "true",
    }


def older_link(html) -> Node | None:
    """The "Load older messages" link, if there is one."""
    older = parse(html).by_id("older")
    return older.find("a") if older else None


def form_error(html) -> str | None:
    node = parse(html).find(cls="form-error") or parse(html).find(cls="field-error")
    return " ".join(node.text.split()) if node else None


CHAT_LOCATION = re.compile(r"^/chats/(\d+)(?:#m-(\d+))?$")


def chat_id_from(response) -> int:
    """The chat id a redirect (Location or HX-Redirect) points to."""
    location = response.headers.get("HX-Redirect") or response.headers.get("Location", "")
    match = CHAT_LOCATION.match(location)
    assert match, f"not a redirect to a chat: {response.status_code} {location!r}"
    return int(match.group(1))


def message_id_from(response) -> int:
    """The message id in a /chats/<id>#m-<id> redirect."""
    match = CHAT_LOCATION.match(response.headers.get("Location", ""))
    assert match and match.group(2), f"not a redirect to a message: {response.headers.get('Location')!r}"
    return int(match.group(2))
