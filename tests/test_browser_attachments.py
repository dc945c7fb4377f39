"""Attachments in Chromium: the picker with its progress bar, drag-and-drop, paste, refusals that
keep the text and files, the form without JavaScript, and the other member's page live and after
its socket was cut. (Who may fetch files and how they are served: test_attachments.)"""
import base64
import io
import os
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import _TMP
from .support import services
from .support.browser import SocketCut, open_shared_chat

pytestmark = pytest.mark.browser

LIMIT_MB = 1


@pytest.fixture(scope="module")
def server():
    with services.module_server("attachments", _TMP, extra_env={"WEBCHAT_MAX_UPLOAD_MB": str(LIMIT_MB)}) as live:
        yield live



def noisy_png(width: int, height: int) -> bytes:
    """A picture that does not compress: its size is about width × height × 3 bytes."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def thumbnail(page, name):
    return page.locator(f"#messages > .msg .attachment-image img[alt='{name}']")


def message_with(page, name):
    return page.locator("#messages > .msg", has=page.locator(f".attachment-image img[alt='{name}']"))


def expect_loaded(image) -> None:
    """The <img> is on the page and its picture arrived (the thumbnail URL served an image)."""
    expect(image).to_be_visible()
    image.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


def record_progress(page) -> None:
    page.evaluate("""() => {
        window.progressSeen = [];
        const bar = document.querySelector('#composer .attach-progress');
        new MutationObserver(() => window.progressSeen.push({hidden: bar.hidden, value: bar.value}))
            .observe(bar, {attributes: true});
    }""")


def drop_files(page, files) -> None:
    """Drop files (name, text, type) onto the message list, as a file manager's drag does."""
    page.evaluate("""files => {
        const data = new DataTransfer();
        files.forEach(([name, text, type]) => data.items.add(new File([text], name, {type})));
        const target = document.getElementById('messages');
        for (const type of ['dragenter', 'dragover', 'drop']) {
            target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
        }
    }""", files)


def test_a_picked_picture_uploads_with_a_progress_bar_and_shows_as_a_thumbnail_on_both_pages_live(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    bob.evaluate("window.notReloaded = true")
    picture = noisy_png(400, 300)  # ~360 KB
    record_progress(alice)

    alice.set_input_files("#composer input[type=file]", files=[
        {"name": "harbour.png", "mimeType": "image/png", "buffer": picture}])
    expect(alice.locator("#composer .attach-item")).to_contain_text("harbour.png")
    expect(alice.locator("#composer .attach-item .attach-size")).to_have_text(f"{len(picture) / 1024:.1f} KB")
    alice.fill("#composer textarea", "the view from here")
    alice.locator("#composer textarea").press("Enter")

    for page in (alice, bob):
        expect_loaded(thumbnail(page, "harbour.png"))
        expect(message_with(page, "harbour.png")).to_contain_text("the view from here")
    seen = alice.evaluate("window.progressSeen")
    assert any(not s["hidden"] for s in seen), seen  # shown while uploading
    assert max(s["value"] for s in seen) == 100, seen  # and filled
    expect(alice.locator("#composer .attach-progress")).to_be_hidden()
    expect(alice.locator("#composer .attach-item")).to_have_count(0)
    expect(alice.locator("#composer textarea")).to_have_value("")
    assert bob.evaluate("window.notReloaded") is True
    # The full picture opens from the thumbnail.
    with alice.context.expect_page() as opened:
        thumbnail(alice, "harbour.png").click()
    expect(opened.value.locator("img")).to_be_visible()


def test_a_file_dropped_on_the_chat_goes_without_a_caption_and_is_a_download_for_the_other_member(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)

    drop_files(alice, [["agenda.txt", "1. attachments\n2. coffee\n", "text/plain"]])
    expect(alice.locator("#composer .attach-item")).to_contain_text("agenda.txt")
    alice.locator("#composer textarea").press("Enter")

    for page in (alice, bob):
        link = page.locator("#messages > .msg .attachment-file")
        expect(link).to_have_count(1)
        expect(link.locator(".attachment-name")).to_have_text("agenda.txt")
        expect(link.locator(".attachment-size")).to_have_text("25 bytes")
        expect(page.locator(f"#chat-item-{chat_id} .preview")).to_have_text(f"{alice.username.upper()}: 📎 agenda.txt")
    with bob.expect_download() as download:
        bob.locator("#messages .attachment-file").click()
    assert download.value.suggested_filename == "agenda.txt"
    assert Path(download.value.path()).read_bytes() == b"1. attachments\n2. coffee\n"


def test_a_pasted_screenshot_becomes_a_picture_and_pasted_text_stays_text(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    box = alice.locator("#composer textarea")
    box.focus()

    alice.evaluate("""async png => {
        const bytes = Uint8Array.from(atob(png), c => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], 'image.png', {type: 'image/png'}));
        document.querySelector('#composer textarea').dispatchEvent(
            new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: data}));
    }""", base64.b64encode(noisy_png(120, 80)).decode())
    expect(alice.locator("#composer .attach-item")).to_contain_text("Pasted image")
    box.fill("screenshot of the bug")
    alice.click("#composer button[type=submit]:not(.attach-send)")

    pasted = bob.locator("#messages > .msg .attachment-image img")
    expect_loaded(pasted)
    assert pasted.get_attribute("alt").startswith("Pasted image ")
    expect(message_with(bob, pasted.get_attribute("alt"))).to_contain_text("screenshot of the bug")


def test_a_refused_upload_says_why_and_keeps_the_text_and_the_files(person, page_errors):
    page_errors.allow(r"Failed to load resource: .* 413", "the upload this test makes too big is refused")
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    too_big = os.urandom(int(1.2 * 1024 * 1024))
    alice.set_input_files("#composer input[type=file]", files=[
        {"name": "backup.bin", "mimeType": "application/octet-stream", "buffer": too_big}])
    alice.fill("#composer textarea", "my caption")

    alice.locator("#composer textarea").press("Enter")  # refused by the page before it uploads

    error = alice.locator("#composer .attach-error")
    expect(error).to_have_text("“backup.bin” is 1.2 MB; files can be up to 1 MB. Nothing was sent.")
    expect(alice.locator("#composer textarea")).to_have_value("my caption")
    expect(alice.locator("#composer .attach-item")).to_contain_text("backup.bin")

    # The server says the same when a page's own check is out of date (a lowered limit, say).
    alice.evaluate("document.querySelector('#composer .attach').dataset.maxBytes = String(100 * 1024 * 1024)")
    alice.locator("#composer textarea").press("Enter")

    expect(error).to_have_text("“backup.bin” is 1.2 MB; files can be up to 1 MB. Nothing was sent.")
    expect(alice.locator("#composer textarea")).to_have_value("my caption")
    expect(alice.locator("#composer .attach-item")).to_have_count(1)
    expect(alice.locator("#flash")).not_to_contain_text("1 MB")  # said once, next to the files
    expect(bob.locator("#messages .msg-attachments")).to_have_count(0)

    # Removing the file lets the text go as a plain message.
    alice.locator("#composer .attach-remove").click()
    expect(error).to_be_hidden()
    alice.locator("#composer textarea").press("Enter")
    expect(bob.locator("#messages > .msg", has_text="my caption")).to_have_count(1)


def test_without_javascript_the_composers_button_sends_the_chosen_file(person):
    alice, bob = person(java_script_enabled=False), person()
    bob.fill("input[name=name]", "no script room")
    bob.fill("input[name=members]", alice.username)
    bob.click("text=Create chat")
    bob.wait_for_url("**/chats/*")
    alice.goto("/chats/" + bob.url.rsplit("/", 1)[1])

    alice.set_input_files("#composer input[type=file]", files=[
        {"name": "minutes.txt", "mimeType": "text/plain", "buffer": b"decided: ship it"}])
    alice.fill("#composer textarea", "notes from today")
    alice.get_by_role("button", name="Upload files").click()

    expect(alice.locator("#messages .attachment-name")).to_have_text("minutes.txt")
    expect(alice.locator("#messages > .msg", has_text="notes from today")).to_have_count(1)
    expect(bob.locator("#messages .attachment-name")).to_have_text("minutes.txt")


def test_a_page_whose_socket_was_cut_gets_the_picture_and_its_deletion_by_catching_up(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    bob_socket = SocketCut(bob)
    bob.evaluate("window.notReloaded = true")
    bob_socket.cut()  # what bob misses now can only reach him by catching up

    alice.set_input_files("#composer input[type=file]", files=[
        {"name": "away.png", "mimeType": "image/png", "buffer": noisy_png(60, 40)}])
    alice.locator("#composer textarea").press("Enter")
    expect_loaded(thumbnail(alice, "away.png"))

    expect_loaded(thumbnail(bob, "away.png"))  # by polling: the socket is still cut
    assert bob.evaluate("window.notReloaded") is True

    alice.on("dialog", lambda dialog: dialog.accept())
    item = message_with(alice, "away.png")
    item.hover()
    item.locator(".msg-action--delete").click()

    expect(bob.locator("#messages > .msg--deleted")).to_have_count(1, timeout=20_000)
    expect(thumbnail(bob, "away.png")).to_have_count(0)
    expect(bob.locator("#connection")).not_to_have_attribute("data-state", "live")
