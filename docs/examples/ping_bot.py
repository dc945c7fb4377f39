"""A bot that answers "!ping" with "pong" in every chat it is in (README.md, "API: a quick start").

    pip install websocket-client
    WEBCHAT_URL=https://chat.example.com WEBCHAT_TOKEN=wc_... python ping_bot.py
"""
import json
import os
import urllib.request

import websocket

url, auth = os.environ["WEBCHAT_URL"].rstrip("/"), {"Authorization": f"Bearer {os.environ['WEBCHAT_TOKEN']}"}
with urllib.request.urlopen(urllib.request.Request(f"{url}/api/v1/chats", headers=auth)) as answer:
    chats = [chat["id"] for chat in json.load(answer)["chats"]]
ws = websocket.create_connection(url.replace("http", "ws", 1) + "/socket", header=auth)
for chat in chats:
    ws.send(json.dumps({"type": "subscribe", "chat": chat}))
while True:
    event = json.loads(ws.recv())
    if event["type"] == "caught-up":
        print(f"listening in chat {event['chat']}", flush=True)
    elif event["type"] == "error":
        print(event["error"]["message"], flush=True)
    elif event["type"] == "chat.added":  # added to a chat since: listen there too
        ws.send(json.dumps({"type": "subscribe", "chat": event["chat"]}))
    elif event["type"] == "message.created" and event["message"]["text"].strip() == "!ping":
        # The client id is made from the message's: a "!ping" seen twice is answered once.
        ws.send(json.dumps({"type": "send", "chat": event["chat"], "text": "pong",
                            "client_id": f"pong-for-{event['message']['id']}"}))
