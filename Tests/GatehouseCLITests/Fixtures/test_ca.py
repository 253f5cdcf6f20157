#!/usr/bin/env python3
"""Makes a throwaway certificate authority and a server certificate it signed, for
127.0.0.1 and localhost, into a folder: ca.pem, server.pem (the chain: server, then CA),
server-key.pem. Usage: test_ca.py FOLDER [NAME]. The tests trust ca.pem only.
"""
import os
import subprocess
import sys


def run(*args):
    subprocess.run(list(args), check=True, capture_output=True)


def main():
    folder = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "server"
    os.makedirs(folder, exist_ok=True)
    path = lambda file: os.path.join(folder, file)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if not os.path.exists(path("ca.pem")):
        run("openssl", "req", "-x509", *curve, "-keyout", path("ca-key.pem"), "-out", path("ca.pem"), "-days", "2",
            "-subj", "/CN=Gatehouse test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", *curve, "-keyout", path(f"{name}-key.pem"), "-out", path(f"{name}.csr"), "-subj", f"/CN=gatehouse test {name}")
    with open(path(f"{name}.ext"), "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", path(f"{name}.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
        "-CAcreateserial", "-out", path(f"{name}-leaf.pem"), "-days", "2", "-extfile", path(f"{name}.ext"))
    with open(path(f"{name}.pem"), "w") as chain:
        chain.write(open(path(f"{name}-leaf.pem")).read() + open(path("ca.pem")).read())
    os.chmod(path(f"{name}-key.pem"), 0o600)


if __name__ == "__main__":
    main()
