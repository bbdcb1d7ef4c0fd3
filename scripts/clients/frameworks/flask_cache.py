#!/usr/bin/env python3
"""Flask-Caching's RedisCache, as a Flask application configures and uses it.

    flask_cache.py --port P db0|db2

db0 uses the default database; db2 sets CACHE_REDIS_DB=2, so every
connection sends SELECT 2, and checks that the cache's keys stay out of
database 0. Both go through the cache's own API (set, add, get_many,
set_many, inc, dec, has, delete_many, clear) and its decorators (a view
cached with @cache.cached, a function with @cache.memoize).
"""

from common import CONNECTION_OPTIONS, client, main, show, within

from flask import Flask
from flask_caching import Cache


def flask_cache(port, db):
    app = Flask(__name__)
    cache = Cache(
        app,
        config={
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_HOST": "127.0.0.1",
            "CACHE_REDIS_PORT": port,
            "CACHE_REDIS_DB": db,
            "CACHE_DEFAULT_TIMEOUT": 300,
            "CACHE_OPTIONS": CONNECTION_OPTIONS,
        },
    )
    r = client(port, db=db)
    renders = []

    @app.route("/report")
    @cache.cached(timeout=60)
    def report():
        renders.append(1)
        return f"report #{len(renders)}"

    @cache.memoize(timeout=60)
    def square(n):
        renders.append(n)
        return n * n

    with app.app_context():
        show("set(user, a dict)", lambda: cache.set("user", {"name": "alice"}))
        show("get(user)", lambda: cache.get("user"))
        show("ttl(flask_cache_user) in 299..300",
             lambda: within(299, 300, r.ttl("flask_cache_user")))
        show("add(user, other)", lambda: cache.add("user", "other"))
        show("add(fresh, yes, timeout=60)", lambda: cache.add("fresh", "yes", timeout=60))
        show("ttl(flask_cache_fresh) in 59..60",
             lambda: within(59, 60, r.ttl("flask_cache_fresh")))
        show("set_many(a, b)", lambda: cache.set_many({"a": 1, "b": [2, 3]}))
        show("get_many(a, b, nope)", lambda: cache.get_many("a", "b", "nope"))
        # Counters are the backend's own: Cache has no inc() of its own.
        show("cache.inc(counter)", lambda: cache.cache.inc("counter"))
        show("cache.inc(counter, 5)", lambda: cache.cache.inc("counter", 5))
        show("cache.dec(counter, 2)", lambda: cache.cache.dec("counter", 2))
        show("get(counter)", lambda: cache.get("counter"))
        show("has(counter)", lambda: cache.has("counter"))
        show("delete_many(a, b, nope)", lambda: cache.delete_many("a", "b", "nope"))
        show("has(a)", lambda: cache.has("a"))

        web = app.test_client()
        show("GET /report", lambda: web.get("/report").get_data(as_text=True))
        show("GET /report again, from the cache", lambda: web.get("/report").get_data(as_text=True))
        show("square(4), square(4)", lambda: [square(4), square(4)])
        show("renders", lambda: len(renders))
        show("delete_memoized(square)", lambda: cache.delete_memoized(square))
        show("square(4) after it", lambda: square(4))
        show("renders", lambda: len(renders))
        # memoize() names its keys after a hash of the function and a
        # random version, so only their number is shown.
        keys = r.keys("*")
        show("number of keys", lambda: len(keys))
        show("keys that name the application's own",
             lambda: sorted(k for k in keys if k.endswith(("user", "fresh", "counter", "report"))))

        if db != 0:
            db0 = client(port)
            show("database 0's dbsize()", db0.dbsize)
            db0.set("outside", "the cache")
        show("clear()", cache.clear)
        show(f"database {db}'s dbsize() after clear", r.dbsize)
        if db != 0:
            show("database 0 keeps its key", lambda: db0.get("outside"))


CHECKS = {"db0": lambda port: flask_cache(port, 0), "db2": lambda port: flask_cache(port, 2)}

if __name__ == "__main__":
    main(CHECKS)
