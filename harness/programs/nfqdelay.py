"""nfqdelay: hold each queued packet for a delay (plus jitter), then let it go.

    nfqdelay.py --queue N --delay-ms D [--jitter-ms J] [--no-reorder] [--seed S]
                [--ready-file PATH]

The delay fallback where the kernel has no sch_netem: an xtables rule
(`-j NFQUEUE --queue-num N --queue-bypass`) hands packets to this process in the same network
namespace; it answers NF_ACCEPT when each packet's time has come. It speaks nfnetlink_queue
directly on an AF_NETLINK socket (linux/netfilter/nfnetlink_queue.h), so it needs nothing but
python3 and CAP_NET_ADMIN. Jitter is uniform over [delay - J, delay + J] and, as with netem,
lets packets overtake each other unless --no-reorder is given.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SO_RCVBUFFORCE = 33


def attr(kind: int, payload: bytes) -> bytes:
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + b"\0" * (-len(payload) % 4)


def message(kind: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST) -> bytes:
    nfgen = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue))
    body = nfgen + attrs
    header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, 0, 0)
    return header + body


def attributes(data: bytes) -> dict[int, bytes]:
    found, offset = {}, 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        found[kind & 0x7FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def configure(sock: socket.socket, queue: int) -> None:
    """Bind the queue and ask for metadata only: the verdict needs just the packet id."""
    requests = [
        attr(
            NFQA_CFG_CMD, struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
        ),
        attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0xFFFF, NFQNL_COPY_META)),
        attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 10000)),
    ]
    for request in requests:
        sock.send(message(NFQNL_MSG_CONFIG, queue, request, NLM_F_REQUEST | NLM_F_ACK))
        reply = sock.recv(65536)
        _, kind = struct.unpack_from("=IH", reply)
        if kind == NLMSG_ERROR and struct.unpack_from("=i", reply, 16)[0] != 0:
            code = -struct.unpack_from("=i", reply, 16)[0]
            sys.exit(f"nfqdelay: configuring queue {queue}: {os.strerror(code)}")


def packet_ids(data: bytes) -> list[int]:
    ids, offset = [], 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            found = attributes(data[offset + 20 : offset + length])
            if NFQA_PACKET_HDR in found:
                ids.append(struct.unpack_from("!I", found[NFQA_PACKET_HDR])[0])
        offset += (length + 3) & ~3
    return ids


def accept(sock: socket.socket, queue: int, packet_id: int) -> None:
    sock.send(
        message(
            NFQNL_MSG_VERDICT,
            queue,
            attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)),
        )
    )


class Delayer:
    def __init__(self, delay: float, jitter: float, reorder: bool, seed: int | None) -> None:
        self.delay, self.jitter, self.reorder = delay, jitter, reorder
        self.random = random.Random(seed)
        self.pending: list[tuple[float, int, int]] = []
        self.last_release = 0.0
        self.count, self.total = 0, 0.0

    def hold(self, packet_id: int, now: float) -> None:
        wait = max(0.0, self.delay + self.random.uniform(-self.jitter, self.jitter))
        release = now + wait
        if not self.reorder:
            release = max(release, self.last_release)
        self.last_release = release
        self.count, self.total = self.count + 1, self.total + (release - now)
        heapq.heappush(self.pending, (release, self.count, packet_id))

    def due(self, now: float) -> list[int]:
        ready = []
        while self.pending and self.pending[0][0] <= now:
            ready.append(heapq.heappop(self.pending)[2])
        return ready


def serve(sock: socket.socket, queue: int, delayer: Delayer) -> None:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        now = time.monotonic()
        timeout = max(0.0, delayer.pending[0][0] - now) if delayer.pending else 0.5
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if readable:
            try:
                data = sock.recv(262144)
            except OSError as err:  # ENOBUFS: the kernel dropped messages; keep going
                print(f"nfqdelay: {err}", file=sys.stderr, flush=True)
                continue
            arrived = time.monotonic()
            for packet_id in packet_ids(data):
                delayer.hold(packet_id, arrived)
        for packet_id in delayer.due(time.monotonic()):
            accept(sock, queue, packet_id)
    for _, _, packet_id in sorted(delayer.pending):  # let nothing stay stuck
        accept(sock, queue, packet_id)


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.splitlines()[2].strip())
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--no-reorder", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ready-file", default=None)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    configure(sock, args.queue)
    if args.ready_file:
        with open(args.ready_file, "w") as ready:
            ready.write(f"{os.getpid()}\n")
    print(f"nfqdelay: ready queue {args.queue}", file=sys.stderr, flush=True)
    delayer = Delayer(args.delay_ms / 1000, args.jitter_ms / 1000, not args.no_reorder, args.seed)
    serve(sock, args.queue, delayer)
    mean = delayer.total / delayer.count * 1000 if delayer.count else 0.0
    print(f"nfqdelay: {delayer.count} packets delayed, mean {mean:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
