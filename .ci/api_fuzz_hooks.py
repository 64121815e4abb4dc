"""Schemathesis hooks for `make api-fuzz`: an administrator's access token that outlives the
run, and a few requests with real credentials (see `before_add_examples`).

The run ends the session it is testing with, again and again: `POST /api/auth/logout-all`,
`POST /api/admin/users/{id}/revoke-sessions` and a `compromised` verdict on the admin's own
events all revoke it, after which every protected operation could only be tested for its 401.
So the token comes from this provider, and Schemathesis signs in again (and replays the
request once) whenever a protected operation answers 401.

The sign-ins come from 127.0.0.2, not 127.0.0.1: the fuzzed `POST /api/auth/login` requests
fail from 127.0.0.1 until the per-address throttle answers 429 (as it must), and a re-sign-in
from the same address would be throttled with them. All of 127.0.0.0/8 is this machine.
"""

import http.client
import json
import os

import schemathesis

SERVER = os.environ["API_FUZZ_SERVER"]  # host:port
USERNAME = os.environ["API_FUZZ_USERNAME"]
PASSWORD = os.environ["API_FUZZ_PASSWORD"]
SOURCE = ("127.0.0.2", 0)
REFRESH_COOKIE = "__Secure-fin_refresh"


def sign_in() -> dict:
    """A fresh session of the administrator: the login response, refresh token in the body."""
    host, port = SERVER.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=SOURCE)
    try:
        body = json.dumps({"username": USERNAME, "password": PASSWORD, "refresh_delivery": "body"})
        connection.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"sign-in as {USERNAME} failed: {response.status} {payload[:200]!r}")
    return json.loads(payload)


@schemathesis.auth(refresh_interval=600, retry_on=[401])
class AdminToken:
    def get(self, case, context):
        return sign_in()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_add_examples(context, examples):
    """Requests that succeed, for what generated data cannot reach: random credentials,
    refresh tokens and passwords only ever fail, so without these the sign-in, refresh,
    resume, sign-out and password-change answers (token bodies, cookies, redirects) would
    never be checked against the document."""
    operation = context.operation
    if operation is None:
        return
    add = lambda **case: examples.append(operation.Case(**case))
    target = (operation.method.lower(), operation.path)
    if target == ("post", "/api/auth/login"):
        for delivery in ("body", "cookie"):
            add(body={"username": USERNAME, "password": PASSWORD, "refresh_delivery": delivery}, media_type="application/json")
        add(body={"username": USERNAME, "password": PASSWORD, "grant_type": "password"}, media_type="application/x-www-form-urlencoded")
    elif target == ("post", "/api/auth/refresh"):
        add(body={"refresh_token": sign_in()["refresh_token"]}, media_type="application/json")
        add(body={"refresh_token": sign_in()["refresh_token"]}, media_type="application/x-www-form-urlencoded")
        add(cookies={REFRESH_COOKIE: sign_in()["refresh_token"]})
    elif target == ("get", "/api/auth/resume"):
        add(query={"next": "/devices"}, cookies={REFRESH_COOKIE: sign_in()["refresh_token"]})
    elif target == ("post", "/api/auth/logout"):
        add(body={"refresh_token": sign_in()["refresh_token"]}, media_type="application/json")
        add(cookies={REFRESH_COOKIE: sign_in()["refresh_token"]})
    elif target == ("post", "/api/me/password"):
        # The same password again: the change goes through (and ends every session, which
        # the provider above recovers from) while the sign-ins above keep working. Cases
        # added here do not pass through the provider, so this one brings its own token,
        # marked as configured auth (the `ignored_auth` check would take it for a generated,
        # invalid one).
        case = operation.Case(
            body={"current_password": PASSWORD, "new_password": PASSWORD},
            media_type="application/json",
            headers={"Authorization": f"Bearer {sign_in()['access_token']}"},
        )
        case._has_explicit_auth = True
        examples.append(case)
