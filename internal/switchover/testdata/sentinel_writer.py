"""A Sentinel-aware writer in another language: redis-py's Sentinel client.

Usage: sentinel_writer.py MASTER_NAME PASSWORD PREFIX SENTINEL_ADDR...

Writes PREFIX:N = N for N = 0, 1, ... through redis-py's master_for(), one
write at a time, with 0.5 s timeouts and no retry (redis-py's default), and
prints one line per write:

    ack N            the write was acknowledged
    reply N MESSAGE  Redis refused it with an error reply
    conn N MESSAGE   the connection broke, closed or timed out

It stops when its standard input is closed. redis-py turns a READONLY reply
on a connection to the master into ConnectionError("The previous master is
now a slave"), and LOADING into BusyLoadingError (a ConnectionError): both
are counted as replies here, since Redis did answer with an error.
"""

import sys
import threading
import time

import redis
from redis.sentinel import Sentinel


def kind(err):
    if isinstance(err, (redis.exceptions.BusyLoadingError,
                        redis.exceptions.AuthenticationError,
                        redis.exceptions.ResponseError)):
        return "reply"
    if isinstance(err, redis.exceptions.ConnectionError) and "previous master is now a slave" in str(err):
        return "reply"
    return "conn"


def main():
    name, password, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    sentinels = []
    for addr in sys.argv[4:]:
        host, port = addr.rsplit(":", 1)
        sentinels.append((host, int(port)))
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    timeouts = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    sentinel = Sentinel(sentinels, sentinel_kwargs=dict(password=password, **timeouts), **timeouts)
    master = sentinel.master_for(name, password=password, **timeouts)
    n = 0
    while not stop.is_set():
        try:
            master.set(f"{prefix}:{n}", n)
            line = f"ack {n}"
        except (redis.RedisError, OSError) as err:
            message = " ".join(f"{type(err).__name__}: {err}".split())
            line = f"{kind(err)} {n} {message}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        n += 1
        time.sleep(0.001)


if __name__ == "__main__":
    main()
