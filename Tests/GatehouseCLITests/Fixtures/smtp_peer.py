#!/usr/bin/env python3
"""A real SMTP server on loopback (aiosmtpd) for the gateway's mail tests.

It makes itself a certificate for 127.0.0.1 (written to DIR/ca.pem for the gateway to
trust), then serves STARTTLS (required before anything else) or TLS from the first byte,
and AUTH with one login (only over TLS). Each accepted message is written into the maildir
DIR/inbox, with the envelope and how it arrived appended to DIR/envelopes.jsonl.
Prints "listening on PORT" once ready.

- --refuse ADDRESS answers RCPT TO for that address with a permanent 550.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def make_certificate(folder):
    key, cert = os.path.join(folder, "key.pem"), os.path.join(folder, "ca.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=gatehouse test SMTP",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Inbox:
    def __init__(self, folder, refuse, implicit_tls):
        self.folder = folder
        self.implicit_tls = implicit_tls
        self.refuse = set(refuse)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(folder, "inbox", sub), exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 <%s>: no such mailbox here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d.%d.smtp-peer" % (time.time_ns(), os.getpid())
        temporary = os.path.join(self.folder, "inbox", "tmp", name)
        with open(temporary, "wb") as out:
            out.write(envelope.original_content)
        # The envelope first: once a message is visible in new/, so is how it came.
        with open(os.path.join(self.folder, "envelopes.jsonl"), "a") as log:
            log.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "mail_options": envelope.mail_options,
                "tls": session.ssl is not None or self.implicit_tls,
                "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
                "file": name,
            }) + "\n")
        os.rename(temporary, os.path.join(self.folder, "inbox", "new", name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--mode", choices=["starttls", "tls"], default="starttls")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--refuse", action="append", default=[])
    options = parser.parse_args()
    # A parent may start us with SIGTERM blocked (the test runner does); the tests stop us with it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    context = make_certificate(options.dir)
    inbox = Inbox(options.dir, options.refuse, options.mode == "tls")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == options.user.encode()
              and auth_data.password == options.password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def session_factory():
        return SMTP(
            inbox, hostname="smtp-peer.test", decode_data=False,
            tls_context=context if options.mode == "starttls" else None,
            require_starttls=options.mode == "starttls",
            # Over TLS from the first byte aiosmtpd does not know the connection is protected.
            authenticator=authenticator, auth_required=True, auth_require_tls=options.mode == "starttls")

    async def serve():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(session_factory, "127.0.0.1", 0, ssl=context if options.mode == "tls" else None)
        print("listening on %d" % server.sockets[0].getsockname()[1], flush=True)
        await stop.wait()
        server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
