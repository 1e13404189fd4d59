#!/usr/bin/env python3
"""A control-socket client for the monitor's tests and benchmark.

    control.py STATE_DIR synthetic COUNT RATE   asks mcpvisord for COUNT
                                                synthetic events at RATE/s
    control.py STATE_DIR pings SECONDS          pings mcpvisord for SECONDS,
                                                one at a time, and prints
                                                the round trips (ms) as JSON
"""
import json
import socket
import struct
import sys
import time

FRAME_REQUEST, FRAME_RESPONSE = 32, 33


def connect(state_dir):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(state_dir + "/control.sock")
    return s


def request(s, obj):
    body = json.dumps(obj).encode()
    s.sendall(b"MV\x01" + bytes([FRAME_REQUEST]) + struct.pack(">I", len(body))
              + body)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("mcpvisord closed the socket")
        buf += chunk
    return buf


def response(s):
    while True:
        hdr = read_exact(s, 8)
        length = struct.unpack(">I", hdr[4:])[0]
        body = read_exact(s, length)
        if hdr[3] == FRAME_RESPONSE:
            return json.loads(body)


def main():
    state_dir, verb = sys.argv[1], sys.argv[2]
    s = connect(state_dir)
    if verb == "synthetic":
        request(s, {"verb": "synthetic_events", "count": int(sys.argv[3]),
                    "rate": int(sys.argv[4])})
        r = response(s)
        sys.exit(0 if r.get("ok") else 1)
    rtts = []
    end = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < end:
        t = time.perf_counter()
        request(s, {"verb": "ping"})
        response(s)
        rtts.append((time.perf_counter() - t) * 1000)
        time.sleep(0.002)
    rtts.sort()
    print(json.dumps({"pings": len(rtts),
                      "p50_ms": rtts[len(rtts) // 2],
                      "p99_ms": rtts[min(len(rtts) - 1, int(len(rtts) * .99))],
                      "max_ms": rtts[-1]}))


if __name__ == "__main__":
    main()
