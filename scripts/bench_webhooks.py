#!/usr/bin/env python3
"""Outbox delivery benchmark on loopback: `fightwatch run` with three webhook targets (each a
Python HTTP receiver) and, with --mqtt, a real mosquitto broker with a subscriber; N detections
posted as fast as one client can (each on its own camera, so none is grouped), then: per target,
how long after the alert's `started_at` each `raised` event arrived (p50/p99/max, ms) and
deliveries per second. Bounded: it stops by itself.

    python3 scripts/bench_webhooks.py [--alerts 300] [--interval 0] [--bin target/release/fightwatch]
    .cache/venv/bin/python scripts/bench_webhooks.py --mqtt     # + mosquitto (paho-mqtt subscriber)

Prints one JSON object; also written to target/bench/webhooks.json.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def receiver(port: int, log: list):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            now = time.time() * 1000
            event = json.loads(body)["event"]
            log.append((now, event.get("started_at"), self.headers["idempotency-key"]))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def broker(work: str, port: int):
    """Debian's mosquitto on `port`, anonymous, no persistence; and a paho subscriber to
    fightwatch/alerts (QoS 1) logging `(arrival ms, started_at, seq)` of each raised alert."""
    import paho.mqtt.client as mqtt  # scripts/requirements.txt

    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                + ("user root\n" if os.geteuid() == 0 else ""))
    proc = subprocess.Popen(["mosquitto", "-c", conf], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    log = []

    def on_message(_c, _u, msg):
        now = time.time() * 1000
        body = json.loads(msg.payload)
        if body["kind"] == "raised":
            log.append((now, body["event"].get("started_at"), f"fightwatch-{body['seq']}"))

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sub")
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("fightwatch/alerts", qos=1)
    sub.loop_start()
    return proc, sub, log


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between detections (0: a burst)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/fightwatch"))
    ap.add_argument("--mqtt", action="store_true", help="also a mosquitto broker (needs paho-mqtt)")
    args = ap.parse_args()
    work = tempfile.mkdtemp()
    port = free_port()
    logs, servers, hooks = [], [], []
    for i in range(3):
        hp = free_port()
        log = []
        logs.append(log)
        servers.append(receiver(hp, log))
        hooks.append(f'[[webhooks]]\nname = "t{i}"\nurl = "http://127.0.0.1:{hp}/hook"\nsecret = "bench secret 0123456789"\n')
    names = [f"t{i}" for i in range(3)]
    mosquitto = None
    if args.mqtt:
        mp = free_port()
        mosquitto, subscriber, mlog = broker(work, mp)
        logs.append(mlog)
        names.append("mqtt")
        hooks.append(f'[[mqtt]]\nname = "mqtt"\nurl = "mqtt://127.0.0.1:{mp}"\n')
    with open(os.path.join(work, "fightwatch.toml"), "w") as f:
        f.write(
            f'[model]\npackage = "{ROOT}/models/fight-demo"\nthreads = 1\n[server]\nbind = "127.0.0.1:{port}"\n'
            f'[storage]\ndata_dir = "data"\n[evidence]\nclips = false\n[workflow]\nack_deadline_s = 0\n'
            f'camera_offline_s = 0\ngroup_window_s = 0\n' + "".join(hooks) +
            f'[[cameras]]\nname = "street"\nsource = "{ROOT}/fixtures/walk_street.mp4"\nloop = false\n'
        )
    env = dict(os.environ, FIGHTWATCH_JWT_SECRET="bench secret, long enough to be fine", RUST_LOG="warn")
    server = subprocess.Popen([args.bin, "run", "--config", os.path.join(work, "fightwatch.toml")],
                              cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        token = subprocess.check_output([args.bin, "token", "--user", "bench", "--role", "detector",
                                         "--data-dir", os.path.join(work, "data")], env=env, text=True).strip()
        time.sleep(1.0)  # the delivery tasks have set their cursors
        t0 = time.time()
        for i in range(args.alerts):
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/detections",
                data=json.dumps({"camera": f"cam-{i}", "score": 0.9}).encode(),
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
                method="POST")
            urllib.request.urlopen(req, timeout=10).read()
            time.sleep(args.interval)
        posted_s = time.time() - t0
        deadline = time.time() + 60
        while time.time() < deadline and any(len({k for _, _, k in log}) < args.alerts for log in logs):
            time.sleep(0.05)
        result = {"alerts": args.alerts, "interval_s": args.interval, "targets": len(names), "post_s": round(posted_s, 2), "per_target": []}
        for i, log in enumerate(logs):
            lat = sorted(now - started for now, started, _ in log if started)
            span = (max(n for n, _, _ in log) - t0 * 1000) / 1000 if log else 0
            result["per_target"].append({
                "target": names[i], "delivered": len({k for _, _, k in log}), "repeats": len(log) - len({k for _, _, k in log}),
                "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
                "latency_ms_p99": round(lat[int(0.99 * (len(lat) - 1))], 1) if lat else None,
                "latency_ms_max": round(lat[-1], 1) if lat else None,
                "deliveries_per_s": round(len(log) / span, 1) if span > 0 else None,
            })
    finally:
        server.kill()
        server.wait()
        for s in servers:
            s.shutdown()
        if mosquitto:
            subscriber.loop_stop()
            mosquitto.kill()
            mosquitto.wait()
    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target/bench/webhooks.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))
    return 0 if all(t["delivered"] == args.alerts for t in result["per_target"]) else 1


if __name__ == "__main__":
    sys.exit(main())
