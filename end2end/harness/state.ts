// What global setup hands the tests: where the server is and the admin password it printed.
import * as fs from "node:fs";
import * as path from "node:path";

export const STATE_FILE = path.resolve(__dirname, "..", ".e2e-state", "state.json");

export interface E2eState {
  pid: number;
  baseURL: string;
  adminPassword: string;
  tmp: string;
  // The static bundle (Trunk's dist/): its server's pid, the bundle with the API on its own
  // origin (proxied), and the bundle alone on another origin of the same site.
  bundlePid: number;
  bundleURL: string;
  crossBundleURL: string;
  // The HTTPS front (harness/tls-front.mjs): its pid, address, and the SHA-256 of its
  // certificate's public key, which the DBSC test's Chromium is told to trust.
  tlsPid: number;
  tlsURL: string;
  tlsSpki: string;
}

// A second, ordinary account the step-up test enrols a second factor for (the admin's
// sign-ins stay free of challenges for the other tests).
export const STEPPER = { username: "stepper", password: "second factor passphrase 42" };

// The account the passkey test adds a passkey to.
export const PASSKEYER = { username: "passkeyer", password: "phishing resistant passphrase 7" };

export function readState(): E2eState {
  return JSON.parse(fs.readFileSync(STATE_FILE, "utf8")) as E2eState;
}
