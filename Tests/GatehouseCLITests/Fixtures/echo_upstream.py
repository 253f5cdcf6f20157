#!/usr/bin/env python3
"""A loopback HTTP/1.1 server that answers every call with what it received, so gateway
tests can check exactly what was forwarded. Prints "listening on http://127.0.0.1:PORT".

- a GET of .../<id>/tags answers by the ID's prefix, for the gateway's tag lookups:
  "tags-ok" 200 with env=dev, "tags-case" 200 with protected=true and Protected=no,
  "tags-bad" 200 with a body that is no tag list, "tags-paged" 200 with a next_marker,
  "tags-gone" 404; an ID given as "--tags ID=KEY:VALUE" (repeatable) 200 with that tag;
  any other path ending in /tags answers 500 (the gateway must then deny calls that need
  tags);
- an "X-Test-Sleep: SECONDS" header delays the answer (upstream timeouts), after printing
  "holding <path>", so a test can wait for the call to be in flight;
- a request without Host answers 400, as nginx does (HTTP/1.1 requires it);
- an "X-Test-Size: BYTES" header answers a body of that many bytes (a large answer);
- "X-Test-Framing: chunked" sends the answer in chunks, "X-Test-Framing: close" without a
  length, ending it by closing the connection.
"""
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle the body waits for the gateway's
    # delayed ACK (40 ms a call).
    disable_nagle_algorithm = True

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        delay = float(self.headers.get("X-Test-Sleep") or 0)
        if delay:
            print(f"holding {self.path}", flush=True)
            time.sleep(delay)
        if not self.headers.get("Host"):
            status, answer = 400, {"error_code": "Test.400", "error_msg": "no Host header"}
        elif self.headers.get("X-Test-Size"):
            size = int(self.headers["X-Test-Size"])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            for start in range(0, size, len(chunk)):
                self.wfile.write(chunk[: min(len(chunk), size - start)])
            return
        elif self.path.endswith("/tags"):
            resource = self.path.rsplit("/", 2)[-2]
            status, answer = 500, {"error_code": "Test.500", "error_msg": "tags are broken here"}
            if resource in GIVEN_TAGS:
                key, value = GIVEN_TAGS[resource]
                status, answer = 200, {"tags": [{"key": key, "value": value}], "page_info": {"current_count": 1}}
            elif resource.startswith("tags-ok"):
                status, answer = 200, {"tags": [{"key": "env", "value": "dev"}], "page_info": {"current_count": 1}}
            elif resource.startswith("tags-case"):
                status, answer = 200, {"tags": [{"key": "Protected", "value": "no"}, {"key": "protected", "value": "true"}]}
            elif resource.startswith("tags-bad"):
                status, answer = 200, {"items": []}
            elif resource.startswith("tags-paged"):
                status, answer = 200, {"tags": [{"key": "env", "value": "dev"}], "page_info": {"next_marker": "tags-paged-2", "current_count": 1}}
            elif resource.startswith("tags-gone"):
                status, answer = 404, {"error_code": "Organizations.1010", "error_msg": "not found"}
        else:
            status = 200
            answer = {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("utf-8", "replace"),
            }
        data = json.dumps(answer).encode()
        framing = self.headers.get("X-Test-Framing")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        if framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(data), 7):
                piece = data[start : start + 7]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: dropped\r\n\r\n")
        elif framing == "close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


# A parent may start us with SIGTERM blocked (the test runner does); the tests stop us with it.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

GIVEN_TAGS = {}
for index, argument in enumerate(sys.argv[1:-1], start=1):
    if argument == "--tags":
        resource, tag = sys.argv[index + 1].split("=", 1)
        GIVEN_TAGS[resource] = tuple(tag.split(":", 1))
server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
