#!/usr/bin/env python3
"""Exercise a running demo app and check its answers (stdlib only).

Usage: drive.py [BASE_URL]      (default: $DEMO_URL, then http://127.0.0.1:8000)

Exits 0 when every step passed, 1 on the first failure.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime


class Failure(Exception):
    pass


def call(base, method, path, params=None):
    url = base.rstrip("/") + path
    data = None
    if params and method == "GET":
        url += "?" + urllib.parse.urlencode(params)
    elif params:
        data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    except OSError as err:
        raise Failure(f"{method} {path}: {err}") from None
    try:
        payload = json.loads(body)
    except ValueError:
        raise Failure(f"{method} {path}: HTTP {status}, not JSON: {body[:200]!r}") from None
    print(f"{method} {path} -> {status} {json.dumps(payload)}")
    if status >= 400:
        raise Failure(f"{method} {path}: HTTP {status}")
    return payload


def check(cond, message):
    if not cond:
        raise Failure(message)


def drive(base):
    first = call(base, "GET", "/")
    check(first.get("ok") is True, "GET / did not report ok")
    second = call(base, "GET", "/")
    check(second["hits"] > first["hits"], "hit counter did not increase")
    print(f"  hits went {first['hits']} -> {second['hits']}")

    text = f"note from drive.py at {time.time():.0f}"
    note = call(base, "POST", "/notes", {"text": text})
    check(note.get("text") == text, "created note has the wrong text")
    after = call(base, "GET", "/")
    check(after["notes"] == second["notes"] + 1, "note count did not grow by one")
    print(f"  notes went {second['notes']} -> {after['notes']}")

    now = call(base, "GET", "/now")
    parsed = datetime.fromisoformat(now["now"])
    check(parsed.tzinfo is not None, "/now is not timezone-aware")
    print(f"  server time is {parsed.isoformat()}")

    email = "someone@example.test"
    signup = call(base, "POST", "/signup", {"email": email})
    check(signup.get("ok") is True and signup.get("email") == email, "signup failed")
    print(f"  welcome mail sent to {email}")


def main():
    base = (sys.argv[1] if len(sys.argv) > 1 else None) or os.environ.get(
        "DEMO_URL", "http://127.0.0.1:8000"
    )
    print(f"driving {base}")
    try:
        drive(base)
    except (Failure, KeyError, TypeError, ValueError) as err:
        print(f"FAIL: {err}", file=sys.stderr)
        return 1
    print("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
