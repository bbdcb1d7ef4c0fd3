#!/usr/bin/env python3
"""redis-py's client-side caching, as applications use it.

    redis_py_caching.py --port P cache|own_writes|two_caches|client_info

A caching client is Redis(protocol=3, cache_config=CacheConfig()): it
turns CLIENT TRACKING on for each of its connections, answers a read it has
answered before from its own cache, and drops a cached reply when the
server pushes an invalidation for its key.

redis-py enables its cache only with a server whose HELLO says "redis" and
a version from 7.4 on. redis-server 7.0 (whose answers the expected output
records) and Blink-Store (which says "blink-store") are both refused, which
each check shows first; then it tells redis-py to accept the name and
version the server reports, and goes on with the cache as it is.

cache: GET twice, the second answered from the cache (the server's
keyspace_hits, read on another connection, counts one read), while the
server notes the keys it must tell of (tracking_total_keys); another
client's SET, DEL and FLUSHALL, each seen by the caching client's next
reads once the invalidation arrives, and a key it was not told of kept;
then, after another client's SET and a PING (whose reply comes after the
SET's invalidation), a read that is cached again.
own_writes: the caching client's own SET then GET, many times: the
invalidation of its own write must be read before its next command, or the
GET answers from the cache with the value the SET replaced. two_caches:
another client's write, acknowledged before the caching client sends its
next command (a PING), many times, by a client that does not track and by
one that caches too: the invalidation must come before the PING's reply,
so the read after it is never answered with the old value. client_info:
what CLIENT TRACKINGINFO, CLIENT GETREDIR, CLIENT INFO and CLIENT LIST
report of a tracking connection, in default mode and in BCAST mode.

An invalidation caused by another client travels on its own: the caching
client sees it when it arrives, so those checks read again until the value
changes, for at most INVALIDATION_WAIT seconds, and print how that ended,
never how many reads it took.
"""

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from redis.cache import CacheConfig
from redis.connection import CacheProxyConnection

from common import client, main, show

# Seconds a caching client keeps reading a key another client changed
# before the check gives up: an invalidation arrives within milliseconds on
# loopback, so this bound is only reached when none comes.
INVALIDATION_WAIT = 2
# Seconds between two of those reads.
POLL_INTERVAL = 0.01
# How many times own_writes writes then reads a key, and two_caches
# writes, pings and reads.
OWN_WRITES = 1000
# How many caching clients two_caches runs at once, each with its writer
# in a process of its own.
TWO_CACHES_PAIRS = 4


def caching_client(port):
    return client(port, protocol=3, cache_config=CacheConfig())


def refused_then_accepted(port):
    """Shows redis-py refusing to cache with this server, then makes it
    accept the server's name and version (class attributes of redis-py's
    caching connection, read when a connection opens)."""
    show("Redis(protocol=3, cache_config=CacheConfig()).ping(), as redis-py is",
         lambda: caching_client(port).ping())
    plain = client(port, protocol=3)
    hello = plain.execute_command("HELLO", "3")
    plain.connection_pool.disconnect()
    CacheProxyConnection.DEFAULT_SERVER_NAME = hello["server"]
    CacheProxyConnection.MIN_ALLOWED_VERSION = hello["version"]


def until_changed(read, old):
    """Reads until the result is not old, for at most INVALIDATION_WAIT
    seconds, and says how that ended."""
    deadline = time.monotonic() + INVALIDATION_WAIT
    while True:
        value = read()
        if value != old:
            return ("changed to", value)
        if time.monotonic() >= deadline:
            return (f"still the same after {INVALIDATION_WAIT} s", value)
        time.sleep(POLL_INTERVAL)


def cached(r):
    """What the client's cache holds: each entry's command, keys and
    state."""
    return sorted(
        (key.command, key.redis_keys, entry.status.name)
        for key, entry in r.get_cache().collection.items()
    )


def cache(port):
    refused_then_accepted(port)
    r = caching_client(port)
    other = client(port, protocol=3)

    def stats(name):
        return other.info("stats")[name]

    show("another client's mset(user:1 alice, user:2 bob)",
         lambda: other.mset({"user:1": "alice", "user:2": "bob"}))
    hits = stats("keyspace_hits")
    show("get(user:1)", lambda: r.get("user:1"))
    show("get(user:1) again", lambda: r.get("user:1"))
    show("get(user:2)", lambda: r.get("user:2"))
    show("reads the server answered (keyspace_hits)", lambda: stats("keyspace_hits") - hits)
    show("the cache holds", lambda: cached(r))
    show("keys the server tracks (tracking_total_keys)",
         lambda: stats("tracking_total_keys"))

    show("another client's set(user:1, carol)", lambda: other.set("user:1", "carol"))
    show("get(user:1) until it changes", lambda: until_changed(lambda: r.get("user:1"), "alice"))
    hits = stats("keyspace_hits")
    show("get(user:1) and get(user:2) after it",
         lambda: [r.get("user:1"), r.get("user:2")])
    show("reads the server answered (keyspace_hits)", lambda: stats("keyspace_hits") - hits)
    show("the cache holds", lambda: cached(r))

    show("another client's delete(user:1)", lambda: other.delete("user:1"))
    show("get(user:1) until it changes", lambda: until_changed(lambda: r.get("user:1"), "carol"))
    show("get(user:2)", lambda: r.get("user:2"))
    # A reply of nil is not cached.
    show("the cache holds", lambda: cached(r))

    show("another client's flushall()", other.flushall)
    show("get(user:2) until it changes", lambda: until_changed(lambda: r.get("user:2"), "bob"))
    show("the cache holds", lambda: cached(r))
    show("keys the server tracks (tracking_total_keys)",
         lambda: stats("tracking_total_keys"))
    show("another client's set(user:2, dave)", lambda: other.set("user:2", "dave"))
    # The set's invalidation is on its way to this client, ahead of any
    # reply to what the client sends next, but it may not have arrived: a
    # GET sent first would be answered after it, and redis-py drops a
    # reply whose key was invalidated while it was awaited. A PING's reply
    # comes after the invalidation, so the GET after it is cached.
    show("ping(), answered after the invalidation", lambda: r.ping())
    show("get(user:2)", lambda: r.get("user:2"))
    show("the cache holds", lambda: cached(r))
    for c in (r, other):
        c.connection_pool.disconnect()


def own_writes(port):
    refused_then_accepted(port)
    r = caching_client(port)

    # Each SET invalidates the GET cached by the round before; that
    # invalidation comes back on the caching connection itself, after the
    # SET's reply, and redis-py reads what has arrived before it sends its
    # next command.
    def stale_reads():
        stale = 0
        for i in range(OWN_WRITES):
            r.set("counter", i)
            if r.get("counter") != str(i):
                stale += 1
        return stale

    show(f"set(counter, i) then get(counter), {OWN_WRITES} times: stale reads",
         stale_reads)
    show("delete(counter) then get(counter)",
         lambda: [r.delete("counter"), r.get("counter")])
    show("the cache holds", lambda: cached(r))
    r.connection_pool.disconnect()


def stale_after_ping(port, tracking_writer, pair):
    """two_caches's rounds for one caching client and its writer, with a
    key of their own: how many reads after the PING were stale."""
    r = caching_client(port)
    writer = caching_client(port) if tracking_writer else client(port, protocol=3)
    key = f"shared:{pair}"
    stale = 0
    for i in range(OWN_WRITES):
        r.get(key)
        writer.set(key, i)
        r.ping()
        if r.get(key) != str(i):
            stale += 1
    for c in (r, writer):
        c.connection_pool.disconnect()
    return stale


def two_caches(port):
    refused_then_accepted(port)

    # Redis queues an invalidation while the write runs, before the
    # writer's reply; a command the caching client sends once the writer
    # has its reply therefore gets its answer after the invalidation, and
    # redis-py reads the invalidation on the way. The rounds run in
    # TWO_CACHES_PAIRS processes at once (forked, so each has redis-py as
    # refused_then_accepted left it), each pair with a key of its own, so
    # that the server runs them side by side as it runs a busy
    # application's connections.
    def all_pairs(tracking_writer):
        with ProcessPoolExecutor(TWO_CACHES_PAIRS, mp_context=get_context("fork")) as pool:
            counts = pool.map(stale_after_ping, [port] * TWO_CACHES_PAIRS,
                              [tracking_writer] * TWO_CACHES_PAIRS, range(TWO_CACHES_PAIRS))
            return sum(counts)

    for tracking_writer, name in ((False, "a client that does not track"),
                                  (True, "another caching client")):
        show(f"get(key), {name}'s set(key, i), ping(), get(key), "
             f"{OWN_WRITES} times in each of {TWO_CACHES_PAIRS} processes: stale reads",
             lambda tracking_writer=tracking_writer: all_pairs(tracking_writer))


def client_info(port):
    refused_then_accepted(port)
    r = caching_client(port)
    other = client(port, protocol=3)

    def seen(c):
        """A connection's flags and redirect, from its own CLIENT INFO
        and from another connection's CLIENT LIST."""
        me = c.client_info()
        listed = [e for e in other.client_list() if e["id"] == str(me["id"])]
        return {
            "client_info()": (me["flags"], me["redir"]),
            "another client's client_list()": [(e["flags"], e["redir"]) for e in listed],
        }

    show("get(user:1)", lambda: r.get("user:1"))
    show("client_trackinginfo()", r.client_trackinginfo)
    show("client_getredir()", r.client_getredir)
    show("flags and redir", lambda: seen(r))
    show("tracking_clients", lambda: other.info("clients")["tracking_clients"])

    # A plain RESP3 client that tracks in BCAST mode, then stops.
    bcast = client(port, protocol=3)
    show("client_tracking_on(bcast=True, prefix=[user:])",
         lambda: bcast.client_tracking_on(bcast=True, prefix=["user:"]))
    show("client_trackinginfo()", bcast.client_trackinginfo)
    show("flags and redir", lambda: seen(bcast))
    show("client_tracking_off()", bcast.client_tracking_off)
    show("client_trackinginfo()", bcast.client_trackinginfo)
    show("flags and redir", lambda: seen(bcast))
    for c in (r, other, bcast):
        c.connection_pool.disconnect()


CHECKS = {
    "cache": cache,
    "own_writes": own_writes,
    "two_caches": two_caches,
    "client_info": client_info,
}

if __name__ == "__main__":
    main(CHECKS)
