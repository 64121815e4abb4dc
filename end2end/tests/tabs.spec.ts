import { expect, test, type Page } from "@playwright/test";

import { awaitKeyBound } from "../harness/pages";
import { readState } from "../harness/state";

// What the page keeps in IndexedDB: the device key, as WebCrypto objects.
async function storedKey(page: Page) {
  return page.evaluate(
    () =>
      new Promise<{ found: boolean; extractable?: boolean; algorithm?: string; curve?: string }>((resolve, reject) => {
        const open = indexedDB.open("fin_intelli");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains("device_keys")) return resolve({ found: false });
          const get = db.transaction("device_keys").objectStore("device_keys").get("device");
          get.onerror = () => reject(get.error);
          get.onsuccess = () => {
            const pair = get.result as CryptoKeyPair | undefined;
            if (!pair) return resolve({ found: false });
            const algorithm = pair.privateKey.algorithm as EcKeyAlgorithm;
            resolve({ found: true, extractable: pair.privateKey.extractable, algorithm: algorithm.name, curve: algorithm.namedCurve });
          };
        };
      }),
  );
}


// The suite's server issues 30-second access tokens (harness/global-setup.ts).
test("a key-bound session renews in two tabs across token expiry; its copied cookies cannot, and the live page sees it", async ({
  browser,
}) => {
  test.setTimeout(150_000);
  const context = await browser.newContext();
  const first = await context.newPage();
  await first.goto("/login");
  await expect(first.locator("body[data-hydrated=true]")).toHaveCount(1);
  await first.getByLabel("Username or e-mail").fill("admin");
  await first.getByLabel("Password").fill(readState().adminPassword);
  await first.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(first.getByTestId("username")).toHaveText("admin");

  // The page made a key WebCrypto will not export and bound the new session to it (a few
  // seconds after signing in: it lets a DBSC browser go first).
  await awaitKeyBound(first);
  expect(await storedKey(first)).toEqual({ found: true, extractable: false, algorithm: "ECDSA", curve: "P-256" });

  // The second tab of the same session watches the live page.
  const second = await context.newPage();
  await second.goto("/admin/live");
  await expect(second.locator("body[data-hydrated=true]")).toHaveCount(1);
  await expect(second.getByTestId("connection")).toHaveText("Live");

  // Malware copies every cookie (the device cookie too) into a browser of its own, with the
  // same user agent and address: the refresh token alone cannot renew the session...
  const thief = await browser.newContext();
  await thief.addCookies(await context.cookies());
  const stolen = await thief.request.post("/api/auth/refresh");
  expect(stolen.status()).toBe(401);
  expect((await stolen.json()).error).toBe("device_proof_required");
  // ...nor can a page load once the access cookie lapses: the sign-in page finds no key.
  await thief.clearCookies({ name: "__Host-fin_access" });
  const thiefPage = await thief.newPage();
  await thiefPage.goto("/devices");
  await expect(thiefPage).toHaveURL(/\/login\?renew=1/);
  await expect(thiefPage.getByTestId("renewing")).toHaveCount(0);
  await expect(thiefPage.getByLabel("Password")).toBeVisible();
  // The attempt is on the live page at once, blocked, with the copied session's alarm.
  const alarm = second.locator("[data-testid=live-row][data-user=admin][data-event=refresh_unbound]");
  await expect(alarm.first()).toBeVisible();
  await expect(alarm.first()).toContainText("Copied session refused");
  await expect(second.getByTestId("count-reuse")).not.toContainText(/^0/);
  await thief.close();

  const accessCookie = async () =>
    (await context.cookies()).find((c) => c.name === "__Host-fin_access")?.value;
  const initial = await accessCookie();

  // Two lifetimes and more, with both tabs open and idle: the pages renew with the key.
  await first.waitForTimeout(65_000);
  const later = await accessCookie();
  expect(later).toBeTruthy();
  expect(later).not.toBe(initial);

  // Both tabs still work through client-side navigation (server functions, no reload)...
  for (const page of [first, second]) {
    await page.getByRole("link", { name: "Devices" }).click();
    await expect(page).toHaveURL(/\/devices$/);
    await expect(page.locator("[data-testid=session-row][data-current=true]")).toHaveCount(1);
  }
  // ...the renewals proved the key, and none was taken for a replay (a
  // refresh_token_reused alarm would have ended the session).
  await first.goto("/activity?event_type=refresh");
  const refreshes = first.locator("[data-testid=activity-row][data-event=refresh]");
  await expect(refreshes.first()).toBeVisible();
  expect(await refreshes.locator("[data-testid=key-proven]").count()).toBeGreaterThanOrEqual(2);

  // A reload without the access cookie resumes through the sign-in page, which renews
  // with the key and comes back.
  await context.clearCookies({ name: "__Host-fin_access" });
  await first.goto("/devices");
  await expect(first).toHaveURL(/\/devices$/);
  await expect(first.locator("[data-testid=session-row][data-current=true] [data-testid=device-bound]")).toHaveCount(1);
  await context.close();
});
