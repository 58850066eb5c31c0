#!/usr/bin/env python3
"""Takes one server out of, or puts it back into, an HAProxy backend through the runtime
API socket, with the same commands the Grapevine agent sends.

Usage:
  haproxy_runtime.py SOCKET drain BACKEND/SERVER [DRAIN_TIMEOUT_MS]
  haproxy_runtime.py SOCKET register BACKEND/SERVER IP:PORT
Prints what it changed; exits 1 when HAProxy refuses a command.
"""
import re
import socket
import sys
import time

COMMAND_TIMEOUT_S = 5.0
DRAIN_POLL_S = 0.05
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}/[A-Za-z0-9_.-]{1,64}$")


def send(path, command):
    """One command per connection: HAProxy answers and closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(COMMAND_TIMEOUT_S)
        conn.connect(path)
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode().strip()


def expect(path, command, accepts):
    reply = send(path, command)
    if not accepts(reply):
        sys.exit(f'HAProxy refused "{command}": {reply.splitlines()[0] if reply else "(empty reply)"}')
    return reply


def open_sessions(path, backend, server):
    reply = expect(path, f"show stat {backend} 4 -1", lambda r: r.startswith("# pxname"))
    lines = reply.splitlines()
    columns = lines[0][2:].split(",")
    for line in lines[1:]:
        row = dict(zip(columns, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") == server:
            return int(row.get("scur") or 0) + int(row.get("qcur") or 0)
    return 0


def drain(path, target, timeout_ms):
    backend, server = target.split("/")
    reply = send(path, f"set server {target} state drain")
    if reply.startswith("No such server"):
        print(f"{target} absent")
        return
    if reply != "":
        sys.exit(f'HAProxy refused "set server {target} state drain": {reply.splitlines()[0]}')
    deadline = time.monotonic() + timeout_ms / 1000
    while open_sessions(path, backend, server) > 0 and time.monotonic() < deadline:
        time.sleep(DRAIN_POLL_S)
    expect(path, f"set server {target} state maint", lambda r: r == "")
    print(f"{target} drained")


def register(path, target, address):
    ip, port = address.rsplit(":", 1)
    reply = send(path, f"set server {target} addr {ip} port {port}")
    if reply.startswith("No such server"):
        expect(path, f"add server {target} {address}", lambda r: r.startswith("New server registered"))
    elif not re.match(r"^(IP changed|no need to change)", reply):
        sys.exit(f'HAProxy refused "set server {target} addr": {reply.splitlines()[0] if reply else "(empty reply)"}')
    expect(path, f"set server {target} state ready", lambda r: r == "")
    print(f"{target} ready at {address}")


def main(argv):
    if len(argv) < 4 or argv[2] not in ("drain", "register") or not NAME.match(argv[3]):
        sys.exit(__doc__)
    path, action, target = argv[1], argv[2], argv[3]
    if action == "drain":
        drain(path, target, int(argv[4]) if len(argv) > 4 else 2000)
    elif len(argv) == 5 and re.match(r"^[0-9.]+:[0-9]{1,5}$", argv[4]):
        register(path, target, argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
