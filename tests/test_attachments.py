"""Attachments: sending files, who may fetch them, how they are served, limits, deletion, live delivery.

Request tests (a browser without JavaScript, or the page's uploader, which sends HX-Request)
against the app with an upload folder of the test's own; the live parts (another member's open
socket, a page that was away) against the real server with real sockets.
"""
import http.client
import io
import re
import struct
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from webchat.core.attachments import display_name, request_limit
from webchat.extensions import db
from webchat.models import Attachment, Message

from .conftest import _TMP
from .support import services
from .support.pages import chat_list, composer, parse, text_of
from .support.records import create_group, snapshot, stored_messages
from .support.wsclient import Person, memory_kib, messages_in, reset_peak, server_worker_pids

FILE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


# ----- helpers -----------------------------------------------------------------------------

def png(width=800, height=600, color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def upload(actor, chat_id, *files, body="", client_id=None, htmx=True, after=None, csrf=True):
    """files: (name, bytes) or (name, bytes, content type) as the browser names and types them."""
    data = {"body": body, "client_id": client_id or str(uuid.uuid4()),
            "files": [(io.BytesIO(f[1]), f[0], *f[2:]) for f in files]}
    if after is not None:
        data["after"] = str(after)
    return actor.post(f"/chats/{chat_id}/attachments", data, htmx=htmx, csrf=csrf, content_type="multipart/form-data")


def attachments_of(app, chat_id=None) -> list[Attachment]:
    with app.app_context():
        query = select(Attachment).order_by(Attachment.id)
        if chat_id is not None:
            query = query.where(Attachment.chat_id == chat_id)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


def files_on_disk(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def links(html) -> dict[str, dict]:
    """The attachment links of a page, fragment or parsed element, by shown name: url, size text,
    thumbnail src."""
    found = {}
    for item in (html if hasattr(html, "find_all") else parse(html)).find_all("li", cls="attachment"):
        anchor = item.find("a")
        image = item.find("img")
        name = item.find("span", cls="attachment-name")
        size = item.find("span", cls="attachment-size")
        found[name.text if name else image.get("alt")] = {
            "href": anchor.get("href"), "size": size.text if size else None,
            "thumbnail": image.get("src") if image else None, "download": "download" in anchor.attrs}
    return found


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path):
    """Each test's files go to a folder of its own, so 'nothing was stored' can be checked on disk."""
    folder = tmp_path / "instance" / "uploads"
    app.config["UPLOAD_DIR"] = str(folder)
    return folder


@pytest.fixture
def small_limit(app):
    """Uploads limited to 10 KB (and request bodies to a little more), as WEBCHAT_MAX_UPLOAD_MB would."""
    app.config["MAX_UPLOAD_MB"] = 10 / 1024
    app.config["MAX_CONTENT_LENGTH"] = request_limit(app.config)


@pytest.fixture
def team(actor):
    """alice and bob in a group: (chat id, alice, bob)."""
    alice, bob = actor("alice"), actor("bob")
    return create_group(alice, "Team", "bob"), alice, bob


# ----- sending files ------------------------------------------------------------------------

def test_a_picture_is_shown_as_a_thumbnail_that_opens_the_full_image(team, upload_dir):
    chat_id, alice, bob = team
    picture = png(800, 600)

    response = upload(alice, chat_id, ("holiday.png", picture), body="look at *this*")

    assert response.status_code == 200
    [message] = messages_in(response.get_data(as_text=True))
    assert "<em>this</em>" in message["html"]
    shown = links(bob.get(f"/chats/{chat_id}"))["holiday.png"]
    assert shown["thumbnail"] == f"/chats/{chat_id}/thumbnails/{attachments_of(alice.app)[0].id}"
    img = parse(bob.get(f"/chats/{chat_id}")).find("img", alt="holiday.png")
    assert (img.get("width"), img.get("height")) == ("400", "300")
    thumbnail = bob.get(shown["thumbnail"])
    assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(thumbnail.data)).size == (400, 300)
    full = bob.get(shown["href"])
    assert full.status_code == 200 and full.data == picture
    assert full.headers["Content-Type"] == "image/png"
    assert full.headers["Content-Disposition"] == "inline; filename=holiday.png"
    [row] = attachments_of(alice.app)
    assert (row.content_type, row.width, row.height, row.has_thumbnail, row.size) == (
        "image/png", 800, 600, True, len(picture))
    assert len(files_on_disk(upload_dir)) == 2  # the file and its thumbnail


def test_any_other_file_is_a_download_link_with_its_name_and_size(team):
    chat_id, alice, bob = team
    notes = b"minutes of the meeting\n" * 60  # 1,380 bytes

    upload(alice, chat_id, ("minutes.txt", notes, "text/plain"), body="")

    shown = links(bob.get(f"/chats/{chat_id}"))
    attachment_id = attachments_of(alice.app)[0].id
    assert shown == {"minutes.txt": {"href": f"/chats/{chat_id}/attachments/{attachment_id}/minutes.txt",
                                     "size": "1.3 KB", "thumbnail": None, "download": True}}
    download = bob.get(shown["minutes.txt"]["href"])
    assert download.data == notes
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"] == "attachment; filename=minutes.txt"


def test_the_chat_list_previews_files_sent_without_a_caption_by_their_names(team):
    chat_id, alice, bob = team

    upload(alice, chat_id, ("minutes.txt", b"notes"), ("chart.png", png(40, 30)))

    [entry] = [e for e in chat_list(bob.get("/")) if e["id"] == chat_id]
    assert entry["preview"] == "Alice: 📎 minutes.txt, chart.png"


def test_several_files_travel_in_one_message(team):
    chat_id, alice, bob = team

    response = upload(alice, chat_id, ("a.txt", b"first"), ("b.png", png(40, 30)), ("c.txt", b"third"),
                      body="three files")

    assert len(messages_in(response.get_data(as_text=True))) == 1
    assert [m.body for m in stored_messages(alice.app, chat_id) if m.kind == "user"] == ["three files"]
    assert list(links(bob.get(f"/chats/{chat_id}"))) == ["a.txt", "b.png", "c.txt"]


def test_files_need_no_caption_but_a_plain_message_still_needs_text(team):
    chat_id, alice, _ = team

    with_files = upload(alice, chat_id, ("report.pdf", b"%PDF-1.4 fake"), body="   ")
    without_text = alice.send(chat_id, "   ", htmx=True)
    without_files = upload(alice, chat_id, body="only words")

    assert with_files.status_code == 200
    assert without_text.status_code == 422
    assert without_files.status_code == 422
    assert "Choose a file to attach." in text_of(without_files)
    assert [(m.body, m.kind) for m in stored_messages(alice.app, chat_id)][-1] == ("", "user")
    assert len(attachments_of(alice.app)) == 1


def test_a_page_without_javascript_uploads_with_the_composers_own_button_and_lands_on_the_message(team):
    chat_id, alice, bob = team
    form = parse(alice.get(f"/chats/{chat_id}")).by_id("composer")
    button = form.find("button", cls="attach-send")
    assert form.find("input", type="file").get("name") == "files"
    assert (button.get("formaction"), button.get("formenctype")) == (f"/chats/{chat_id}/attachments",
                                                                      "multipart/form-data")

    response = upload(alice, chat_id, ("plan.txt", b"the plan"), body="see attached", htmx=False)

    message_id = stored_messages(alice.app, chat_id)[-1].id
    assert response.status_code == 302
    assert response.headers["Location"] == f"/chats/{chat_id}#m-{message_id}"
    assert "plan.txt" in links(bob.get(f"/chats/{chat_id}"))


def test_the_same_client_id_sent_twice_stores_one_message_and_one_copy_of_the_files(team, upload_dir):
    chat_id, alice, _ = team
    client_id = str(uuid.uuid4())

    first = upload(alice, chat_id, ("twice.txt", b"once"), client_id=client_id)
    again = upload(alice, chat_id, ("twice.txt", b"once"), client_id=client_id)

    assert first.status_code == again.status_code == 200
    assert messages_in(first.get_data(as_text=True))[0]["id"] == messages_in(again.get_data(as_text=True))[0]["id"]
    assert len(attachments_of(alice.app)) == 1
    assert len(files_on_disk(upload_dir)) == 1


def test_the_uploaders_page_gets_every_message_it_missed_with_its_own(team):
    chat_id, alice, bob = team
    page = parse(alice.get(f"/chats/{chat_id}"))
    newest = max(int(a.get("data-id")) for a in page.find_all("article"))
    bob.send(chat_id, "meanwhile")

    response = upload(alice, chat_id, ("late.txt", b"x"), after=newest)

    html = response.get_data(as_text=True)
    assert [m["html"].count("late.txt") > 0 for m in messages_in(html)] == [False, True]
    assert "meanwhile" in html


# ----- in a thread: the pane's composer sends files too (pages/threads.send_reply) ------------------

def send_text(actor, chat_id, body) -> int:
    response = actor.send(chat_id, body)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return int(response.headers["Location"].rsplit("#m-", 1)[1])


def reply_with(actor, chat_id, parent_id, *files, body="", client_id=None, htmx=True, after=None, broadcast=False):
    """As the thread composer posts (attachments.js with HX-Trigger, or the multipart form)."""
    data = {"body": body, "client_id": client_id or str(uuid.uuid4()),
            "files": [(io.BytesIO(f[1]), f[0], *f[2:]) for f in files]}
    if after is not None:
        data["after"] = str(after)
    if broadcast:
        data["broadcast"] = "1"
    return actor.post(f"/chats/{chat_id}/threads/{parent_id}/replies", data, htmx=htmx,
                      trigger="thread-composer" if htmx else None, content_type="multipart/form-data")


def test_a_file_sent_from_a_threads_composer_is_a_reply_with_it_shown_in_the_pane_not_in_the_channel(team):
    chat_id, alice, bob = team
    parent = send_text(alice, chat_id, "Which logo?")
    client_id = str(uuid.uuid4())

    response = reply_with(bob, chat_id, parent, ("logo.png", png(80, 60)), ("notes.txt", b"v2"),
                          body="this *one*", client_id=client_id, after=0)

    assert response.status_code == 200
    answer = parse(response)
    [article] = answer.find_all("article")
    reply_id = int(article.get("id").removeprefix("t-"))
    assert article.get("data-thread") == str(parent) and article.find("em").text == "one"
    assert list(links(article)) == ["logo.png", "notes.txt"]
    fresh = answer.by_id("thread-composer")  # a fresh composer for the next reply
    assert fresh.get("hx-swap-oob") == "true" and fresh.find("textarea").text == ""
    assert fresh.find("input", name="client_id").get("value") != client_id

    stored = {m.id: m for m in stored_messages(alice.app, chat_id)}
    assert (stored[reply_id].thread_id, stored[reply_id].broadcast) == (parent, False)
    assert stored[parent].reply_count == 1
    assert [(a.message_id, a.filename) for a in attachments_of(alice.app)] == [
        (reply_id, "logo.png"), (reply_id, "notes.txt")]

    # The pane shows it with its files; the channel holds its place, hidden, without them.
    pane = parse(alice.get(f"/chats/{chat_id}/threads/{parent}")).by_id(f"thread-{parent}-replies")
    assert list(links(pane)) == ["logo.png", "notes.txt"]
    channel = alice.get(f"/chats/{chat_id}").get_data(as_text=True)
    [placeholder] = [a for a in parse(channel).find_all("article") if a.get("data-id") == str(reply_id)]
    assert "msg--placeholder" in placeholder.get("class") and "hidden" in placeholder.attrs
    assert links(channel) == {}
    assert bob.get(links(pane)["notes.txt"]["href"]).data == b"v2"

    # The same client id again (a retry) stores nothing new.
    again = reply_with(bob, chat_id, parent, ("logo.png", png(80, 60)), body="this *one*", client_id=client_id)
    assert again.status_code == 200
    assert len(attachments_of(alice.app)) == 2 and len(stored_messages(alice.app, chat_id)) == len(stored)


def test_a_file_also_sent_to_the_channel_shows_there_with_its_quote(team):
    chat_id, alice, bob = team
    parent = send_text(alice, chat_id, "Minutes, anyone?")

    reply_with(bob, chat_id, parent, ("minutes.txt", b"decided"), broadcast=True)

    reply = stored_messages(alice.app, chat_id)[-1]
    assert (reply.thread_id, reply.broadcast, reply.reply_to_id) == (parent, True, parent)
    channel = parse(alice.get(f"/chats/{chat_id}")).by_id(f"m-{reply.id}")
    assert "hidden" not in channel.attrs and channel.find("a", cls="quote") is not None
    assert list(links(channel)) == ["minutes.txt"]


def test_without_javascript_the_threads_form_is_multipart_and_its_reply_button_sends_the_files(team):
    chat_id, alice, bob = team
    parent = send_text(alice, chat_id, "Send me the plan")
    form = parse(bob.get(f"/chats/{chat_id}/threads/{parent}")).by_id("thread-composer")
    action = f"/chats/{chat_id}/threads/{parent}/replies"
    assert (form.get("action"), form.get("enctype")) == (action, "multipart/form-data")
    assert form.find("input", type="file").get("name") == "files"
    assert form.find(cls="attach").get("data-upload-url") == action  # where attachments.js posts too
    assert form.find("button", cls="attach-send") is None  # "Reply" sends them

    response = reply_with(bob, chat_id, parent, ("plan.txt", b"the plan"), body="here", htmx=False)
    reply_id = stored_messages(alice.app, chat_id)[-1].id
    assert response.headers["Location"] == f"/chats/{chat_id}/threads/{parent}#t-{reply_id}"
    assert list(links(parse(alice.get(response.headers["Location"])).by_id(f"t-{reply_id}"))) == ["plan.txt"]

    # A file input left empty still sends a nameless part: a reply of text alone.
    response = reply_with(bob, chat_id, parent, ("", b""), body="words only", htmx=False)
    assert response.status_code == 302
    assert stored_messages(alice.app, chat_id)[-1].body == "words only" and len(attachments_of(alice.app)) == 1


def _archive(chat_id, alice, parent):
    assert alice.post(f"/chats/{chat_id}/archive").status_code == 302
    return parent


def _delete_parent(chat_id, alice, parent):
    assert alice.post(f"/chats/{chat_id}/messages/{parent}/delete").status_code == 302
    return parent


def _a_reply(chat_id, alice, parent):
    response = alice.post(f"/chats/{chat_id}/threads/{parent}/replies", {"body": "r", "client_id": str(uuid.uuid4())})
    return int(response.headers["Location"].rsplit("#t-", 1)[1])


@pytest.mark.parametrize(("prepare", "files", "status", "words"), [
    (None, [("big.bin", b"x" * 12 * 1024)], 413, "“big.bin” is 12 KB; files can be up to 10 KB. Nothing was sent."),
    (None, [("ok.txt", b"ok"), ("empty.txt", b"")], 422, "“empty.txt” is empty (0 bytes)."),
    (_archive, [("ok.txt", b"ok")], 403, "is archived: it's read-only. Nothing was sent."),
    (_delete_parent, [("ok.txt", b"ok")], 422, "The message you are answering was deleted. Nothing was sent"),
    (_a_reply, [("ok.txt", b"ok")], 404, None),  # threads are one level deep: a reply has none
], ids=["too-big", "empty", "archived", "deleted-parent", "a-reply"])
def test_a_refused_file_in_a_thread_keeps_the_text_under_its_composer_and_stores_nothing(
        team, small_limit, upload_dir, prepare, files, status, words):
    chat_id, alice, bob = team
    parent = send_text(alice, chat_id, "parent")
    if prepare:
        parent = prepare(chat_id, alice, parent)
    before = snapshot(alice.app)

    response = reply_with(alice, chat_id, parent, *files, body="my caption", broadcast=True)

    assert response.status_code == status
    assert snapshot(alice.app) == before
    assert files_on_disk(upload_dir) == []
    if words is None:
        return
    assert response.headers["HX-Retarget"] == "#thread-composer"
    form = parse(response).by_id("thread-composer")
    assert words in form.find("p", cls="form-error").text
    assert form.find("textarea").text == "my caption"
    assert "checked" in form.find("input", name="broadcast").attrs


# ----- who may fetch them -------------------------------------------------------------------

@pytest.fixture
def shared_file(team):
    """A text file and a picture alice sent in the team chat: (chat id, alice, bob, file url, thumbnail url)."""
    chat_id, alice, bob = team
    upload(alice, chat_id, ("secret.txt", b"members only"), ("secret.png", png(50, 50)))
    shown = links(alice.get(f"/chats/{chat_id}"))
    return chat_id, alice, bob, shown["secret.txt"]["href"], shown["secret.png"]["thumbnail"]


def test_someone_outside_the_chat_gets_404_for_its_files_and_thumbnails_and_cannot_upload(shared_file, actor,
                                                                                         upload_dir):
    chat_id, alice, _, file_url, thumbnail_url = shared_file
    mallory = actor("mallory")
    before, stored = snapshot(alice.app), files_on_disk(upload_dir)

    for url in (file_url, thumbnail_url, shared_file[3].replace("secret.txt", "anything.html")):
        response = mallory.get(url)
        assert response.status_code == 404
        assert b"members only" not in response.data
    refused = upload(mallory, chat_id, ("intruder.txt", b"let me in"))

    assert refused.status_code == 404
    assert snapshot(alice.app) == before
    assert files_on_disk(upload_dir) == stored


def test_a_file_is_found_only_under_its_own_chat(shared_file, actor):
    chat_id, alice, bob, file_url, thumbnail_url = shared_file
    other_chat = create_group(bob, "Elsewhere")  # bob is a member of both
    attachment_id = attachments_of(alice.app)[0].id

    for url in (f"/chats/{other_chat}/attachments/{attachment_id}/secret.txt",
                f"/chats/{other_chat}/thumbnails/{attachment_id + 1}",
                f"/chats/{chat_id}/attachments/99999/secret.txt",
                f"/chats/{chat_id}/attachments/{2**40}/secret.txt"):
        assert bob.get(url).status_code == 404, url
    assert bob.get(file_url).status_code == 200


def test_a_removed_member_loses_the_files_at_once(shared_file):
    chat_id, alice, bob, file_url, thumbnail_url = shared_file
    assert bob.get(file_url).status_code == 200

    alice.post(f"/chats/{chat_id}/members/bob/remove", {})

    assert bob.get(file_url).status_code == 404
    assert bob.get(thumbnail_url).status_code == 404


def test_anonymous_visitors_are_sent_to_login_for_files_thumbnails_and_uploads(shared_file, anonymous, upload_dir):
    chat_id, alice, _, file_url, thumbnail_url = shared_file
    stored = files_on_disk(upload_dir)

    responses = [anonymous.get(file_url), anonymous.get(thumbnail_url),
                 upload(anonymous, chat_id, ("x.txt", b"x"), htmx=False)]

    for response in responses:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    assert files_on_disk(upload_dir) == stored


# ----- served so that they can never run as our pages -----------------------------------------

@pytest.mark.parametrize(("name", "content", "declared"), [
    ("page.html", b"<html><script>fetch('/settings')</script></html>", "text/html"),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>',
     "image/svg+xml"),
    ("image.png", b"<html><body onload=alert(1)>not a picture</body></html>", "image/png"),
    ("truncated.png", png(300, 300)[:200], "image/png"),
], ids=["html", "svg-with-script", "html-named-png", "truncated-png"])
def test_files_that_are_not_verified_pictures_are_downloads_that_cannot_run_script(team, name, content, declared):
    chat_id, alice, bob = team

    upload(alice, chat_id, (name, content, declared))

    shown = links(bob.get(f"/chats/{chat_id}"))[name]
    assert shown["thumbnail"] is None and shown["download"]
    response = bob.get(shown["href"])
    assert response.data == content
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == FILE_POLICY
    [row] = attachments_of(alice.app)
    assert (row.content_type, row.has_thumbnail) == ("application/octet-stream", False)
    assert bob.get(f"/chats/{chat_id}/thumbnails/{row.id}").status_code == 404


def test_pictures_and_thumbnails_are_sandboxed_too(shared_file):
    chat_id, alice, bob, file_url, thumbnail_url = shared_file
    picture_url = links(bob.get(f"/chats/{chat_id}"))["secret.png"]["href"]

    for url in (picture_url, thumbnail_url, file_url):
        response = bob.get(url)
        assert response.headers["Content-Security-Policy"] == FILE_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize(("kind", "served"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
                                              ("WEBP", "image/webp")])
def test_png_jpeg_gif_and_webp_pictures_are_shown_inline_with_their_own_type(team, kind, served):
    chat_id, alice, bob = team
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buffer, kind)

    upload(alice, chat_id, (f"picture.{kind.lower()}", buffer.getvalue(), "application/octet-stream"))

    shown = links(bob.get(f"/chats/{chat_id}"))[f"picture.{kind.lower()}"]
    assert shown["thumbnail"] is not None
    response = bob.get(shown["href"])
    assert response.headers["Content-Type"] == served
    assert response.headers["Content-Disposition"].startswith("inline;")


def test_a_phones_jpeg_with_more_pictures_inside_is_shown_as_a_jpeg(team):
    chat_id, alice, bob = team
    buffer = io.BytesIO()  # MPO: a JPEG followed by more pictures (a depth map, an HDR gain map)
    Image.new("RGB", (800, 600), "red").save(buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (400, 300))])

    response = upload(alice, chat_id, ("portrait.jpg", buffer.getvalue()))

    assert response.status_code == 200
    shown = links(bob.get(f"/chats/{chat_id}"))["portrait.jpg"]
    assert Image.open(io.BytesIO(bob.get(shown["thumbnail"]).data)).size == (400, 300)
    assert bob.get(shown["href"]).headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("kind", ["BMP", "TIFF", "ICO"])
def test_other_picture_formats_are_plain_downloads(team, kind):
    chat_id, alice, bob = team
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "green").save(buffer, kind)

    response = upload(alice, chat_id, (f"picture.{kind.lower()}", buffer.getvalue(), f"image/{kind.lower()}"))

    assert response.status_code == 200
    shown = links(bob.get(f"/chats/{chat_id}"))[f"picture.{kind.lower()}"]
    assert shown["thumbnail"] is None
    assert bob.get(shown["href"]).headers["Content-Type"] == "application/octet-stream"


def test_a_picture_is_recognised_by_its_content_whatever_its_name_or_declared_type(team):
    chat_id, alice, bob = team

    upload(alice, chat_id, ("scan.txt", png(20, 10), "text/plain"))

    shown = links(bob.get(f"/chats/{chat_id}"))["scan.txt"]
    assert shown["thumbnail"] is not None
    assert bob.get(shown["href"]).headers["Content-Type"] == "image/png"


def test_a_name_outside_ascii_is_kept_and_sent_in_rfc_6266_form(team):
    chat_id, alice, bob = team

    upload(alice, chat_id, ("отчёт 2024.pdf", b"%PDF"))

    shown = links(bob.get(f"/chats/{chat_id}"))
    response = bob.get(shown["отчёт 2024.pdf"]["href"])
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")  # an ASCII stand-in for old clients
    assert disposition.endswith("; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%202024.pdf")


@pytest.mark.parametrize(("sent", "shown"), [
    ("../../etc/passwd", "passwd"),
    ("dir/sub/name.txt", "name.txt"),
    ("evil\x00.txt", "evil.txt"),
    ("gpj.\u202eexe", "gpj.exe"),
    ("..", "file"),
])
def test_a_path_in_a_file_name_is_only_ever_a_display_name(team, upload_dir, tmp_path, sent, shown):
    chat_id, alice, bob = team

    response = upload(alice, chat_id, (sent, b"root:x:0:0"))

    assert response.status_code == 200
    assert list(links(bob.get(f"/chats/{chat_id}"))) == [shown]
    [stored] = files_on_disk(upload_dir)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", stored.name) and stored.parent.parent == upload_dir.resolve()
    assert [p for p in files_on_disk(tmp_path) if p.parent.parent != upload_dir.resolve()] == []
    assert bob.get(links(bob.get(f"/chats/{chat_id}"))[shown]["href"]).data == b"root:x:0:0"


def test_a_display_name_drops_folders_of_either_kind_control_characters_and_bare_dots():
    assert display_name("..\\..\\windows\\win.ini") == "win.ini"
    assert display_name("C:\\Users\\me\\notes.txt") == "notes.txt"
    assert display_name("a/b/\x00\x1b[31mred\n.txt") == "[31mred.txt"
    assert display_name("...") == display_name("") == display_name(None) == "file"
    assert display_name("x" * 300 + ".jpeg") == "x" * 250 + ".jpeg"


# ----- limits --------------------------------------------------------------------------------

def test_a_file_over_the_limit_is_refused_with_the_limit_and_nothing_is_stored(team, small_limit, upload_dir):
    chat_id, alice, _ = team
    before = snapshot(alice.app)

    response = upload(alice, chat_id, ("big.bin", b"x" * 12 * 1024), body="my caption")

    assert response.status_code == 413
    assert text_of(response) == "“big.bin” is 12 KB; files can be up to 10 KB. Nothing was sent."
    assert response.headers["HX-Retarget"] == "#flash"
    assert snapshot(alice.app) == before
    assert files_on_disk(upload_dir) == []


def test_files_over_the_limit_together_are_refused(team, small_limit, upload_dir):
    chat_id, alice, _ = team

    response = upload(alice, chat_id, ("a.bin", b"x" * 6 * 1024), ("b.bin", b"y" * 6 * 1024))

    assert response.status_code == 413
    assert "Those files add up to 12 KB; you can send up to 10 KB at a time." in text_of(response)
    assert files_on_disk(upload_dir) == [] and attachments_of(alice.app) == []


def test_a_body_far_over_the_limit_is_cut_off_with_a_clear_message(team, small_limit, upload_dir):
    chat_id, alice, _ = team
    before = snapshot(alice.app)

    response = upload(alice, chat_id, ("huge.bin", b"x" * 2 * 1024 * 1024))

    assert response.status_code == 413
    assert "That upload is larger than the 10 KB webchat takes at a time. Nothing was sent." in text_of(response)
    assert snapshot(alice.app) == before
    assert files_on_disk(upload_dir) == []


def test_without_javascript_a_refused_upload_shows_the_chat_with_the_reason_and_the_caption_kept(team, small_limit):
    chat_id, alice, _ = team

    response = upload(alice, chat_id, ("big.bin", b"x" * 12 * 1024), body="my caption", htmx=False)

    assert response.status_code == 413
    assert composer(response)["error"] == "“big.bin” is 12 KB; files can be up to 10 KB. Nothing was sent."
    assert composer(response)["body"] == "my caption"


def test_an_empty_file_is_refused_and_nothing_is_stored(team, upload_dir):
    chat_id, alice, _ = team
    before = snapshot(alice.app)

    response = upload(alice, chat_id, ("good.txt", b"fine"), ("empty.txt", b""))

    assert response.status_code == 422
    assert text_of(response) == "“empty.txt” is empty (0 bytes). Nothing was sent — choose the file again."
    assert snapshot(alice.app) == before
    assert files_on_disk(upload_dir) == []


def claimed_png(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims width × height RGBA pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height", "note"), [
    (10000, 6000, "10,000×6,000 pixels, too large to preview"),
    (30000, 30000, None),  # past Pillow's own bomb limit: not even its size is taken as a picture's
], ids=["over-our-limit", "over-pillows-limit"])
def test_a_picture_too_large_to_preview_is_sent_undecoded_as_a_download_that_says_so(team, upload_dir, width,
                                                                                       height, note):
    chat_id, alice, bob = team
    bomb = claimed_png(width, height)

    response = upload(alice, chat_id, ("bomb.png", bomb))

    assert response.status_code == 200
    item = parse(bob.get(f"/chats/{chat_id}")).find("li", cls="attachment")
    assert item.find("img") is None
    assert [n.text for n in item.find_all("span", cls="attachment-note")] == ([note] if note else [])
    download = bob.get(links(bob.get(f"/chats/{chat_id}"))["bomb.png"]["href"])
    assert download.data == bomb
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"] == "attachment; filename=bomb.png"
    [row] = attachments_of(alice.app)
    assert (row.content_type, row.has_thumbnail) == ("application/octet-stream", False)
    assert len(files_on_disk(upload_dir)) == 1  # no thumbnail


def test_a_caption_over_the_message_limit_is_refused_and_the_files_are_not_kept(team, upload_dir):
    chat_id, alice, _ = team

    response = upload(alice, chat_id, ("ok.txt", b"ok"), body="x" * 4001)

    assert response.status_code == 422
    assert "the limit is 4,000" in text_of(response)
    assert files_on_disk(upload_dir) == [] and attachments_of(alice.app) == []


# ----- thumbnails -------------------------------------------------------------------------------

def test_a_thumbnail_is_upright_small_and_carries_none_of_the_photos_metadata(team):
    chat_id, alice, bob = team
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to show": a phone held upright
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # a GPS latitude
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), "blue").save(buffer, "JPEG", exif=exif)

    upload(alice, chat_id, ("photo.jpg", buffer.getvalue()))

    [row] = attachments_of(alice.app)
    assert (row.width, row.height, row.content_type) == (1200, 1600, "image/jpeg")
    thumbnail = Image.open(io.BytesIO(bob.get(f"/chats/{chat_id}/thumbnails/{row.id}").data))
    assert thumbnail.size == (225, 300)
    assert not thumbnail.getexif() and "exif" not in thumbnail.info and "icc_profile" not in thumbnail.info
    img = parse(bob.get(f"/chats/{chat_id}")).find("img", alt="photo.jpg")
    assert (img.get("width"), img.get("height")) == ("225", "300")


def test_a_picture_keeps_its_transparency_in_the_thumbnail(team):
    chat_id, alice, bob = team
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(buffer, "PNG")

    upload(alice, chat_id, ("clear.png", buffer.getvalue()))

    thumbnail = Image.open(io.BytesIO(bob.get(f"/chats/{chat_id}/thumbnails/{attachments_of(alice.app)[0].id}").data))
    assert thumbnail.mode == "RGBA" and thumbnail.getpixel((50, 50))[3] == 0


# ----- deleting --------------------------------------------------------------------------------

def test_deleting_the_message_erases_its_files_from_disk_and_every_link_to_them(shared_file, upload_dir):
    chat_id, alice, bob, file_url, thumbnail_url = shared_file
    assert len(files_on_disk(upload_dir)) == 3
    message_id = stored_messages(alice.app, chat_id)[-1].id

    response = alice.post(f"/chats/{chat_id}/messages/{message_id}/delete", {}, htmx=True)

    assert response.status_code == 200
    assert files_on_disk(upload_dir) == []
    assert attachments_of(alice.app) == []
    assert bob.get(file_url).status_code == 404 and bob.get(thumbnail_url).status_code == 404
    page = bob.get(f"/chats/{chat_id}")
    assert links(page) == {} and "secret" not in page.get_data(as_text=True)
    assert "This message was deleted." in parse(page).by_id(f"m-{message_id}").text


def test_a_caption_of_files_can_be_edited_down_to_nothing(shared_file):
    chat_id, alice, bob, file_url, _ = shared_file
    message_id = stored_messages(alice.app, chat_id)[-1].id
    alice.post(f"/chats/{chat_id}/messages/{message_id}/edit", {"body": "a caption"}, htmx=True)

    response = alice.post(f"/chats/{chat_id}/messages/{message_id}/edit", {"body": ""}, htmx=True)

    assert response.status_code == 200
    with alice.app.app_context():
        assert db.session.get(Message, message_id).body == ""
    assert bob.get(file_url).status_code == 200


# ----- live, over real sockets --------------------------------------------------------------------


def test_an_uploaded_picture_reaches_the_other_members_open_page_at_once_rendered_once(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("live files", [bob, carol])
    bob_tab, carol_tab = bob.open_tab(), carol.open_tab()

    response = alice.upload(chat, [("sunset.png", png(640, 480))], body="tonight", htmx=True)

    assert response.status == 200
    bob_frame = bob_tab.wait_for(lambda f: "sunset.png" in f, timeout=5)
    assert carol_tab.wait_for(lambda f: "sunset.png" in f, timeout=5) == bob_frame  # one rendering for all
    [thumbnail] = re.findall(r'<img src="([^"]+)"', bob_frame)
    assert bob.get(thumbnail).status == 200
    assert bob.get(thumbnail).headers["Content-Type"] == "image/webp"


def test_a_page_that_was_away_gets_the_files_it_missed_and_their_deletion_when_it_catches_up(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("away with files", [bob])
    before = alice.send(chat, "before the break")
    page = parse(bob.get(f"/chats/{chat}").text)
    cursor = int(page.find(id="messages").get("data-changes"))

    alice.upload(chat, [("kept.txt", b"kept")])
    alice.upload(chat, [("gone.txt", b"gone")])
    [kept, gone] = [m["id"] for m in messages_in(alice.get(f"/chats/{chat}").text)][-2:]
    alice.post(f"/chats/{chat}/messages/{gone}/delete", {})

    tab = bob.open_tab(ready=False)
    tab.send_json({"type": "view", "chat": chat, "after": before, "changes": cursor})
    frames = tab.collect_until(lambda f: "data-message-changes" in f, timeout=5)
    caught_up = "".join(frames)
    assert f'id="m-{kept}"' in caught_up and "kept.txt" in caught_up
    assert "gone.txt" not in caught_up
    assert "This message was deleted." in caught_up


# ----- memory: pictures that decode huge, against a real worker ------------------------------------

PREVIEW_LIMIT_MIB = 64  # WEBCHAT_PREVIEW_MEMORY_MB's default


@pytest.fixture(scope="module")
def memory_server():
    """A server of its own, so that nothing else runs in its worker while its memory is read; each
    person may send one message a minute."""
    with services.module_server("attachment_memory", _TMP, extra_env={"WEBCHAT_SEND_LIMIT": "1 per minute"}) as live:
        yield live




@contextmanager
def peak_growth(server):
    """How far the worker's memory rose above where it was, at its peak, during the block (MiB):
    its VmHWM is reset to its RSS first (/proc/<pid>/clear_refs, writable by the same user)."""
    (worker,) = server_worker_pids(server.process.pid)
    assert reset_peak(worker), "/proc/<pid>/clear_refs is not writable here"
    before = memory_kib(worker)["VmRSS"]
    growth = {}
    yield growth
    growth["MiB"] = (memory_kib(worker)["VmHWM"] - before) / 1024


def zeros_png(width: int, height: int) -> bytes:
    """A real RGBA PNG of zeros: 7000 × 7000 is ~190 KB that decodes to 187 MiB."""
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def fetch_bytes(person, path: str) -> tuple[int, str, bytes]:
    """GET as the person: status, Content-Type and the body's bytes (Person.get decodes text)."""
    connection = http.client.HTTPConnection(person.host, person.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in person.cookies.items())})
        raw = connection.getresponse()
        return raw.status, raw.headers["Content-Type"], raw.read()
    finally:
        connection.close()


def members_of_a_new_chat(server, count: int):
    people = [Person.register(server.url, "mem") for _ in range(count)]
    chat = people[0].create_chat("pictures", people[1:])
    return chat, people


def test_a_small_png_that_decodes_huge_is_a_download_too_large_to_preview_and_the_worker_stays_small(
        memory_server):
    chat, (alice, bob) = members_of_a_new_chat(memory_server, 2)
    bomb = zeros_png(7000, 7000)
    assert len(bomb) < 250_000

    with peak_growth(memory_server) as growth:
        response = alice.upload(chat, [("zeros.png", bomb)], htmx=True)

    assert response.status == 200
    assert growth["MiB"] < PREVIEW_LIMIT_MIB
    shown = links(bob.get(f"/chats/{chat}").text)["zeros.png"]
    assert shown["thumbnail"] is None and shown["download"]
    item = parse(bob.get(f"/chats/{chat}").text).find("li", cls="attachment")
    assert item.find("span", cls="attachment-note").text == "7,000×7,000 pixels, too large to preview"
    download = bob.get(shown["href"])
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_four_pictures_sent_at_once_are_previewed_one_after_another(memory_server):
    chat, people = members_of_a_new_chat(memory_server, 4)
    picture = zeros_png(3500, 3500)  # its preview takes ~52 MiB: within the limit, so it is decoded

    with peak_growth(memory_server) as growth, ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda p: p.upload(chat, [(f"{p.username}.png", picture)], htmx=True), people))

    assert [r.status for r in responses] == [200] * 4
    assert growth["MiB"] < 1.5 * PREVIEW_LIMIT_MIB  # one preview's worth, not four
    shown = links(people[0].get(f"/chats/{chat}").text)
    assert all(shown[f"{p.username}.png"]["thumbnail"] for p in people)


def test_a_send_over_the_budget_is_refused_before_its_picture_is_decoded(memory_server):
    chat, (mallory, bob) = members_of_a_new_chat(memory_server, 2)
    mallory.send(chat, "the one message this minute allows")
    picture = zeros_png(3500, 3500)

    with peak_growth(memory_server) as growth:
        response = mallory.upload(chat, [("again.png", picture)], htmx=True)

    assert response.status == 429
    assert "You're sending messages too fast." in text_of(response.text)
    assert growth["MiB"] < 16  # nothing decoded
    assert "again.png" not in bob.get(f"/chats/{chat}").text


def test_a_64_megapixel_jpeg_photo_gets_its_thumbnail_decoded_at_an_eighth_of_its_size(memory_server):
    chat, (alice, bob) = members_of_a_new_chat(memory_server, 2)
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((9248, 6936)).convert("RGB").save(buffer, "JPEG", quality=85)

    with peak_growth(memory_server) as growth:
        response = alice.upload(chat, [("phone.jpg", buffer.getvalue())], htmx=True)

    assert response.status == 200
    assert growth["MiB"] < 32  # the full decode would be 245 MiB
    shown = links(bob.get(f"/chats/{chat}").text)["phone.jpg"]
    status, content_type, thumbnail = fetch_bytes(bob, shown["thumbnail"])
    assert (status, content_type) == (200, "image/webp")
    assert Image.open(io.BytesIO(thumbnail)).size == (400, 300)
