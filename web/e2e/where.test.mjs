// "Where in the picture" in the console: the real service watches a real fight in the
// bottom-right corner of a calm scene (fixtures/corner) with the CPU default model, whose
// activation map gives each fight alert a region and a heat map. The detail draws the region
// over the snapshot where the fight is, and shows the heat map as a tab of its own.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Service, accessibilityProblems, launchBrowser, login, openConsole, shot, until } from "./harness.mjs";

const OPS = ["ops", "operator", "night shift 1"];
// fixtures/corner/labels.csv: where the fight is, in 0–1 picture coordinates.
const FIGHT = [0.4, 0.4, 1.0, 1.0];

let service;
let browser;

before(async () => {
  service = new Service();
  await service.configure({
    model: "models/fight-mc3-18-6x80-int8",
    cameras: [{ name: "corner", source: "fixtures/corner/fight_bottom_right.mp4", site: "hq" }],
  });
  service.addUser(...OPS);
  await service.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await service?.close();
});

test("the fight's region is drawn over the snapshot where the fight is, and the heat map has a tab", { timeout: 90_000 }, async () => {
  const { page, context } = await openConsole(browser, service.base);
  await login(page, OPS[0], OPS[2]);
  const card = page.locator('.feed .alert-card[data-camera="corner"]').first();
  await card.waitFor({ timeout: 60_000 });
  await card.click();
  const dialog = page.locator("dialog.detail");
  await dialog.waitFor();
  await dialog.getByRole("tab", { name: "Snapshot" }).click();
  const img = dialog.locator(".snapshot-frame img");
  await until("the snapshot in the detail", () => img.evaluate((i) => i.complete && i.naturalWidth > 0));
  const box = dialog.locator('[data-testid="region-box"]');
  await box.waitFor();
  const [pic, drawn] = [await img.boundingBox(), await box.boundingBox()];
  // The drawn box, in picture coordinates: centred on the fight, mostly on it.
  const r = [
    (drawn.x - pic.x) / pic.width,
    (drawn.y - pic.y) / pic.height,
    (drawn.x + drawn.width - pic.x) / pic.width,
    (drawn.y + drawn.height - pic.y) / pic.height,
  ];
  const centre = [(r[0] + r[2]) / 2, (r[1] + r[3]) / 2];
  assert.ok(centre[0] > FIGHT[0] && centre[1] > FIGHT[1], `box ${r} is centred on the fight ${FIGHT}`);
  assert.ok(r[0] > FIGHT[0] - 0.05 && r[1] > FIGHT[1] - 0.05, `box ${r} stays on the fight ${FIGHT}`);
  await shot(page, "11-alert-region");
  assert.deepEqual(await accessibilityProblems(page), []);
  await dialog.getByRole("tab", { name: "Heat map" }).click();
  const heat = dialog.locator('img[alt^="Heat map"]');
  await until("the heat map in the detail", () => heat.evaluate((i) => i.complete && i.naturalWidth > 0));
  await shot(page, "12-alert-heatmap");
  assert.deepEqual(page.errors, []);
  await context.close();
});
