// The Node peer for bench/versus.py: a Socket.IO 4 server with one room, as a user of the seed's
// stack would write it. A client joins the room ("join", acknowledged); a "send" from one client is
// rendered once into an HTML fragment about the size of a webchat message frame and broadcast to
// every other client in the room, then acknowledged to the sender (the closed-loop senders wait for
// it). The body carries the client's sequence number and send time, so the client measures latency.
// Keep the fragment in step with bench/peers/flask_socketio/server.py (same bytes, same escaping).
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || process.argv[2] || 8701);
const ROOM = "bench";
let lastId = 0;

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);

function render(id, author, body, at) {
  const iso = at.toISOString();
  const short = iso.slice(11, 16);
  return `<article id="m-${id}" class="msg msg--text" data-id="${id}" data-seq="${id}" data-chat="1" ` +
    `data-rev="0" data-author="${escapeHtml(author)}">` +
    `<header class="msg-meta"><span class="msg-author">${escapeHtml(author)}</span>\n` +
    `    <time datetime="${iso}">${short}</time></header>` +
    `<div class="msg-body" hx-disable><p>${escapeHtml(body)}</p></div>\n` +
    `  <footer class="msg-actions"><button type="button" class="msg-action" data-action="react" ` +
    `aria-label="Add reaction">☺</button> <button type="button" class="msg-action" data-action="reply" ` +
    `aria-label="Reply">↩</button> <button type="button" class="msg-action" data-action="edit" ` +
    `aria-label="Edit">✎</button> <button type="button" class="msg-action" data-action="delete" ` +
    `aria-label="Delete">🗑</button></footer>\n</article>`;
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
