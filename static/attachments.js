// Files in a composer (the chat's #composer, a thread pane's #thread-composer): picked with the
// button, dropped onto the chat (or the thread pane), or pasted into the text box. They wait in a
// list under that composer's box and go with its next Send (Enter or the button), the text as
// their caption, in one multipart POST of the form's own fields (a thread's broadcast choice, a
// quote) to its upload URL, with a progress bar; the stored message comes back (and to everyone
// else over the socket) like any other, into the form's hx-target. A refusal (too big, empty,
// not a member, an archived chat, a deleted parent) is shown under that composer and the files
// and the text stay. Each composer has its own files, progress and error.
// Without JavaScript the chat composer's "Upload files" button (a thread's form: its own button)
// posts the same form.
// One behaviour, attached by hx-ext="attachments" on a composer (chats/_composer.html,
// threads/_composer.html).
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  // Per composer id: {key, files, uploading}. key: the chat (and thread) the files were chosen
  // in; a composer drawn for another one starts empty. files: File objects waiting for the next
  // send. uploading: the XMLHttpRequest on its way.
  var composers = {};

  function keyOf(form) {
    return form.dataset.chatId + ":" + (form.dataset.thread || "");
  }

  function state(form) {
    var s = composers[form.id];
    if (!s || s.key !== keyOf(form)) {
      s = composers[form.id] = { key: keyOf(form), files: [], uploading: null };
    }
    return s;
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
    render(form);
  }

  function render(form) {
    var area = attachArea(form);
    if (!area) return;
    var staged = state(form).files;
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
  function stageFiles(form, files, fromPaste) {
    if (!form || !attachArea(form) || !files || !files.length) return;
    prepare(form);
    var staged = state(form).files;
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
    var s = state(form);
    if (s.uploading || !s.files.length) return;
    var files = s.files.slice();
    var problem = refusal(form, files);
    if (problem) {
      showError(form, problem);
      return;
    }
    var area = attachArea(form);
    var url = area.dataset.uploadUrl;
    // The form's own fields (the token, client id, text, a quote's reply_to, a thread's
    // broadcast); its file input has no name (prepare), the staged files go instead.
    var data = new FormData(form);
    data.set("after", String(webchat.afterFrom ? webchat.afterFrom(form.dataset.afterFrom) : 0));
    files.forEach(function (file) { data.append("files", file, file.name); });

    var xhr = new XMLHttpRequest();
    s.uploading = xhr;
    xhr.open("POST", url);
    xhr.setRequestHeader("HX-Request", "true");
    if (form.id) xhr.setRequestHeader("HX-Trigger", form.id); // a thread's answer brings a fresh composer
    xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
    xhr.upload.addEventListener("progress", function (evt) {
      if (evt.lengthComputable) showProgress(form, evt.loaded / evt.total);
    });
    showError(form, null);
    showProgress(form, 0);
    form.classList.add("composer--uploading");

    function done() {
      s.uploading = null;
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
      sent(form, s, xhr.responseText);
    });
    xhr.addEventListener("error", function () {
      done();
      showError(form, "Couldn't reach webchat. Your files and text are still here; send again.");
    });
    xhr.send(data);
  }

  // The upload's answer: the messages after the page's newest (the chat's #messages, or the
  // thread's replies; the form's hx-target), and for a thread a fresh composer, out of band.
  function sent(form, s, html) {
    s.files = [];
    var current = document.getElementById(form.id) || form; // the form, unless redrawn meanwhile
    if (keyOf(current) === s.key) {
      var box = current.querySelector("textarea[name=body]");
      if (box) box.value = "";
      var clientId = current.querySelector("input[name=client_id]");
      if (clientId && webchat.newClientId) clientId.value = webchat.newClientId();
      current.dispatchEvent(new CustomEvent("webchat:taken", { bubbles: true })); // quotes.js drops the quote
      render(current);
    }
    var target = document.querySelector(form.getAttribute("hx-target"));
    if (!target) return;
    if (webchat.applyChanges) html = webchat.applyChanges(html);
    if (webchat.filterMessages) html = webchat.filterMessages(html);
    if (webchat.dropUntargeted) html = webchat.dropUntargeted(html, false); // a send with files has no "sending…" line
    htmx.swap(target, html, { swapStyle: "beforeend", swapDelay: 0, settleDelay: 0, ignoreTitle: true });
  }

  // ----- where files come from, and sending -------------------------------------------------
  function connect(form) {
    prepare(form);
    form.addEventListener("change", function (evt) {
      var input = evt.target;
      if (input.type !== "file" || !input.closest(".attach")) return;
      stageFiles(form, input.files);
      input.value = ""; // choosing the same file again is a change again
    });

    // A pasted picture (a screenshot, say) is a file to send; pasted text stays text.
    form.addEventListener("paste", function (evt) {
      var files = evt.clipboardData && evt.clipboardData.files;
      if (!files || !files.length || evt.clipboardData.getData("text/plain")) return;
      evt.preventDefault();
      stageFiles(form, files, true);
    });

    form.addEventListener("click", function (evt) {
      var remove = evt.target.closest("[data-attach-remove]");
      if (!remove) return;
      state(form).files.splice(parseInt(remove.dataset.attachRemove, 10), 1);
      showError(form, null);
      render(form);
    });

    // Captured, so before htmx's own submit handler on the form and connection.js's socket
    // routing: with files waiting, this send is an upload.
    form.addEventListener("submit", function (evt) {
      if (!state(form).files.length || !attachArea(form)) return;
      evt.preventDefault();
      evt.stopImmediatePropagation();
      upload(form);
    }, true);

    // composer.js sends on Enter only when there is text; files alone go too.
    form.addEventListener("keydown", function (evt) {
      var box = evt.target;
      if (evt.key !== "Enter" || evt.shiftKey || evt.isComposing || box.name !== "body") return;
      if (!state(form).files.length || box.value.trim()) return;
      evt.preventDefault();
      upload(form);
    });
  }

  function carriesFiles(evt) {
    return evt.dataTransfer && Array.from(evt.dataTransfer.types || []).indexOf("Files") >= 0;
  }

  function withFiles(form) {
    return form && attachArea(form) ? form : null;
  }

  // Where dropped files go: an open thread pane's composer when dropped on the pane (none, when
  // its thread takes no replies), else the chat's.
  function dropZone(evt) {
    var thread = evt.target.closest && evt.target.closest("#thread-pane[data-thread]");
    if (thread) return { pane: thread, form: withFiles(thread.querySelector("#thread-composer")) };
    var chat = evt.target.closest && evt.target.closest("#chat-pane");
    return chat ? { pane: chat, form: withFiles(document.getElementById("composer")) } : null;
  }

  function anyComposer() {
    return withFiles(document.getElementById("composer")) || withFiles(document.getElementById("thread-composer"));
  }

  // Files dragged anywhere on a chat page are taken by a composer or refused, rather than opened
  // by the browser, which would navigate away from the chat: so these listen on the document.
  document.addEventListener("dragover", function (evt) {
    if (!carriesFiles(evt) || !anyComposer()) return;
    evt.preventDefault();
    var zone = dropZone(evt);
    evt.dataTransfer.dropEffect = zone && zone.form ? "copy" : "none";
    if (zone && zone.form) zone.pane.classList.add("chat--drop");
  });
  document.addEventListener("dragleave", function (evt) {
    var zone = dropZone(evt);
    if (zone && (!evt.relatedTarget || !zone.pane.contains(evt.relatedTarget))) zone.pane.classList.remove("chat--drop");
  });
  document.addEventListener("drop", function (evt) {
    if (!carriesFiles(evt) || !anyComposer()) return;
    evt.preventDefault();
    document.querySelectorAll(".chat--drop").forEach(function (el) { el.classList.remove("chat--drop"); });
    var zone = dropZone(evt);
    if (zone && zone.form) stageFiles(zone.form, evt.dataTransfer.files);
  });

  var api;
  htmx.defineExtension("attachments", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var form = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || !form.id || !form.classList || !form.classList.contains("composer")
          || api.getInternalData(form).attachments) return; // the chat's and a thread's
      api.getInternalData(form).attachments = true;
      connect(form);
    },
  });
})();
