"""Password sign-ins per second against a running heliogate, as browsers make them: each
sign-in loads /login (its pre-login cookie and form token), then posts the form with a right
password and must be answered 303 with a session cookie. Only the post is timed.

    python3 bench/signin.py URL USER PASSWORD CONCURRENCY SECONDS

Prints one line: sign-ins/s, p50/p95/p99 of the post in ms, ok, bad.
"""

import http.client
import re
import sys
import threading
import time
import urllib.parse


def sign_in(host, port, user, password):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/login")
    page = conn.getresponse()
    body = page.read().decode()
    cookie = next(
        (v.split(";")[0] for k, v in page.getheaders() if k.lower() == "set-cookie"), ""
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode(
        {"username": user, "password": password, "csrf_token": token, "next": "/"}
    )
    started = time.perf_counter()
    conn.request(
        "POST",
        "/login",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    answer = conn.getresponse()
    answer.read()
    took = time.perf_counter() - started
    signed = answer.status == 303 and any(
        k.lower() == "set-cookie" and "_session=" in v for k, v in answer.getheaders()
    )
    conn.close()
    return signed, took


def main():
    url, user, password, concurrency, seconds = sys.argv[1:6]
    parsed = urllib.parse.urlsplit(url)
    deadline = time.perf_counter() + float(seconds)
    times, results, lock = [], {"ok": 0, "bad": 0}, threading.Lock()

    def worker():
        while time.perf_counter() < deadline:
            try:
                ok, took = sign_in(parsed.hostname, parsed.port, user, password)
            except Exception:  # a refused or broken answer counts as bad
                ok, took = False, 0.0
            with lock:
                results["ok" if ok else "bad"] += 1
                if ok:
                    times.append(took)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(int(concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    times.sort()

    def pct(p):
        return 1000 * times[min(len(times) - 1, int(p * len(times)))] if times else 0.0

    print(
        f"{results['ok'] / elapsed:.1f} {pct(0.50):.1f} {pct(0.95):.1f} {pct(0.99):.1f} "
        f"{results['ok']} {results['bad']}"
    )


if __name__ == "__main__":
    main()
