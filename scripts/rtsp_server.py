#!/usr/bin/python3
"""A real RTSP server (GStreamer's gst-rtsp-server) serving a video file, for tests and demos.

Usage: /usr/bin/python3 scripts/rtsp_server.py CLIP.mp4 --port 8554 [--mount /cam]

Serves rtsp://127.0.0.1:PORT/MOUNT on loopback only, streaming the file's H.264 in real time and
starting it again for each new client. Prints "ready rtsp://..." once listening. Needs Debian's
python3-gi and gir1.2-gst-rtsp-server-1.0 (scripts/setup.sh installs them); run it with
/usr/bin/python3, whose site-packages hold gi.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--mount", default="/cam")
    args = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.clip.replace('"', '\\"')
    factory.set_launch(f'( filesrc location="{location}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    factory.set_shared(False)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"ready rtsp://127.0.0.1:{args.port}{args.mount}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
