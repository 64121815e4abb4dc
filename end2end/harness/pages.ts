// What several browser tests do with a page.
import { expect, type Page } from "@playwright/test";

// Waits until the Devices page shows the current session key-bound, moving between pages
// inside the app: a reload would cut short the page's own wait before it binds.
export async function awaitKeyBound(page: Page): Promise<void> {
  const bound = page.locator("[data-testid=session-row][data-current=true] [data-testid=device-bound]");
  await expect(async () => {
    await page.getByRole("link", { name: "Home" }).click();
    await page.getByRole("link", { name: "Devices" }).click();
    await expect(bound).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
}
