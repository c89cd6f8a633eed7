"""tcpservit: the iterative TCP echo server (the course's "TCP Iterative Server").

One client at a time: while it serves one connection, the next client's connection completes
in the kernel's queue, but its lines are not read until the first client leaves.

    tcpservit.py [--port 9877]
"""

from __future__ import annotations

import argparse

import unp


def main() -> None:
    parser = argparse.ArgumentParser(usage="tcpservit.py [--port 9877]")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    args = parser.parse_args()
    unp.started()
    listenfd = unp.Socket(host=unp.wildcard())
    unp.Bind(listenfd, unp.wildcard(), args.port)
    unp.Listen(listenfd, 8)  # the course's LISTENQ
    print("Server running...waiting for connections.", flush=True)
    while True:
        connfd, _ = unp.Accept(listenfd)
        print("Received request...", flush=True)
        while data := connfd.recv(unp.MAXLINE):
            line = data.decode(errors="replace")
            print("String received from and resent to the client:" + line, end="", flush=True)
            connfd.sendall(data)
        unp.event("client_done")
        connfd.close()


if __name__ == "__main__":
    main()
