"""Avatars: initials on a colour of one's own by default, or a picture chosen in the settings,
made small and square, refused with a reason when it is not a picture, and shown only to people
who may find its owner (workspace.findable: a guest, only if they share a chat)."""
import io
from pathlib import Path

import pytest
from PIL import Image

from webchat.core.avatars import AVATAR_SIZE
from webchat.templating import AVATAR_COLOURS, avatar_colour, initials

from .support.pages import form_error, parse
from .support.records import create_group, set_user, stored_messages
from .test_attachments import claimed_png

FILE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def picture(width=300, height=200, kind="PNG", color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, kind)
    return buffer.getvalue()


def choose(actor, content: bytes, name="me.png"):
    return actor.post("/settings/avatar", {"avatar": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def avatar_of(page_html, message_id: int):
    article = parse(page_html).by_id(f"m-{message_id}")
    return article.find(cls="avatar")


def files_on_disk(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path):
    folder = tmp_path / "instance" / "uploads"
    app.config["UPLOAD_DIR"] = str(folder)
    return folder


@pytest.fixture
def team(actor):
    """alice and bob in a group, alice's message in it: (chat id, message id, alice, bob)."""
    alice, bob = actor("alice"), actor("bob")
    chat_id = create_group(alice, "Team", "bob")
    alice.send(chat_id, "hello")
    [message] = [m for m in stored_messages(alice.app, chat_id) if m.kind == "user"]
    return chat_id, message.id, alice, bob


# ----- initials ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "shown"), [
    ("Ada Lovelace", "AL"), ("bob", "B"), ("Mary Ann Evans", "ME"), ("🎉 party people", "PP"), ("🎉", "🎉"),
    ("élodie durand", "ÉD"),
])
def test_initials_are_the_first_letters_of_the_first_and_last_words(name, shown):
    assert initials(name) == shown


def test_each_person_has_one_colour_of_the_palette_by_id():
    assert {avatar_colour(i) for i in range(1, 100)} == set(range(AVATAR_COLOURS))
    assert avatar_colour(7) == avatar_colour(7)


def test_without_a_picture_a_message_shows_the_authors_initials_on_their_colour(team, app):
    chat_id, message_id, alice, bob = team

    shown = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id)

    assert shown.tag == "span" and shown.text == "A" and shown.get("aria-hidden") == "true"
    colours = [c for c in shown.classes if c.startswith("avatar--")]
    assert len(colours) == 1
    # The same bytes for both viewers.
    assert str(avatar_of(alice.get(f"/chats/{chat_id}").text, message_id).attrs) == str(shown.attrs)


# ----- choosing a picture ----------------------------------------------------------------------

def test_a_chosen_picture_is_made_a_small_square_and_shown_beside_the_messages(team, upload_dir):
    chat_id, message_id, alice, bob = team

    response = choose(alice, picture(300, 200, "JPEG"), "me.jpg")

    assert response.status_code == 302 and response.location.endswith("/settings")
    img = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id)
    assert img.tag == "img" and img.get("alt") == ""
    served = bob.get(img.get("src"))
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/webp"
    assert served.headers["Content-Security-Policy"] == FILE_POLICY
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cache-Control"] == "private, no-store"
    assert Image.open(io.BytesIO(served.data)).size == (AVATAR_SIZE, AVATAR_SIZE)
    assert len(files_on_disk(upload_dir)) == 1  # the square only: the original and its thumbnail went
    assert parse(alice.get("/settings").text).find("img", cls="avatar").get("src") == img.get("src")


def test_a_new_picture_replaces_the_old_one_and_its_file(team, upload_dir):
    chat_id, message_id, alice, bob = team
    choose(alice, picture(color="red"))
    first = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).get("src")

    choose(alice, picture(color="blue"))

    second = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).get("src")
    assert second != first
    assert len(files_on_disk(upload_dir)) == 1
    pixel = Image.open(io.BytesIO(bob.get(second).data)).convert("RGB").getpixel((64, 64))
    assert pixel[2] > 200 and pixel[0] < 50  # blue


def test_a_picture_sent_with_the_message_already_stored_shows_on_the_next_render(team):
    chat_id, message_id, alice, bob = team
    choose(alice, picture())

    alice.send(chat_id, "and now with a face")

    articles = parse(bob.get(f"/chats/{chat_id}").text).find_all("article", cls="msg--user")
    assert [a.find(cls="avatar").tag for a in articles] == ["img", "img"]


def test_removing_the_picture_brings_the_initials_back(team, upload_dir):
    chat_id, message_id, alice, bob = team
    choose(alice, picture())
    src = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).get("src")

    response = alice.post("/settings/avatar", {"action": "remove"})

    assert response.status_code == 302
    assert avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).text == "A"
    assert bob.get(src).status_code == 404
    assert files_on_disk(upload_dir) == []


@pytest.mark.parametrize(("content", "name", "words"), [
    (b"", "empty.png", "“empty.png” is empty (0 bytes)"),
    (b"%PDF-1.4 not a picture", "fake.png", "“fake.png” is not a picture webchat can show"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "me.svg",
     "“me.svg” is not a picture webchat can show"),
    (picture(kind="BMP"), "me.bmp", "“me.bmp” is not a picture webchat can show"),
    (picture()[:200], "cut.png", "“cut.png” is not a picture webchat can show"),
    (b"\x89PNG" + b"\0" * (5 * 1024 * 1024), "huge.png", "“huge.png” is 5 MB; a picture can be up to 5 MB"),
], ids=["empty", "not-an-image", "svg", "bmp", "truncated", "too-big"])
def test_what_is_not_a_usable_picture_is_refused_with_a_reason_and_nothing_changes(team, upload_dir,
                                                                                   content, name, words):
    chat_id, message_id, alice, bob = team
    choose(alice, picture())
    before = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).get("src")

    response = choose(alice, content, name)

    assert response.status_code == 422
    assert words in form_error(response.text)
    assert avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).get("src") == before
    assert len(files_on_disk(upload_dir)) == 1


@pytest.mark.parametrize(("width", "height", "words"), [
    (10000, 6000, "“bomb.png” has too many pixels to shrink"),
    (30000, 30000, "“bomb.png” is not a picture webchat can show"),  # past Pillow's own bomb limit
], ids=["over-our-limit", "over-pillows-limit"])
def test_a_small_file_claiming_a_huge_picture_is_refused_undecoded(team, upload_dir, width, height, words):
    _, _, alice, _ = team

    response = choose(alice, claimed_png(width, height), "bomb.png")

    assert response.status_code == 422
    assert words in form_error(response.text)
    assert files_on_disk(upload_dir) == []


def test_no_file_chosen_is_refused_with_a_reason(team):
    _, _, alice, _ = team

    response = alice.post("/settings/avatar", {})

    assert response.status_code == 422
    assert form_error(response.text) == "Choose a picture to upload."


def test_a_body_past_the_request_limit_is_refused_on_the_settings_page(team, app):
    _, _, alice, _ = team
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    response = choose(alice, b"\0" * (100 * 1024), "big.png")

    assert response.status_code == 413
    assert "That picture is larger than 5 MB" in form_error(response.text)


# ----- who may see it ------------------------------------------------------------------------

def test_members_of_the_workspace_get_the_picture_and_a_guest_only_sharing_a_chat(team, actor, anonymous, app):
    chat_id, message_id, alice, bob = team
    choose(alice, picture())
    src = avatar_of(bob.get(f"/chats/{chat_id}").text, message_id).get("src")
    mallory, gus = actor("mallory"), actor("gus")
    set_user(app, "gus", role="guest")

    assert alice.get(src).status_code == 200
    assert bob.get(src).status_code == 200
    assert mallory.get(src).status_code == 200  # she finds alice in the directory, picture and all
    assert gus.get(src).status_code == 404
    assert anonymous.get(src).status_code == 302
    create_group(alice, "With the guest", "gus")
    assert gus.get(src).status_code == 200
