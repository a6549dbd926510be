"""The floor under any fan-out on this machine: one TCP ``send`` of a small frame to each of N loopback sockets.

No server, no Python framework: N connected pairs over 127.0.0.1, then one loop that sends the same
~150-byte frame to each, timed (median of rounds). The receivers are drained between rounds. Every
websocket server (the hub, Centrifugo) pays at least this per socket per event.

With ``--awake-receiver`` (what a real client looks like) the receiving ends belong to another process
that waits in ``epoll`` and reads every frame as it comes, so each send also wakes a waiting process on
the other core — on loopback the kernel does that inside the sender's ``send``.

    .venv/bin/python bench/loopback_send_floor.py --sockets 9000 --rounds 7   # two descriptors a pair: under the 20,000 limit
"""

from __future__ import annotations

import argparse
import os
import resource
import selectors
import socket
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--awake-receiver", action="store_true", help="receivers in another process, in epoll")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    senders, receivers = [], []
    for _ in range(args.sockets):
        client = socket.create_connection(("127.0.0.1", port))
        server, _addr = listener.accept()
        server.setblocking(False)
        client.setblocking(False)
        senders.append(server)
        receivers.append(client)
    frame = b"\x81\x7e\x00\x96" + b"x" * 150
    child = 0
    if args.awake_receiver:
        child = os.fork()
        if child == 0:  # the receiving process: read whatever arrives until every sender is closed
            for sock in senders:
                sock.close()
            selector = selectors.DefaultSelector()
            for sock in receivers:
                selector.register(sock, selectors.EVENT_READ)
            open_count = len(receivers)
            while open_count:
                for key, _ in selector.select(timeout=30):
                    if not key.fileobj.recv(65536):  # type: ignore[union-attr]
                        selector.unregister(key.fileobj)
                        open_count -= 1
            os._exit(0)
        for sock in receivers:
            sock.close()
        receivers = []
    times = []
    for _ in range(args.rounds):
        time.sleep(0.2)
        started = time.perf_counter()
        for sock in senders:
            sock.send(frame)
        times.append(time.perf_counter() - started)
        for sock in receivers:
            sock.recv(65536)
    per = statistics.median(times) / args.sockets * 1e6
    mode = "receiver awake in another process" if args.awake_receiver else "receiver asleep"
    print(
        f"{mode}, {args.sockets} sockets: median {statistics.median(times) * 1000:.1f} ms per round, {per:.1f} µs per send"
    )
    for sock in senders + receivers:
        sock.close()
    if child:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
