#!/usr/bin/env python3
"""redis-py's transactions and numbered databases, as applications use them.

    redis_py_features.py --port P pipeline|transaction|database

pipeline: redis-py's default pipeline(), which wraps its commands in
MULTI ... EXEC. transaction: transaction() with WATCH, retried when another
client writes the watched key, and a WatchError seen by hand.
database: Redis(db=3), which sends SELECT 3 on every new connection, and
what it does and does not share with database 0; then a client made from a
URL whose path names database 2 (redis://127.0.0.1:P/2).
"""

import redis

from common import CONNECTION_OPTIONS, client, main, show, within


def pipeline(port):
    r = client(port)
    pipe = r.pipeline()
    pipe.set("page:views", 0).incr("page:views").incrby("page:views", 10)
    pipe.get("page:views").expire("page:views", 60)
    show("pipeline() of set, incr, incrby, get, expire", pipe.execute)
    show("ttl(page:views) in 59..60", lambda: within(59, 60, r.ttl("page:views")))

    # A command that fails inside MULTI fails alone: EXEC runs the others.
    with r.pipeline() as pipe:
        pipe.set("name", "blink").incr("name").get("name")
        show("pipeline() with a failing incr, raise_on_error=False",
             lambda: [type(x).__name__ if isinstance(x, Exception) else x
                      for x in pipe.execute(raise_on_error=False)])
    with r.pipeline() as pipe:
        pipe.set("name", "blink2").incr("name")
        show("the same pipeline, raising", pipe.execute)
    show("get(name) after it: the set ran", lambda: r.get("name"))

    # A pipeline reset before execute() sends nothing.
    with r.pipeline() as pipe:
        pipe.set("never", "sent")
        pipe.reset()
    show("exists(never) after reset()", lambda: r.exists("never"))


def transaction(port):
    r = client(port)
    other = client(port)
    r.set("balance", 100)

    def debit(pipe):
        balance = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", balance - 30)
        pipe.incr("debits")

    show("transaction(debit, 'balance')", lambda: r.transaction(debit, "balance"))
    show("get(balance)", lambda: r.get("balance"))

    # Another client writes the watched key between WATCH and EXEC: EXEC
    # aborts, and transaction() runs the function again.
    attempts = 0

    def raced_debit(pipe):
        nonlocal attempts
        attempts += 1
        balance = int(pipe.get("balance"))
        if attempts == 1:
            other.incrby("balance", 5)
        pipe.multi()
        pipe.set("balance", balance - 30)

    show("transaction() raced by another client", lambda: r.transaction(raced_debit, "balance"))
    show("attempts", lambda: attempts)
    show("get(balance)", lambda: r.get("balance"))

    # The same by hand: the aborted EXEC is a WatchError.
    with r.pipeline() as pipe:
        pipe.watch("balance")
        show("get(balance) while watching", lambda: pipe.get("balance"))
        other.set("balance", 1000)
        pipe.multi()
        pipe.set("balance", 0)
        show("execute() after another client's set", pipe.execute)
    show("get(balance)", lambda: r.get("balance"))

    # UNWATCH forgets the watched keys: the next EXEC runs.
    with r.pipeline() as pipe:
        pipe.watch("balance")
        pipe.unwatch()
        other.set("balance", 2000)
        pipe.multi()
        pipe.incrby("balance", 1)
        show("execute() after unwatch()", pipe.execute)

    # A watched key that is only read, by anyone, does not abort.
    with r.pipeline() as pipe:
        pipe.watch("balance", "debits")
        other.get("balance")
        pipe.multi()
        pipe.get("debits")
        show("execute() when the watched keys were only read", pipe.execute)


def database(port):
    db3 = client(port, db=3)
    db0 = client(port)
    show("Redis(db=3).set(session, in-db-3)", lambda: db3.set("session", "in-db-3"))
    show("Redis(db=3).get(session)", lambda: db3.get("session"))
    show("Redis(db=0).get(session)", lambda: db0.get("session"))
    show("Redis(db=0).set(session, in-db-0)", lambda: db0.set("session", "in-db-0"))
    show("Redis(db=3).get(session)", lambda: db3.get("session"))
    show("Redis(db=3).dbsize()", db3.dbsize)
    show("Redis(db=3).set(cart, 2 items)", lambda: db3.set("cart", "2 items"))
    show("Redis(db=3).dbsize() with cart", db3.dbsize)
    show("Redis(db=0).dbsize()", db0.dbsize)
    show("Redis(db=0).exists(cart)", lambda: db0.exists("cart"))
    # A new connection of the pool selects database 3 again.
    db3.connection_pool.disconnect()
    show("Redis(db=3).get(session) on a new connection", lambda: db3.get("session"))
    show("Redis(db=3).flushdb()", db3.flushdb)
    show("Redis(db=3).dbsize() after flushdb", db3.dbsize)
    show("Redis(db=0).get(session) after db 3's flushdb", lambda: db0.get("session"))

    # The path of a redis:// URL is the database number.
    url = redis.Redis.from_url(
        f"redis://127.0.0.1:{port}/2", decode_responses=True, **CONNECTION_OPTIONS
    )
    db2 = client(port, db=2)
    show("from_url(redis://127.0.0.1:P/2).get(session)", lambda: url.get("session"))
    show("from_url(redis://127.0.0.1:P/2).set(session, in-db-2)",
         lambda: url.set("session", "in-db-2"))
    show("Redis(db=2).get(session)", lambda: db2.get("session"))
    show("Redis(db=0).get(session)", lambda: db0.get("session"))
    show("from_url(redis://127.0.0.1:P/2).dbsize()", url.dbsize)
    for r in (db3, db0, db2, url):
        r.connection_pool.disconnect()


CHECKS = {"pipeline": pipeline, "transaction": transaction, "database": database}

if __name__ == "__main__":
    main(CHECKS)
