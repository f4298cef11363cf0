"""The PyPI python-socketio client against fightwatch's /socket.io/ (run by socketio.test.mjs).

    python socketio_client.py URL VIEWER_TOKEN DETECTOR_TOKEN

Connects a viewer with `auth={"token": ...}` (default transports: long-polling, then the
WebSocket upgrade), waits for `welcome_message`, joins a room and chats with acknowledgements,
has a detector client report a fight and waits for the viewer's `fight_alert`, then tries a bad
token. Prints what it saw as one JSON object; exits 1 when something did not come.
"""

import json
import sys
import threading

import socketio

url, viewer_token, detector_token = sys.argv[1:4]
seen = {"chat": [], "alerts": []}
came = {name: threading.Event() for name in ("welcome", "alert", "chat")}

viewer = socketio.Client(reconnection=False)


@viewer.on("welcome_message")
def welcome(message):
    seen["welcome"] = message
    came["welcome"].set()


@viewer.on("fight_alert")
def fight_alert(alert):
    seen["alerts"].append(alert)
    if alert.get("camera") == "py-cam":
        came["alert"].set()


@viewer.on("receive_message")
def receive_message(message):
    seen["chat"].append(message)
    came["chat"].set()


viewer.connect(url, auth={"token": viewer_token}, wait_timeout=15)
came["welcome"].wait(15)
seen["transport"] = viewer.transport()
seen["join"] = viewer.call("join_room", "chat:hq", timeout=15)
seen["send"] = viewer.call("send_message", {"room": "chat:hq", "text": "from python"}, timeout=15)
came["chat"].wait(15)
seen["viewer_detects"] = viewer.call(
    "fight_detected", {"camera": "py-cam", "site": "hq", "score": 0.9}, timeout=15
)

detector = socketio.Client(reconnection=False)
detector.connect(url, auth={"token": detector_token}, transports=["websocket"], wait_timeout=15)
seen["detect"] = detector.call(
    "fight_detected", {"camera": "py-cam", "site": "hq", "score": 0.9}, timeout=15
)
came["alert"].wait(20)
detector.disconnect()
viewer.disconnect()

intruder = socketio.Client(reconnection=False)


@intruder.event
def connect_error(data):
    # The server's reason: {"message": ...} (Socket.IO 5) or the text itself.
    seen["refused"] = data.get("message") if isinstance(data, dict) else data


try:
    intruder.connect(url, auth={"token": "not a token"}, wait_timeout=15)
    seen["connected_with_a_bad_token"] = True
except socketio.exceptions.ConnectionError:
    pass

print(json.dumps(seen))
sys.exit(0 if all(e.is_set() for e in came.values()) else 1)
