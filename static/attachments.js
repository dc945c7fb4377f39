// Files in the composer: picked with the button, dropped onto the chat, or pasted into the text
// box. They wait in a list under the box and go with the next Send (Enter or the button), the
// text as their caption, in one multipart POST with a progress bar; the stored message comes
// back (and to everyone else over the socket) like any other. A refusal (too big, empty, not a
// member) is shown under the composer and the files and the text stay.
// Without JavaScript the composer's own "Upload files" button posts the same form.
// One behaviour, attached by hx-ext="attachments" on the composer (chats/_composer.html).
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var staged = []; // File objects waiting for the next send
  var stagedChat = null; // the chat they were chosen in
  var uploading = null; // the XMLHttpRequest on its way

  function composer() {
    return document.getElementById("composer");
  }

  function attachArea(form) {
    return form && form.querySelector(".attach[data-upload-url]");
  }

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + (bytes === 1 ? " byte" : " bytes");
    var units = ["KB", "MB", "GB"];
    var size = bytes;
    for (var i = 0; i < units.length; i++) {
      size /= 1024;
      if (size < 1024 || i === units.length - 1) return size.toFixed(1).replace(/\.0$/, "") + " " + units[i];
    }
  }

  // A composer just drawn (page load, pane swap, the fresh one after a send): the file input
  // loses its name, so htmx's and the socket's sends of the text never carry the files.
  function prepare(form) {
    var area = attachArea(form);
    if (!area || area.dataset.ready) return;
    area.dataset.ready = "1";
    var input = area.querySelector("input[type=file]");
    if (input) input.removeAttribute("name");
    var chat = form.dataset.chatId;
    if (chat !== stagedChat) {
      staged = [];
      stagedChat = chat;
    }
    render(form);
  }

  function render(form) {
    var area = attachArea(form);
    if (!area) return;
    var list = area.querySelector(".attach-list");
    list.replaceChildren();
    staged.forEach(function (file, index) {
      var li = document.createElement("li");
      li.className = "attach-item";
      var name = document.createElement("span");
      name.className = "attach-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "attach-size";
      size.textContent = humanSize(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link attach-remove";
      remove.dataset.attachRemove = String(index);
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.textContent = "×";
      li.append(name, " ", size, " ", remove);
      list.appendChild(li);
    });
    list.hidden = staged.length === 0;
    form.classList.toggle("composer--files", staged.length > 0);
  }

  function showError(form, text) {
    var area = attachArea(form);
    if (!area) return;
    var line = area.querySelector(".attach-error");
    line.textContent = text || "";
    line.hidden = !text;
  }

  function showProgress(form, fraction) {
    var bar = attachArea(form) && attachArea(form).querySelector(".attach-progress");
    if (!bar) return;
    bar.hidden = fraction === null;
    bar.value = fraction === null ? 0 : Math.round(fraction * 100);
  }

  // Pasted screenshots are all called "image.png"; give them a name that says when.
  function named(file) {
    if (file.name && file.name !== "image.png") return file;
    var stamp = new Date().toISOString().slice(0, 19).replace("T", " ").replace(/:/g, ".");
    var ext = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
    try {
      return new File([file], "Pasted image " + stamp + "." + ext, { type: file.type });
    } catch (e) {
      return file;
    }
  }

  // fromPaste: clipboard pictures get a name of their own (see named()).
  function stageFiles(files, fromPaste) {
    var form = composer();
    if (!form || !attachArea(form) || !files || !files.length) return;
    prepare(form);
    Array.from(files).forEach(function (file) { staged.push(fromPaste ? named(file) : file); });
    showError(form, null);
    render(form);
    var box = form.querySelector("textarea[name=body]");
    if (box) box.focus();
  }

  function refusal(form, files) {
    var max = parseInt(attachArea(form).dataset.maxBytes, 10) || 0;
    var empty = files.find(function (f) { return f.size === 0; });
    if (empty) return "“" + empty.name + "” is empty (0 bytes). Nothing was sent — choose the file again.";
    var big = files.find(function (f) { return max && f.size > max; });
    if (big) return "“" + big.name + "” is " + humanSize(big.size) + "; files can be up to " + humanSize(max) +
      ". Nothing was sent.";
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    if (max && total > max) return "Those files add up to " + humanSize(total) + "; you can send up to " +
      humanSize(max) + " at a time. Nothing was sent — send them in parts.";
    return null;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  // The answer's words, for a refusal (the flash fragment of webchat/errors.py).
  function refusalText(xhr) {
    var template = document.createElement("template");
    template.innerHTML = xhr.responseText || "";
    var alert = template.content.querySelector("[role=alert]");
    if (alert && alert.textContent.trim()) return alert.textContent.trim();
    if (xhr.status === 404) return "This chat is no longer available to you. Nothing was sent.";
    if (xhr.status === 413) return "That upload is too large. Nothing was sent.";
    return "The files could not be sent (error " + xhr.status + "). They are still here; try again.";
  }

  function upload(form, retried) {
    if (uploading || !staged.length) return;
    var files = staged.slice();
    var problem = refusal(form, files);
    if (problem) {
      showError(form, problem);
      return;
    }
    var area = attachArea(form);
    var url = area.dataset.uploadUrl;
    var box = form.querySelector("textarea[name=body]");
    var data = new FormData();
    data.append("csrf_token", csrfToken(form));
    data.append("client_id", form.querySelector("input[name=client_id]").value);
    data.append("body", box ? box.value : "");
    var quote = form.querySelector("input[name=reply_to]"); // the message it quotes (quotes.js)
    if (quote && quote.value) data.append("reply_to", quote.value);
    data.append("after", String(webchat.resumeAfterId ? webchat.resumeAfterId() : 0));
    files.forEach(function (file) { data.append("files", file, file.name); });

    var xhr = new XMLHttpRequest();
    uploading = xhr;
    xhr.open("POST", url);
    xhr.setRequestHeader("HX-Request", "true");
    xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
    xhr.upload.addEventListener("progress", function (evt) {
      if (evt.lengthComputable) showProgress(form, evt.loaded / evt.total);
    });
    showError(form, null);
    showProgress(form, 0);
    form.classList.add("composer--uploading");

    function done() {
      uploading = null;
      showProgress(form, null);
      form.classList.remove("composer--uploading");
    }
    xhr.addEventListener("load", function () {
      done();
      var landed = xhr.responseURL && new URL(xhr.responseURL).pathname;
      if (landed && landed !== url) { // sent to the sign-in page: the session is over
        showError(form, "You were signed out. Sign in again to send these files.");
        return;
      }
      var fresh = xhr.getResponseHeader("X-CSRF-Token");
      if (xhr.status === 400 && fresh && !retried) { // a stale token: take the new one and go again
        document.querySelectorAll("input[name=csrf_token]").forEach(function (input) { input.value = fresh; });
        upload(form, true);
        return;
      }
      if (xhr.status !== 200) {
        showError(form, refusalText(xhr));
        return;
      }
      sent(form, xhr.responseText);
    });
    xhr.addEventListener("error", function () {
      done();
      showError(form, "Couldn't reach webchat. Your files and text are still here; send again.");
    });
    xhr.send(data);
  }

  function sent(form, html) {
    staged = [];
    var current = composer() || form;
    var box = current.querySelector("textarea[name=body]");
    if (box) box.value = "";
    var clientId = current.querySelector("input[name=client_id]");
    if (clientId && webchat.newClientId) clientId.value = webchat.newClientId();
    current.dispatchEvent(new CustomEvent("webchat:taken", { bubbles: true })); // quotes.js drops the quote
    render(current);
    var messages = document.getElementById("messages");
    if (!messages) return;
    if (webchat.applyChanges) html = webchat.applyChanges(html);
    if (webchat.filterMessages) html = webchat.filterMessages(html);
    if (webchat.dropUntargeted) html = webchat.dropUntargeted(html, false); // a send with files has no "sending…" line
    htmx.swap(messages, html, { swapStyle: "beforeend", swapDelay: 0, settleDelay: 0, ignoreTitle: true });
  }

  // ----- where files come from, and sending -------------------------------------------------
  function connect(form) {
    prepare(form);
    form.addEventListener("change", function (evt) {
      var input = evt.target;
      if (input.type !== "file" || !input.closest(".attach")) return;
      stageFiles(input.files);
      input.value = ""; // choosing the same file again is a change again
    });

    // A pasted picture (a screenshot, say) is a file to send; pasted text stays text.
    form.addEventListener("paste", function (evt) {
      var files = evt.clipboardData && evt.clipboardData.files;
      if (!files || !files.length || evt.clipboardData.getData("text/plain")) return;
      evt.preventDefault();
      stageFiles(files, true);
    });

    form.addEventListener("click", function (evt) {
      var remove = evt.target.closest("[data-attach-remove]");
      if (!remove) return;
      staged.splice(parseInt(remove.dataset.attachRemove, 10), 1);
      showError(form, null);
      render(form);
    });

    // Captured, so before htmx's own submit handler on the form and connection.js's socket
    // routing: with files waiting, this send is an upload.
    form.addEventListener("submit", function (evt) {
      if (!staged.length || !attachArea(form)) return;
      evt.preventDefault();
      evt.stopImmediatePropagation();
      upload(form);
    }, true);

    // composer.js sends on Enter only when there is text; files alone go too.
    form.addEventListener("keydown", function (evt) {
      var box = evt.target;
      if (evt.key !== "Enter" || evt.shiftKey || evt.isComposing || box.name !== "body") return;
      if (!staged.length || box.value.trim()) return;
      evt.preventDefault();
      upload(form);
    });
  }

  function carriesFiles(evt) {
    return evt.dataTransfer && Array.from(evt.dataTransfer.types || []).indexOf("Files") >= 0;
  }

  function dropZone(evt) {
    return evt.target.closest && evt.target.closest("#chat-pane");
  }

  // Files dragged anywhere on a chat page are taken by the pane or refused, rather than opened
  // by the browser, which would navigate away from the chat: so these listen on the document.
  document.addEventListener("dragover", function (evt) {
    if (!carriesFiles(evt) || !attachArea(composer())) return;
    evt.preventDefault();
    var pane = dropZone(evt);
    evt.dataTransfer.dropEffect = pane ? "copy" : "none";
    if (pane) pane.classList.add("chat--drop");
  });
  document.addEventListener("dragleave", function (evt) {
    var pane = dropZone(evt);
    if (pane && (!evt.relatedTarget || !pane.contains(evt.relatedTarget))) pane.classList.remove("chat--drop");
  });
  document.addEventListener("drop", function (evt) {
    if (!carriesFiles(evt) || !attachArea(composer())) return;
    evt.preventDefault();
    var pane = dropZone(evt);
    if (!pane) return;
    pane.classList.remove("chat--drop");
    stageFiles(evt.dataTransfer.files);
  });

  var api;
  htmx.defineExtension("attachments", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var form = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || form.id !== "composer" || api.getInternalData(form).attachments) return;
      api.getInternalData(form).attachments = true;
      connect(form);
    },
  });
})();
