// Serves the static bundle (Trunk's dist/) for the browser suite, the two ways README's
// "Static bundle" describes:
//
//   FIN_E2E_BUNDLE_PORT        the recommended setup: the bundle and the API on one origin, as
//                              a reverse proxy would do it (API paths forwarded, every other
//                              path a file of dist/ or, for the router's pages, index.html);
//   FIN_E2E_CROSS_BUNDLE_PORT  the bundle alone on another origin of the same site, its
//                              index.html naming the API's origin (`fin-api-origin`), which
//                              the server lists in FIN_CORS_ORIGINS.
//
// Both serve index.html under the Content-Security-Policy README recommends for the bundle
// (the server's own page policy, with the hash of Trunk's one inline script in place of the
// nonce), so the suite shows the bundle works under it.
//
// Environment: FIN_E2E_DIST (the bundle), FIN_E2E_API (http://127.0.0.1:8010), and the two
// ports. Plain Node, no dependencies; started and stopped by global setup and teardown.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

const dist = path.resolve(process.env.FIN_E2E_DIST ?? "dist");
const api = new URL(process.env.FIN_E2E_API ?? "http://127.0.0.1:8010");

// What a reverse proxy sends to fin-intelli: the API and server functions, the CSV export,
// the public keys and the health check (README's nginx snippet lists the same).
const API_PATHS = [/^\/api(\/|$)/, /^\/admin\/activity\.csv$/, /^\/\.well-known\//, /^\/healthz$/];

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

function proxy(request, response) {
  const upstream = http.request(
    {
      host: api.hostname,
      port: api.port,
      method: request.method,
      path: request.url,
      headers: {
        ...request.headers,
        "x-forwarded-for": request.socket.remoteAddress ?? "127.0.0.1",
        "x-forwarded-proto": "http",
      },
    },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on("error", () => {
    response.writeHead(502, { "content-type": "application/json" });
    response.end('{"error":"bad_gateway","message":"fin-intelli is not answering"}');
  });
  request.pipe(upstream);
}

// The policy for index.html; `connect` is where the page may fetch from.
function policy(html, connect) {
  const script = /<script type="module">([\s\S]*?)<\/script>/.exec(html);
  if (!script) throw new Error("index.html has no inline module script");
  const hash = createHash("sha256").update(script[1]).digest("base64");
  return (
    `default-src 'self'; script-src 'self' 'sha256-${hash}' 'wasm-unsafe-eval'; ` +
    "style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; " +
    `connect-src ${connect}; font-src 'self'; object-src 'none'; base-uri 'none'; ` +
    "form-action 'self'; frame-ancestors 'none'"
  );
}

function serveFile(request, response, indexHtml, csp) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" });
    response.end();
    return;
  }
  let pathname = "/";
  try {
    pathname = decodeURIComponent(new URL(request.url ?? "/", "http://bundle").pathname);
  } catch {
    // not a path of any file: the app's not-found page
  }
  const file = path.join(dist, pathname);
  const inside = file.startsWith(dist + path.sep);
  if (inside && path.basename(file) !== "index.html" && fs.existsSync(file) && fs.statSync(file).isFile()) {
    response.writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "cache-control": "public, max-age=31536000, immutable",
    });
    if (request.method === "GET") fs.createReadStream(file).pipe(response);
    else response.end();
    return;
  }
  // Everything else is a page of the app: index.html, and the router takes it from there.
  response.writeHead(200, {
    "content-type": TYPES[".html"],
    "cache-control": "no-cache",
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  response.end(request.method === "GET" ? indexHtml : undefined);
}

const index = fs.readFileSync(path.join(dist, "index.html"), "utf8");
const META = /<meta name="fin-api-origin" content="[^"]*"/;
if (!META.test(index)) throw new Error(`${dist}/index.html has no fin-api-origin meta tag`);

const sameOrigin = http.createServer((request, response) => {
  if (API_PATHS.some((p) => p.test((request.url ?? "/").split("?")[0]))) proxy(request, response);
  else serveFile(request, response, index, sameOriginPolicy);
});
const sameOriginPolicy = policy(index, "'self'");
const crossIndex = index.replace(META, `<meta name="fin-api-origin" content="${api.origin}"`);
const crossPolicy = policy(crossIndex, `'self' ${api.origin}`);
const crossOrigin = http.createServer((request, response) => serveFile(request, response, crossIndex, crossPolicy));

sameOrigin.listen(Number(process.env.FIN_E2E_BUNDLE_PORT ?? "8011"), "127.0.0.1");
crossOrigin.listen(Number(process.env.FIN_E2E_CROSS_BUNDLE_PORT ?? "8012"), "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
