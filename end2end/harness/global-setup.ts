// Starts a fin-intelli server on a fresh database for the whole browser suite, and hands
// the tests the administrator password the server prints on its first start, exactly as a
// person running `make run` would read it off the console.
//
// Environment:
//   FIN_E2E_BIN           the server binary (default ../target/debug/fin-intelli)
//   FIN_E2E_SITE_ROOT     the built site with /pkg (default ../target/site)
//   FIN_E2E_DATABASE_URL  the database (default: a new SQLite file in a temp directory)
//   FIN_E2E_PORT          the port (default 8010)
//   FIN_E2E_DIST          the static bundle Trunk built (default ../dist, `make csr`)
//   FIN_E2E_BUNDLE_PORT, FIN_E2E_CROSS_BUNDLE_PORT
//                         where harness/static-site.mjs serves it: with the API proxied on
//                         the same origin (default 8011), and alone on another origin of the
//                         same site (default 8012, listed in the server's FIN_CORS_ORIGINS)
//   FIN_E2E_TLS_PORT      the HTTPS front (harness/tls-front.mjs, default 8013), for DBSC
import { execFileSync, spawn } from "node:child_process";
import { X509Certificate, createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { PASSKEYER, STATE_FILE, STEPPER, type E2eState } from "./state";

const root = path.resolve(__dirname, "..", "..");

export default async function globalSetup(): Promise<void> {
  const bin = process.env.FIN_E2E_BIN ?? path.join(root, "target", "debug", "fin-intelli");
  const siteRoot = process.env.FIN_E2E_SITE_ROOT ?? path.join(root, "target", "site");
  const port = process.env.FIN_E2E_PORT ?? "8010";
  const baseURL = `http://127.0.0.1:${port}`;
  process.env.FIN_E2E_BASE_URL = baseURL;
  for (const required of [bin, path.join(siteRoot, "pkg")]) {
    if (!fs.existsSync(required)) {
      throw new Error(`${required} is missing: run \`make site\` first (make test does)`);
    }
  }
  const dist = process.env.FIN_E2E_DIST ?? path.join(root, "dist");
  if (!fs.existsSync(path.join(dist, "index.html"))) {
    throw new Error(`${dist}/index.html is missing: run \`make csr\` first (make test does)`);
  }
  const bundlePort = process.env.FIN_E2E_BUNDLE_PORT ?? "8011";
  const crossBundlePort = process.env.FIN_E2E_CROSS_BUNDLE_PORT ?? "8012";
  const tlsPort = process.env.FIN_E2E_TLS_PORT ?? "8013";
  const bundleURL = `http://127.0.0.1:${bundlePort}`;
  const crossBundleURL = `http://127.0.0.1:${crossBundlePort}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fin-e2e-"));
  const databaseUrl = process.env.FIN_E2E_DATABASE_URL ?? `sqlite:${path.join(tmp, "e2e.db")}`;

  const server = spawn(bin, ["serve"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      DATABASE_URL: databaseUrl,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: siteRoot,
      LEPTOS_ENV: "PROD",
      // Short access tokens, so the suite can watch pages refresh them (the minimum allowed).
      FIN_ACCESS_TTL_SECS: "30",
      // The suite stands in for a reverse proxy: X-Forwarded-For from 127.0.0.1 is believed,
      // so tests can sign in "from" anywhere in the world.
      FIN_TRUSTED_PROXIES: "127.0.0.1/32",
      // The suite's accounts have days, not months, of history, so a far-away sign-in
      // does not reach the production step-up threshold; a low one exercises the flow.
      // Accounts without a second factor are let through (the default policy).
      FIN_RISK_STEP_UP: "0.001",
      // The static bundle served alone on another port: another origin of the same site.
      FIN_CORS_ORIGINS: crossBundleURL,
      // Passkeys need a relying party that is a host name: the passkey test browses
      // http://localhost (a secure context too), the others 127.0.0.1.
      FIN_PUBLIC_URL: `http://localhost:${port}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));

  const adminPassword = await new Promise<string>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no admin password printed within 60 s:\n${seen}`)), 60_000);
    server.stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /password: (\S+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    server.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code} before printing the admin password:\n${seen}`));
    });
  });

  await waitUntilHealthy(baseURL, 30_000);
  await createUser(bin, databaseUrl, STEPPER.username, STEPPER.password);
  await createUser(bin, databaseUrl, PASSKEYER.username, PASSKEYER.password);
  await waitForGeolocation(baseURL, 60_000);

  const bundle = spawn(process.execPath, [path.join(__dirname, "static-site.mjs")], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      FIN_E2E_DIST: dist,
      FIN_E2E_API: baseURL,
      FIN_E2E_BUNDLE_PORT: bundlePort,
      FIN_E2E_CROSS_BUNDLE_PORT: crossBundlePort,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    await waitUntilServing(`${bundleURL}/healthz`, 10_000);
    await waitUntilServing(crossBundleURL, 10_000);
  } catch (error) {
    bundle.kill();
    server.kill();
    throw error;
  }
  bundle.unref();

  // The HTTPS front (harness/tls-front.mjs) with a fresh self-signed certificate; the DBSC
  // test's Chromium trusts exactly its key (`--ignore-certificate-errors-spki-list`).
  const cert = path.join(tmp, "tls.crt");
  const key = path.join(tmp, "tls.key");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], { stdio: "ignore" });
  const spki = new X509Certificate(fs.readFileSync(cert)).publicKey.export({ type: "spki", format: "der" });
  const tlsSpki = createHash("sha256").update(spki).digest("base64");
  const tlsURL = `https://localhost:${tlsPort}`;
  const front = spawn(process.execPath, [path.join(__dirname, "tls-front.mjs")], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", FIN_E2E_API: baseURL, FIN_E2E_TLS_PORT: tlsPort, FIN_E2E_TLS_CERT: cert, FIN_E2E_TLS_KEY: key },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    await waitUntilListening(Number(tlsPort), 10_000);
  } catch (error) {
    for (const child of [front, bundle, server]) child.kill();
    throw error;
  }
  front.unref();

  const state: E2eState = {
    pid: server.pid ?? 0,
    baseURL,
    adminPassword,
    tmp,
    bundlePid: bundle.pid ?? 0,
    bundleURL,
    crossBundleURL,
    tlsPid: front.pid ?? 0,
    tlsURL,
    tlsSpki,
  };
  fs.mkdirSync(path.dirname(STATE_FILE), { recursive: true });
  fs.writeFileSync(STATE_FILE, JSON.stringify(state), { mode: 0o600 });
  server.unref();
}

// The CLI's create-user, on the server's database, as an operator would run it.
async function createUser(bin: string, databaseUrl: string, username: string, password: string): Promise<void> {
  const child = spawn(bin, ["create-user", "--username", username, "--email", `${username}@example.com`, "--password-stdin"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", RUST_LOG: "warn", DATABASE_URL: databaseUrl, FIN_BOOTSTRAP_ADMIN: "false" },
    stdio: ["pipe", "ignore", "inherit"],
  });
  child.stdin.end(`${password}\n`);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`create-user ${username} exited with ${code}`);
}

// Geolocation data loads in the background after start; the place assertions need it.
async function waitForGeolocation(baseURL: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const health = await (await fetch(`${baseURL}/healthz`)).json();
    if (!health.geolocation.loading) {
      if (health.geolocation.city_databases === 0) {
        throw new Error("no geolocation data loaded: run `make geoip` (make e2e does)");
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`geolocation data still loading after ${timeoutMs} ms`);
}

// A URL answering 200: the bundle's server, through its proxy or not.
async function waitUntilServing(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function waitUntilHealthy(baseURL: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${baseURL}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${baseURL} did not become ready within ${timeoutMs} ms`);
}

// A TCP port taking connections (the HTTPS front: fetch would refuse its certificate).
async function waitUntilListening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}
