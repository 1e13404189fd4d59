#!/usr/bin/env python3
"""A WebSocket client that breaks RFC 6455's rules for clients, one way per
run, and prints the close code the monitor answers with ("none" when it
keeps the connection open past the timeout, "reset" when it drops it).
Usage: rfc6455.py PORT CASE"""
import base64, os, select, socket, struct, sys, time

port, case = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
if b" 101 " not in buf.split(b"\r\n")[0]:
    print("no-upgrade"); sys.exit(1)
buf = buf.split(b"\r\n\r\n", 1)[1]

def frame(opcode, payload, fin=True, mask=True, declared=None):
    n = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if n < 126: head += bytes([m | n])
    elif n < 65536: head += bytes([m | 126]) + struct.pack(">H", n)
    else: head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask: return head + payload
    k = os.urandom(4)
    return head + k + bytes(b ^ k[i % 4] for i, b in enumerate(payload))

def close_code():
    """The close code in what has arrived, or None."""
    global buf
    while len(buf) >= 2:
        op, n = buf[0] & 0x0f, buf[1] & 0x7f
        off = 2
        if n == 126: n, off = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127: n, off = struct.unpack(">Q", buf[2:10])[0], 10
        if len(buf) < off + n: return None
        payload, buf = buf[off:off + n], buf[off + n:]
        if op == 8:
            return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else "empty"
    return None

def pump(pieces):
    """Sends the pieces one by one, stopping at the close (the server may
    close long before the last: its answer must not be lost to a reset)."""
    global buf
    for piece in pieces:
        # a moment between pieces, so that the answer is read before
        # more arrives behind a close (a socket closed with unread data
        # is reset, and what it sent last may be lost)
        r, _, _ = select.select([s], [], [], 0.002)
        if r:
            d = s.recv(65536)
            buf += d
            code = close_code()
            if code is not None or not d:
                print(code if code is not None else "eof"); sys.exit(0)
        s.sendall(piece)

try:
    if case == "utf8":
        s.sendall(frame(1, b"\xc3\x28 not utf-8"))
    elif case == "declared-2^63":
        s.sendall(frame(1, b"x" * 16, declared=2**63 - 1))
    elif case == "declared-4GiB":
        s.sendall(frame(1, b"x" * 16, declared=4 << 30))
    elif case == "16MiB":
        # one frame announcing 16 MiB, its payload masked piece by piece
        key = os.urandom(4)
        head = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", 16 << 20) + key
        piece = bytes(b ^ key[i % 4] for i, b in enumerate(b"y" * 65536))
        pump([head] + [piece] * 256)
    elif case == "fragments":
        pump([frame(1, b"{", fin=False)] + [frame(0, b" " * 16, fin=False)] * 100000)
    elif case == "binary":
        s.sendall(frame(2, b"\x00\x01"))
    elif case == "unmasked":
        s.sendall(frame(1, b'{"type":"replay","from_seq":1}', mask=False))
except (BrokenPipeError, ConnectionResetError):
    pass

deadline = time.time() + 5
s.settimeout(1)
while time.time() < deadline:
    code = close_code()
    if code is not None:
        print(code); sys.exit(0)
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        print("reset"); sys.exit(0)
    if not d:
        print("eof"); sys.exit(0)
    buf += d
print("none")
