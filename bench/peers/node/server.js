// The Node peer for bench/versus.py: a Socket.IO 4 server with one room, as a user of the seed's
// stack would write it. A client joins the room ("join", acknowledged); a "send" from one client is
// rendered once into the HTML of a webchat message frame (same markup and size) and broadcast to
// every other client in the room, then acknowledged to the sender (the closed-loop senders wait for
// it). The body carries the client's sequence number and send time, so the client measures latency.
// Keep the fragment in step with bench/peers/flask_socketio/server.py (same bytes, same escaping).
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || process.argv[2] || 8701);
const ROOM = "bench";
let lastId = 0;

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" };  // markupsafe's escapes
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);

// The markup of webchat's message frame (templates/chats/_message.html inside its out-of-band
// wrapper), so every server writes the same bytes per delivery (about 1,170).
function render(id, author, body, at) {
  const iso = at.toISOString().slice(0, 19) + "+00:00";
  const a = escapeHtml(author);
  const m = `/chats/1/messages/${id}`;
  return `<div hx-swap-oob="beforeend:#messages"><article id="m-${id}" class="msg msg--user" data-id="${id}" ` +
    `data-seq="${id}" data-chat="1" data-rev="0" data-author="${a}">\n` +
    `  <header class="msg-meta"><span class="msg-author">${a}</span>\n` +
    `    <time datetime="${iso}">${iso.slice(11, 16)}</time></header>\n` +
    `  <div class="msg-body" hx-disable><p>${escapeHtml(body)}</p></div>\n  \n` +
    `<nav class="msg-actions" aria-label="Message actions">\n` +
    `  <a class="msg-action msg-action--edit" href="${m}/edit" hx-get="${m}/edit" hx-target="closest .msg"\n` +
    `     hx-swap="beforeend">Edit</a>\n` +
    `  <a class="msg-action msg-action--delete" href="${m}/delete" hx-post="${m}/delete" hx-swap="none"\n` +
    `     hx-confirm="Delete this message for everyone? This can&#39;t be undone.">Delete</a>\n  \n` +
    `<details class="msg-action msg-action--always reaction-picker">\n` +
    `  <summary title="Add a reaction">React</summary>\n` +
    `  <div class="reaction-picker-panel" hx-get="${m}/reactions" hx-trigger="toggle once from:closest details">\n` +
    `    <a href="${m}/reactions">Choose a reaction…</a></div>\n</details>\n</nav>\n</article>\n</div>`;
}

const httpServer = http.createServer();
// The defaults, as a user would start it (they decline permessage-deflate); PEER_DEFLATE=1 accepts it.
const io = new Server(httpServer, process.env.PEER_DEFLATE === "1" ? { perMessageDeflate: true } : {});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(ROOM);
    if (typeof ack === "function") ack({ room: ROOM });
  });
  socket.on("send", (data, ack) => {
    lastId += 1;
    const html = render(lastId, data.author || socket.id, data.body || "", new Date());
    socket.to(ROOM).emit("message", html);
    if (typeof ack === "function") ack({ id: lastId, client_id: data.client_id });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`node socket.io ${require("socket.io/package.json").version} peer on 127.0.0.1:${port}`);
});
