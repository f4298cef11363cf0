import { describe, expect, it } from "vitest";
import { base64UrlBytes, pushSupported } from "./push";

describe("push", () => {
  it("decodes base64url keys of any padding", () => {
    expect([...base64UrlBytes("AQID")]).toEqual([1, 2, 3]);
    expect([...base64UrlBytes("-_8")]).toEqual([0xfb, 0xff]);
    expect([...base64UrlBytes("AQ")]).toEqual([1]);
    // A VAPID public key: an uncompressed P-256 point, 65 bytes starting with 4.
    const key = base64UrlBytes(
      "BP7i43OSj_B6M8U48U2XpKudAT9jTxYgB6nNkd4xDbrt54ReAbVqDQvgllH5eFrVQTb6KR4EqBQrQiWO5ftACZ8",
    );
    expect(key.length).toBe(65);
    expect(key[0]).toBe(4);
  });

  it("is not offered where the browser cannot do it", () => {
    // vitest runs in node: no window, no service workers.
    expect(pushSupported()).toBe(false);
  });
});
