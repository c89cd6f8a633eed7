"""daytimetcpcli: the book's daytime client (Stevens, figure 1.5).

daytimetcpcli.py SERVER [--port 13] [--report-sockname]
"""

from __future__ import annotations

import argparse
import sys

import unp


def main() -> None:
    parser = argparse.ArgumentParser(usage="daytimetcpcli.py <IPaddress> [--port 13]")
    parser.add_argument("server")
    parser.add_argument("--port", type=int, default=13)
    parser.add_argument(
        "--report-sockname",
        action="store_true",
        help="print the local address and port the kernel chose (getsockname)",
    )
    args = parser.parse_args()
    unp.started()
    sock = unp.Socket(host=args.server)
    unp.Connect(sock, args.server, args.port)
    if args.report_sockname:
        host, port = sock.getsockname()[:2]
        print(f"local address {host}, port {port}", flush=True)
        unp.event("sockname", local=[host, port], peer=list(sock.getpeername()))
    while True:
        try:
            data = sock.recv(unp.MAXLINE)
        except OSError as err:
            unp.err_sys("read", err)
        if not data:
            break
        sys.stdout.write(data.decode(errors="replace"))
        sys.stdout.flush()
    unp.finished(0)


if __name__ == "__main__":
    main()
