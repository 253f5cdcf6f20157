#!/usr/bin/env python3
"""The real endpoint's stand-in for re-signing tests: an HTTPS server (certificate from
test_ca.py) that recomputes each request's AK/SK signature with the official SDK's own
signer (huaweicloudsdkcore.signer) and refuses any mismatch with 401 APIGW.0301, so the
gateway's outbound signing is checked by code nobody here wrote.

Usage: signing_upstream.py --cert server.pem --key server-key.pem --signing signing.json
Prints "listening on https://127.0.0.1:PORT". Accepted calls are answered with what was
received ({"verified": true, "method", "path", "headers"}); a GET of .../<id>/tags answers
env=dev. Every decision is also printed: "verified METHOD PATH" or "refused METHOD PATH: why".
"""
import argparse
import json
import signal
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer


def expected_authorization(credentials, method, target, headers, signed_names, body):
    parts = urlsplit(target)
    signed = {name: headers[name] for name in signed_names}
    request = SdkRequest(method=method, schema="https", host=headers.get("host"), resource_path=parts.path,
                         query_params=parse_qsl(parts.query, keep_blank_values=True), header_params=signed, body=body)
    return Signer(credentials).sign(request).header_params["Authorization"]


class Peer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    credentials = None

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        authorization = headers.get("authorization", "")
        why = None
        try:
            signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
            missing = [name for name in ["host", "x-sdk-date"] if name not in signed_names]
            if missing:
                why = f"not signed: {missing}"
            elif "x-security-token" in headers or "x-auth-token" in headers:
                why = "a caller's credential came through"
            elif expected_authorization(self.credentials, self.command, self.path, headers, signed_names, body) != authorization:
                why = "signature mismatch"
        except (IndexError, KeyError) as error:
            why = f"unreadable Authorization: {error!r}"
        if why:
            print(f"refused {self.command} {self.path}: {why}", flush=True)
            status, answer = 401, {"error_code": "APIGW.0301",
                                   "error_msg": f"Incorrect IAM authentication information: verify aksk signature fail, {why}"}
        elif self.command == "GET" and self.path.endswith("/tags"):
            print(f"verified {self.command} {self.path}", flush=True)
            status, answer = 200, {"tags": [{"key": "env", "value": "dev"}], "page_info": {"current_count": 1}}
        else:
            print(f"verified {self.command} {self.path}", flush=True)
            status, answer = 200, {"verified": True, "method": self.command, "path": self.path,
                                   "headers": [[name, value] for name, value in self.headers.items()]}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


def main():
    # The test runner blocks SIGTERM in its threads, and a child inherits the mask: unblock
    # it, so the test's stop (by PID) ends this server at once.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--signing", required=True)
    options = parser.parse_args()
    signing = json.load(open(options.signing))
    Peer.credentials = BasicCredentials(signing["access_key"], signing["secret_key"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(options.cert, options.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on https://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
