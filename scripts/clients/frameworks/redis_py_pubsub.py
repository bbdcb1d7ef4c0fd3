#!/usr/bin/env python3
"""redis-py's pubsub(), as applications use it, over RESP2 and RESP3.

    redis_py_pubsub.py --port P resp2|resp3

Both checks do the same with Redis(protocol=2) or Redis(protocol=3):
subscribe() and get_message() for the confirmation and for messages
another client publishes; psubscribe() with a pattern and its pmessage; a
channel that is subscribed and matched by a pattern, which receives the
message twice; ping() while subscribed, and in RESP2 a GET refused while
subscribed; pubsub_numsub(), pubsub_channels() and pubsub_numpat();
listen() for a few messages, then unsubscribe() and punsubscribe(); and a
payload with the bytes \\r, \\n and \\0, which must arrive intact on a
client that does not decode replies.

Every wait is bounded: next_message() gives up after SOCKET_TIMEOUT
seconds, and listen() reads with the connection's socket timeout. A
message is published only once the subscriber has read the confirmation
of its subscription, so the messages and their order do not depend on
timing.
"""

import time

import redis

from common import CONNECTION_OPTIONS, SOCKET_TIMEOUT, client, main, show


def next_message(p):
    """The next message or confirmation the subscriber receives, or None
    after SOCKET_TIMEOUT seconds without one."""
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while time.monotonic() < deadline:
        message = p.get_message(timeout=deadline - time.monotonic())
        if message is not None:
            return message
    return None


def pubsub(port, protocol):
    r = client(port, protocol=protocol)
    other = client(port, protocol=protocol)
    p = r.pubsub()

    show("subscribe(news)", lambda: p.subscribe("news"))
    show("get_message(): the confirmation", lambda: next_message(p))
    show("another client's publish(news, hello)", lambda: other.publish("news", "hello"))
    show("get_message()", lambda: next_message(p))
    show("publish(nobody, lost)", lambda: other.publish("nobody", "lost"))

    show("psubscribe(news.*)", lambda: p.psubscribe("news.*"))
    show("get_message(): the confirmation", lambda: next_message(p))
    show("another client's publish(news.sport, goal)",
         lambda: other.publish("news.sport", "goal"))
    show("get_message()", lambda: next_message(p))
    # A channel subscribed and matched by a pattern: the message comes
    # twice, as a message then as a pmessage, and PUBLISH counts both.
    show("subscribe(news.weather)", lambda: p.subscribe("news.weather"))
    show("get_message(): the confirmation", lambda: next_message(p))
    show("another client's publish(news.weather, rain)",
         lambda: other.publish("news.weather", "rain"))
    show("get_message()", lambda: next_message(p))
    show("get_message()", lambda: next_message(p))

    # In RESP2 a subscribed connection answers PING with a message, which
    # redis-py shows as type "pong". In RESP3 the answer is a plain +PONG,
    # which get_message() takes apart as if it were a message (type "P",
    # channel "O", data "N"); Redis and Blink-Store answer alike.
    show("ping() while subscribed", lambda: p.ping())
    show("get_message(): the answer", lambda: next_message(p))
    if protocol == 2:
        # RESP2's subscribed mode refuses other commands; the error comes
        # back where the messages do.
        show("execute_command(GET, news) while subscribed",
             lambda: p.execute_command("GET", "news"))
        show("get_message(): the answer", lambda: next_message(p))

    show("pubsub_numsub(news, news.weather, nobody)",
         lambda: r.pubsub_numsub("news", "news.weather", "nobody"))
    show("sorted(pubsub_channels())", lambda: sorted(r.pubsub_channels()))
    show("pubsub_channels(news.w*)", lambda: r.pubsub_channels("news.w*"))
    show("pubsub_numpat()", r.pubsub_numpat)

    # listen() yields every message until the subscriber stops reading.
    for payload in ("one", "two", "three"):
        show(f"another client's publish(news, {payload})",
             lambda payload=payload: other.publish("news", payload))

    def listen(count):
        received = []
        for message in p.listen():
            received.append(message)
            if len(received) == count:
                return received
        return received

    show("listen() for 3 messages", lambda: listen(3))

    show("unsubscribe(news, news.weather)", lambda: p.unsubscribe("news", "news.weather"))
    show("get_message(): the first confirmation", lambda: next_message(p))
    show("get_message(): the second confirmation", lambda: next_message(p))
    show("punsubscribe(news.*)", lambda: p.punsubscribe("news.*"))
    show("get_message(): the confirmation", lambda: next_message(p))
    show("subscribed after it", lambda: p.subscribed)
    show("another client's publish(news, unheard)", lambda: other.publish("news", "unheard"))
    show("pubsub_numsub(news)", lambda: r.pubsub_numsub("news"))
    show("pubsub_numpat()", r.pubsub_numpat)
    p.close()

    # Payloads are bytes: a client that does not decode them gets back
    # exactly what was published, line breaks and NUL included.
    raw = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, **CONNECTION_OPTIONS)
    b = raw.pubsub()
    show("subscribe(binary) without decoding", lambda: b.subscribe("binary"))
    show("get_message(): the confirmation", lambda: next_message(b))
    payload = b"line\r\nbreak\0nul\xff"
    show("another client's publish(binary, line\\r\\nbreak\\0nul\\xff)",
         lambda: other.publish("binary", payload))
    show("get_message()", lambda: next_message(b))
    b.close()
    for c in (r, other, raw):
        c.connection_pool.disconnect()


def resp2(port):
    pubsub(port, 2)


def resp3(port):
    pubsub(port, 3)


CHECKS = {"resp2": resp2, "resp3": resp3}

if __name__ == "__main__":
    main(CHECKS)
