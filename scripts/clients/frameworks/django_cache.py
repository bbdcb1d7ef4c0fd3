#!/usr/bin/env python3
"""Django's own Redis cache backend, django.core.cache.backends.redis.RedisCache,
as a Django project configures it.

    django_cache.py --port P cache|set_many

cache: add, get, set, get_many, delete_many, incr, decr, touch, has_key,
delete and clear, and the keys Django writes for them (":VERSION:KEY").
set_many: set_many(), which Django sends as a MULTI ... EXEC pipeline of
MSET and one EXPIRE per key.
"""

from common import CONNECTION_OPTIONS, client, main, show, within

import django
from django.conf import settings


def django_cache(port):
    """The default cache of a Django project whose settings name the server."""
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}",
                "TIMEOUT": 300,
                "OPTIONS": CONNECTION_OPTIONS,
            }
        }
    )
    django.setup()
    from django.core.cache import cache

    return cache


def cache(port):
    c = django_cache(port)
    r = client(port)
    show("add(greeting, hello)", lambda: c.add("greeting", "hello"))
    show("add(greeting, again)", lambda: c.add("greeting", "again"))
    show("get(greeting)", lambda: c.get("greeting"))
    show("ttl(:1:greeting) in 299..300", lambda: within(299, 300, r.ttl(":1:greeting")))
    show("set(user:1, a dict)", lambda: c.set("user:1", {"name": "alice", "roles": ["admin"]}))
    show("set(user:2, a str, timeout=None)", lambda: c.set("user:2", "bob", timeout=None))
    show("ttl(:1:user:2)", lambda: r.ttl(":1:user:2"))
    show("get_many(user:1, user:2, user:404)",
         lambda: c.get_many(["user:1", "user:2", "user:404"]))
    show("get(user:404, default)", lambda: c.get("user:404", "default"))
    show("has_key(user:1)", lambda: c.has_key("user:1"))
    show("has_key(user:404)", lambda: c.has_key("user:404"))

    # Integers are stored as digits, not pickled, so INCRBY works on them.
    show("set(hits, 1)", lambda: c.set("hits", 1))
    show("raw get(:1:hits)", lambda: r.get(":1:hits"))
    show("incr(hits)", lambda: c.incr("hits"))
    show("incr(hits, 10)", lambda: c.incr("hits", 10))
    show("decr(hits, 2)", lambda: c.decr("hits", 2))
    show("get(hits)", lambda: c.get("hits"))
    show("incr(nosuch)", lambda: c.incr("nosuch"))

    # touch(): a new lifetime, or none at all.
    show("touch(user:1, 60)", lambda: c.touch("user:1", 60))
    show("ttl(:1:user:1) in 59..60", lambda: within(59, 60, r.ttl(":1:user:1")))
    show("touch(user:1, None)", lambda: c.touch("user:1", None))
    show("ttl(:1:user:1)", lambda: r.ttl(":1:user:1"))
    show("touch(user:404)", lambda: c.touch("user:404"))

    # A timeout of 0 deletes; a version is part of the key.
    show("set(flash, x, timeout=0)", lambda: c.set("flash", "x", timeout=0))
    show("get(flash)", lambda: c.get("flash"))
    show("set(greeting, v2, version=2)", lambda: c.set("greeting", "v2", version=2))
    show("get(greeting, version=2)", lambda: c.get("greeting", version=2))
    show("keys on the server", lambda: sorted(r.keys("*")))

    show("delete_many(user:1, user:2, user:404)",
         lambda: c.delete_many(["user:1", "user:2", "user:404"]))
    show("get_many(user:1, user:2) after it", lambda: c.get_many(["user:1", "user:2"]))
    show("delete(greeting)", lambda: c.delete("greeting"))
    show("delete(greeting) again", lambda: c.delete("greeting"))
    show("clear()", c.clear)
    show("dbsize() after clear", r.dbsize)
    c.close()


def set_many(port):
    c = django_cache(port)
    r = client(port)
    data = {"a": 1, "b": {"list": [1, 2]}, "c": "three"}
    show("set_many(a, b, c, timeout=60)", lambda: c.set_many(data, timeout=60))
    show("get_many(a, b, c, d)", lambda: c.get_many(["a", "b", "c", "d"]))
    show("ttl of each in 59..60",
         lambda: [within(59, 60, r.ttl(f":1:{k}")) for k in data])
    show("set_many(a, b, timeout=None, version=2)",
         lambda: c.set_many({"a": 10, "b": 20}, timeout=None, version=2))
    show("get_many(a, b, version=2)", lambda: c.get_many(["a", "b"], version=2))
    show("ttl(:2:a)", lambda: r.ttl(":2:a"))
    show("incr(a, version=2)", lambda: c.incr("a", version=2))
    show("keys on the server", lambda: sorted(r.keys("*")))
    c.close()


CHECKS = {"cache": cache, "set_many": set_many}

if __name__ == "__main__":
    main(CHECKS)
