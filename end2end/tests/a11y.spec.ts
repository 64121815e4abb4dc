// A tour of every page, on a desktop and a phone, as a reviewer with axe-core would take it:
// no serious or critical accessibility violation, no request answered with an error, and the
// papercuts a first tour found stay fixed.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";

import { readState } from "../harness/state";

const PAGES = [
  "/",
  "/activity",
  "/devices",
  "/password",
  "/security",
  "/admin/activity",
  "/admin/live",
  "/admin/users",
  "/no-such-page",
];

const VIEWPORTS = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
];

/** Serious and critical violations of the page as it stands, described for the report. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

async function hydrated(page: Page) {
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
}

for (const viewport of VIEWPORTS) {
  test(`every page passes axe and loads cleanly on a ${viewport.name}`, async ({ browser }) => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    const page = await context.newPage();
    const failed: string[] = [];
    page.on("response", (response) => {
      // The unknown page's own 404 is the point of visiting it.
      if (response.status() >= 400 && !response.url().endsWith("/no-such-page")) {
        failed.push(`${response.status()} ${response.url()}`);
      }
    });

    await page.goto("/login");
    await hydrated(page);
    expect(await violations(page), "/login").toEqual([]);
    await page.getByLabel("Username or e-mail").fill("admin");
    await page.getByLabel("Password").fill(readState().adminPassword);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByTestId("username")).toHaveText("admin");

    for (const path of PAGES) {
      await page.goto(path);
      await hydrated(page);
      await expect(page.getByText("Loading…")).toHaveCount(0);
      expect(await violations(page), path).toEqual([]);
    }
    expect(failed, "requests answered with an error (a missing icon, say)").toEqual([]);
    await context.close();
  });
}

test("the console's own row, the new-account form and the device list read right", async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(readState().adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText("admin");

  // The administrator's own row offers nothing the server would refuse.
  await page.goto("/admin/users?q=admin");
  await hydrated(page);
  const own = page.locator('[data-testid=user-row][data-user="admin"]');
  await expect(own.getByTestId("you")).toHaveCount(1);
  await expect(own.getByRole("button", { name: "Deactivate" })).toHaveCount(0);
  await expect(own.getByRole("button", { name: "Remove admin" })).toHaveCount(0);

  // The new-account form starts at the card's left edge, not its right.
  const card = await page.locator("section.card").first().boundingBox();
  const field = await page.getByTestId("create-user").getByLabel("Username").boundingBox();
  expect(card && field && field.x - card.x).toBeLessThan(80);

  // A device's place and address are two words, not one.
  await page.goto("/devices");
  await hydrated(page);
  const current = page.locator("[data-testid=session-row][data-current=true]");
  await expect(current).toContainText(/\S \d+\.\d+\.\d+\.\d+/);
  await context.close();
});
