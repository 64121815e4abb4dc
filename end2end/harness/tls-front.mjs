// An HTTPS front for the browser suite, as a TLS-terminating reverse proxy (nginx, a load
// balancer) stands before fin-intelli in production: Chromium only registers a DBSC session
// over HTTPS (over plain HTTP, even on localhost, version 156 ignores the registration
// header), so the DBSC test goes through here.
//
// Environment: FIN_E2E_API (http://127.0.0.1:8010), FIN_E2E_TLS_PORT, FIN_E2E_TLS_CERT and
// FIN_E2E_TLS_KEY (a self-signed certificate global setup makes; the test's Chromium trusts
// its public key by hash). Plain Node, no dependencies.
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";

const api = new URL(process.env.FIN_E2E_API ?? "http://127.0.0.1:8010");
const port = Number(process.env.FIN_E2E_TLS_PORT ?? "8013");
const tls = { cert: fs.readFileSync(process.env.FIN_E2E_TLS_CERT), key: fs.readFileSync(process.env.FIN_E2E_TLS_KEY) };

https
  .createServer(tls, (request, response) => {
    // The client's address, as a proxy the server trusts says it (FIN_TRUSTED_PROXIES).
    const headers = { ...request.headers, "x-forwarded-for": request.socket.remoteAddress ?? "127.0.0.1" };
    const upstream = http.request(
      { host: api.hostname, port: api.port, method: request.method, path: request.url, headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", (error) => {
      response.writeHead(502, { "content-type": "text/plain" });
      response.end(String(error));
    });
    request.pipe(upstream);
  })
  .listen(port, "127.0.0.1");
