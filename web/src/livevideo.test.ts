import { describe, expect, it } from "vitest";
import { catchUp, EDGE_S, KEEP_BEHIND_S, MAX_LAG_S, mseSupported, parseLiveVideoMessage, trimRange } from "./livevideo";
import { liveVideoUrl } from "./alerts";

describe("live video", () => {
  it("jumps to near the newest frame only when too far behind it", () => {
    expect(catchUp(10, 10 + MAX_LAG_S - 0.1)).toBeNull();
    expect(catchUp(10, 20)).toBeCloseTo(20 - EDGE_S);
    // A viewer joining at a keyframe 4 s back starts near the live edge.
    expect(catchUp(0, 4)).toBeCloseTo(4 - EDGE_S);
  });

  it("removes what is well behind the play position, not in small bites", () => {
    expect(trimRange(KEEP_BEHIND_S + 1, 0)).toBeNull();
    expect(trimRange(30, 0)).toEqual([0, 30 - KEEP_BEHIND_S]);
  });

  it("checks the socket's text messages", () => {
    expect(parseLiveVideoMessage('{"type":"stream","codec":"avc1.64001e","width":640,"height":360}')).toEqual({
      type: "stream",
      codec: "avc1.64001e",
      width: 640,
      height: 360,
    });
    expect(parseLiveVideoMessage('{"type":"unavailable","reason":"privacy mask"}')).toEqual({
      type: "unavailable",
      reason: "privacy mask",
    });
    for (const bad of ["", "null", "[]", '{"type":"stream","codec":1}', '{"type":"other"}', "{"]) {
      expect(parseLiveVideoMessage(bad)).toBeNull();
    }
  });

  it("falls back when the browser has no Media Source Extensions", () => {
    // vitest's environment has none: the console then shows MJPEG.
    expect(mseSupported()).toBe(typeof (globalThis as { MediaSource?: unknown }).MediaSource === "function");
  });

  it("serves the socket from the page's own host, wss on https", () => {
    expect(liveVideoUrl("gate 1", { protocol: "https:", host: "cams.example:8443" })).toBe(
      "wss://cams.example:8443/api/cameras/gate%201/live.ws",
    );
    expect(liveVideoUrl("lobby", { protocol: "http:", host: "127.0.0.1:8080" })).toBe("ws://127.0.0.1:8080/api/cameras/lobby/live.ws");
  });
});
