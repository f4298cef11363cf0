// Live view without re-encoding, in Chromium against the real service: an H.264 camera plays
// through Media Source Extensions (its own video, the <video> advancing near the newest
// frame), and a camera with a privacy mask falls back to MJPEG with the mask burnt in.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Service, accessibilityProblems, launchBrowser, login, openConsole, shot, sleep, until } from "./harness.mjs";

const OPS = ["ops", "operator", "night shift 1"];

let service;
let browser;

before(async () => {
  service = new Service();
  await service.configure({
    cameras: [
      { name: "street", source: "fixtures/fight_mid_walk.mp4", site: "hq" },
      // The left half of the picture is private.
      { name: "masked", source: "fixtures/fight_street.mp4", site: "hq", masks: "[[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]]" },
    ],
  });
  service.addUser(...OPS);
  await service.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await service?.close();
});

/** Mean brightness of the left and right halves of what `selector` shows now. */
async function halves(page, selector) {
  return page.locator(selector).evaluate((el) => {
    const w = el.videoWidth || el.naturalWidth;
    const h = el.videoHeight || el.naturalHeight;
    const c = document.createElement("canvas");
    [c.width, c.height] = [w, h];
    const g = c.getContext("2d");
    g.drawImage(el, 0, 0, w, h);
    const mean = (x0, x1) => {
      const d = g.getImageData(x0, 0, x1 - x0, h).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
      return sum / (d.length / 4);
    };
    return { left: mean(2, Math.floor(w / 2) - 3), right: mean(Math.floor(w / 2) + 3, w) };
  });
}

test("an H.264 camera plays through MSE; a masked one falls back to MJPEG with the mask burnt in", { timeout: 90_000 }, async () => {
  const { page } = await openConsole(browser, service.base);
  await login(page, OPS[0], OPS[2]);
  await page.getByRole("link", { name: /Live/ }).first().click();

  await page.getByRole("button", { name: /Live view of street/ }).click();
  const dialog = page.locator("dialog.live-dialog");
  const video = dialog.locator("video.live-video");
  await video.waitFor({ timeout: 15_000 });
  await until("the live video to play", () => video.evaluate((v) => v.readyState >= 2 && v.currentTime > 0), 20_000);
  const t0 = await video.evaluate((v) => v.currentTime);
  await sleep(2_000);
  const t1 = await video.evaluate((v) => v.currentTime);
  assert.ok(t1 - t0 > 1.0, `the video advances: ${t0} -> ${t1}`);
  const behind = await video.evaluate((v) => v.buffered.end(v.buffered.length - 1) - v.currentTime);
  assert.ok(behind < 2.0, `near the newest frame: ${behind.toFixed(2)} s behind`);
  assert.equal(await dialog.locator("figure.live").getAttribute("data-live-mode"), "video");
  assert.match(await dialog.locator("figcaption").innerText(), /camera's own video/);
  const picture = await halves(page, "dialog.live-dialog video.live-video");
  assert.ok(picture.left > 30 && picture.right > 30, `a picture, not black: ${JSON.stringify(picture)}`);
  await shot(page, "12-live-video");
  assert.deepEqual(await accessibilityProblems(page), []);
  await dialog.getByRole("button", { name: "Close" }).click();

  await page.getByRole("button", { name: /Live view of masked/ }).click();
  const img = dialog.locator("img.live-img");
  await img.waitFor({ timeout: 15_000 });
  await until("MJPEG frames", () => img.evaluate((i) => i.complete && i.naturalWidth > 0), 15_000);
  assert.equal(await dialog.locator("figure.live").getAttribute("data-live-mode"), "mjpeg");
  await until("the caption says why", async () => /privacy mask/.test(await dialog.locator("figcaption").innerText()), 10_000);
  const masked = await halves(page, "dialog.live-dialog img.live-img");
  assert.ok(masked.left < 8, `the masked half is black: ${JSON.stringify(masked)}`);
  assert.ok(masked.right > 30, `the other half is picture: ${JSON.stringify(masked)}`);
  await shot(page, "13-live-masked-mjpeg");
  assert.deepEqual(page.errors, []);
});
