#!/usr/bin/env python3
"""A cache client written the way applications use redis-py, run against a
server to check every reply it gets.

    redis_py_cache.py --port P --auth-port Q --password-file F [--protocol 2|3]

--port is a server without a password, --auth-port one that requires the
password on the first line of F. Without --protocol, redis-py picks its own
default (RESP3 since redis-py 8, which opens every connection with HELLO 3).
The script prints each check, and a mismatch as the call, what was expected
and what came back; it exits 1 if anything differed. Every socket operation
has a timeout and redis-py's retries are off, so a server that does not
answer makes the script fail within seconds, never hang.
"""

import argparse
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError
from redis.retry import Retry

# Seconds redis-py waits to connect and for each reply.
SOCKET_TIMEOUT = 5
# Commands in the pipeline check: half SET, half GET.
PIPELINE_PAIRS = 500


class Raised:
    """What a call raised, shown in place of a return value."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return f"raised {type(self.error).__name__}: {self.error}"

    def __eq__(self, other):
        return False


class Checks:
    def __init__(self):
        self.done = 0
        self.failures = []

    def _call(self, fn):
        try:
            return fn()
        except Exception as error:  # a failing call is a result to report
            return Raised(error)

    def _record(self, what, ok, expected, got):
        self.done += 1
        if ok:
            print(f"  ok: {what}")
            return
        self.failures.append(what)
        print(f"  MISMATCH: {what}")
        print(f"    expected: {expected}")
        print(f"    got:      {got!r}")

    def equal(self, what, expected, fn):
        got = self._call(fn)
        self._record(what, got == expected, repr(expected), got)
        return got

    def within(self, what, low, high, fn):
        got = self._call(fn)
        ok = isinstance(got, int) and low <= got <= high
        self._record(what, ok, f"an integer from {low} to {high}", got)

    def raises(self, what, error_type, fn):
        got = self._call(fn)
        ok = isinstance(got, Raised) and isinstance(got.error, error_type)
        self._record(what, ok, f"raises {error_type.__name__}", got)


def pool_for(port, protocol, **extra):
    """A connection pool as an application would configure one."""
    kwargs = dict(
        host="127.0.0.1",
        port=port,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        **extra,
    )
    if protocol is not None:
        kwargs["protocol"] = protocol
    return redis.ConnectionPool(**kwargs)


def expected_default_protocol():
    """RESP3 from redis-py 8 on, RESP2 before."""
    major = int(redis.__version__.split(".")[0])
    return 3 if major >= 8 else 2


def negotiated_protocol(pool):
    conn = pool.get_connection()
    try:
        return conn.get_protocol()
    finally:
        pool.release(conn)


def cache_checks(c, port, protocol):
    pool = pool_for(port, protocol, decode_responses=True, client_name="blink-cache")
    r = redis.Redis(connection_pool=pool)
    want_protocol = protocol or expected_default_protocol()

    c.equal("PING", True, r.ping)
    if c.failures:
        print("  the first command failed; the rest would only repeat it")
        return
    c.equal("the connection speaks the expected RESP version", want_protocol,
            lambda: int(negotiated_protocol(pool)))
    c.equal("CLIENT GETNAME after client_name=", "blink-cache", r.client_getname)
    c.equal("FLUSHDB", True, r.flushdb)

    # Cache entries with a lifetime.
    c.equal("set(user:1, alice, ex=60)", True, lambda: r.set("user:1", "alice", ex=60))
    c.equal("get(user:1)", "alice", lambda: r.get("user:1"))
    c.within("ttl(user:1) right after ex=60", 59, 60, lambda: r.ttl("user:1"))
    c.equal("set(user:2, bob)", True, lambda: r.set("user:2", "bob"))
    c.equal("mget(user:1, user:2, user:404)", ["alice", "bob", None],
            lambda: r.mget(["user:1", "user:2", "user:404"]))
    c.equal("set(user:1, nx=True) on an existing key", None,
            lambda: r.set("user:1", "mallory", nx=True))
    c.equal("set(user:404, xx=True) on a missing key", None,
            lambda: r.set("user:404", "x", xx=True))
    c.equal("set(user:1, alice2, xx=True, get=True) returns the old value", "alice",
            lambda: r.set("user:1", "alice2", xx=True, get=True))
    c.equal("get(user:404)", None, lambda: r.get("user:404"))

    # One round trip for many commands.
    def pipeline():
        pipe = r.pipeline(transaction=False)
        for i in range(PIPELINE_PAIRS):
            pipe.set(f"cache:{i}", f"v{i}")
        for i in range(PIPELINE_PAIRS):
            pipe.get(f"cache:{i}")
        return pipe.execute()

    c.equal(f"pipeline of {2 * PIPELINE_PAIRS} commands (SET then GET)",
            [True] * PIPELINE_PAIRS + [f"v{i}" for i in range(PIPELINE_PAIRS)],
            pipeline)

    # Counters.
    c.equal("incr(hits)", 1, lambda: r.incr("hits"))
    c.equal("incr(hits, 10)", 11, lambda: r.incr("hits", 10))
    c.equal("decr(hits)", 10, lambda: r.decr("hits"))
    c.equal("get(hits)", "10", lambda: r.get("hits"))

    # Transactions: a MULTI/EXEC pipeline, and check-and-set with WATCH
    # (redis-py's transaction() retries on a null EXEC).
    def multi_exec():
        pipe = r.pipeline(transaction=True)
        pipe.set("tx:n", 1).incr("tx:n").get("tx:n").mget("tx:n", "tx:404")
        return pipe.execute()

    c.equal("pipeline(transaction=True): MULTI ... EXEC", [True, 2, "2", ["2", None]],
            multi_exec)

    def check_and_set(pipe):
        n = int(pipe.get("tx:n") or 0)
        pipe.multi()
        pipe.set("tx:n", n + 10)

    c.equal("transaction(fn, watches=tx:n): WATCH ... EXEC", [True],
            lambda: r.transaction(check_and_set, "tx:n"))
    c.equal("get(tx:n) after the check-and-set", "12", lambda: r.get("tx:n"))
    c.equal("delete(tx:n)", 1, lambda: r.delete("tx:n"))

    # Lifetimes.
    c.equal("expire(user:2, 100)", True, lambda: r.expire("user:2", 100))
    c.within("ttl(user:2)", 99, 100, lambda: r.ttl("user:2"))
    c.within("pttl(user:2)", 98_000, 100_000, lambda: r.pttl("user:2"))
    c.equal("persist(user:2)", True, lambda: r.persist("user:2"))
    c.equal("ttl(user:2) after persist", -1, lambda: r.ttl("user:2"))
    c.equal("ttl(user:404)", -2, lambda: r.ttl("user:404"))
    c.equal("expire(user:404, 10)", False, lambda: r.expire("user:404", 10))
    c.equal("set(flash, px=100)", True, lambda: r.set("flash", "x", px=100))
    time.sleep(0.3)
    c.equal("get(flash) 300 ms later", None, lambda: r.get("flash"))

    # Finding keys.
    want = {f"cache:{i}" for i in range(PIPELINE_PAIRS) if str(i).startswith("1")}
    c.equal(f"scan_iter(match='cache:1*') returns exactly the {len(want)} keys", want,
            lambda: set(r.scan_iter(match="cache:1*", count=50)))

    # Removal.
    c.equal("delete(cache:0, cache:1, nosuch)", 2,
            lambda: r.delete("cache:0", "cache:1", "nosuch"))
    c.equal("exists(cache:0, cache:2, cache:3, nosuch)", 2,
            lambda: r.exists("cache:0", "cache:2", "cache:3", "nosuch"))
    c.equal("getdel(user:2)", "bob", lambda: r.getdel("user:2"))

    # Bytes in, the same bytes out.
    raw_pool = pool_for(port, protocol)
    raw = redis.Redis(connection_pool=raw_pool)
    blob = bytes(range(256)) * 4
    c.equal("set(blob, every byte value)", True, lambda: raw.set("blob", blob))
    c.equal("get(blob) returns the same bytes", blob, lambda: raw.get("blob"))
    raw_pool.disconnect()

    # user:1, hits, the pipeline's keys less two, blob.
    c.equal("dbsize", 1 + 1 + (PIPELINE_PAIRS - 2) + 1, r.dbsize)
    pool.disconnect()


def auth_checks(c, port, password, protocol):
    def client(**extra):
        return redis.Redis(connection_pool=pool_for(port, protocol, **extra))

    good = client(password=password, decode_responses=True)
    c.equal("with the password: ping", True, good.ping)
    c.equal("with the password: set", True, lambda: good.set("secret", "s3"))
    c.equal("with the password: get", "s3", lambda: good.get("secret"))
    good.connection_pool.disconnect()
    wrong = client(password="wrong " + password)
    c.raises("a wrong password", AuthenticationError, wrong.ping)
    wrong.connection_pool.disconnect()
    anonymous = client()
    c.raises("no password", AuthenticationError, lambda: anonymous.get("secret"))
    anonymous.connection_pool.disconnect()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth-port", type=int, required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--protocol", type=int, choices=[2, 3])
    args = parser.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.readline().rstrip("\n")

    chosen = args.protocol or f"default, RESP{expected_default_protocol()}"
    print(f"  redis-py {redis.__version__} (protocol: {chosen})")
    c = Checks()
    cache_checks(c, args.port, args.protocol)
    auth_checks(c, args.auth_port, password, args.protocol)
    if c.failures:
        print(f"  {len(c.failures)} of {c.done} redis-py checks differ:")
        for what in c.failures:
            print(f"    - {what}")
        sys.exit(1)
    print(f"  all {c.done} redis-py checks hold")


if __name__ == "__main__":
    main()
