// node-redis (the npm package redis) as a Node.js application uses it.
//
//   node node_redis.js --port P multi|watch|unlink|select|pubsub|pubsub_resp3|caching|caching_own_writes
//
// multi: multi().exec() (MULTI ... EXEC in one write) and a command that
// fails inside it. watch: watch() then multi().exec(), which rejects with
// a WatchError when another client wrote a watched key, and unwatch().
// unlink: unlink(), del(), and multi().execAsPipeline(), which sends its
// commands without MULTI and EXEC. select: createClient({ database: 2 }),
// which sends SELECT 2 on connecting, select() on an open connection, and
// createClient({ url }) with a URL whose path names database 2
// (redis://127.0.0.1:P/2). pubsub (RESP2) and pubsub_resp3 (createClient
// with RESP: 3): subscribe() and pSubscribe() with listeners on a
// duplicate() of the client, receiving what the client publishes, a
// listener in buffer mode, PING and GET on the subscriber, PUBSUB's
// NUMSUB, CHANNELS and NUMPAT, unsubscribe() and pUnsubscribe().
// caching: createClient({ RESP: 3, clientSideCache: { ttl: 0,
// maxEntries: 0 } }), whose cache answers a read it has answered before,
// and another client's SET, DEL and FLUSHALL seen once the invalidation
// arrives. caching_own_writes: the caching client's own writes, seen by
// its next read.
'use strict';

const { createClient } = require('redis');
const { SOCKET_TIMEOUT_MS, main, received, show } = require('./common.js');

// A connected client that tries once: no reconnecting, no queueing while
// offline, and a bound on connecting.
async function opened(port, options = {}) {
  const client = createClient({
    socket: {
      host: '127.0.0.1',
      port,
      connectTimeout: SOCKET_TIMEOUT_MS,
      reconnectStrategy: false,
    },
    disableOfflineQueue: true,
    ...options,
  });
  // Each failing call reports its own error; what fails outside a call is
  // told on stderr.
  client.on('error', (error) => process.stderr.write(`client error: ${error.message}\n`));
  await client.connect();
  return client;
}

async function multi(port) {
  const r = await opened(port);
  await show('multi() set, incr, incrBy, get, expire .exec()', () =>
    r.multi().set('page:views', '0').incr('page:views').incrBy('page:views', 10)
      .get('page:views').expire('page:views', 60).exec());
  await show('ttl(page:views) in 59..60', async () => {
    const ttl = await r.ttl('page:views');
    return ttl >= 59 && ttl <= 60;
  });
  // A command that fails when EXEC runs it fails alone; node-redis then
  // rejects the whole exec() with a MultiErrorReply that keeps every reply.
  await show('multi() with a failing incr .exec()', () =>
    r.multi().set('name', 'blink').incr('name').get('name').exec());
  await show("the MultiErrorReply's replies and errorIndexes", async () => {
    try {
      return await r.multi().set('name', 'blink2').incr('name').get('name').exec();
    } catch (error) {
      if (!error.replies) throw error;
      return [error.replies, error.errorIndexes];
    }
  });
  await show('get(name) after it: the set ran', () => r.get('name'));
  r.destroy();
}

async function watch(port) {
  const r = await opened(port);
  const other = await opened(port);
  await r.set('balance', '100');
  await show('watch(balance)', () => r.watch('balance'));
  const balance = Number(await r.get('balance'));
  await show('multi() set(balance, 70) .exec()', () =>
    r.multi().set('balance', String(balance - 30)).incr('debits').exec());
  await show('get(balance)', () => r.get('balance'));

  // Another client writes the watched key: EXEC aborts, and exec()
  // rejects with a WatchError.
  await show('watch(balance) again', () => r.watch('balance'));
  await show("another client's incrBy(balance, 5)", () => other.incrBy('balance', 5));
  await show('multi() set(balance, 0) .exec()', () => r.multi().set('balance', '0').exec());
  await show('get(balance)', () => r.get('balance'));

  // UNWATCH forgets the watched keys.
  await show('watch([balance, debits])', () => r.watch(['balance', 'debits']));
  await show('unwatch()', () => r.unwatch());
  await show("another client's set(balance, 1000)", () => other.set('balance', '1000'));
  await show('multi() incrBy(balance, 1) .exec()', () => r.multi().incrBy('balance', 1).exec());
  r.destroy();
  other.destroy();
}

async function unlink(port) {
  const r = await opened(port);
  await show('mSet({ a: 1, b: 2, c: 3 })', () => r.mSet({ a: '1', b: '2', c: '3' }));
  await show('unlink([a, b, nope])', () => r.unlink(['a', 'b', 'nope']));
  await show('exists([a, b, c])', () => r.exists(['a', 'b', 'c']));
  await show('unlink(c)', () => r.unlink('c'));
  await show('set(d, 4) and del(d)', async () => [await r.set('d', '4'), await r.del('d')]);
  await show('dbSize()', () => r.dbSize());
  // The same commands as a multi(), sent without MULTI and EXEC.
  await show('multi() set, incr, unlink .execAsPipeline()', () =>
    r.multi().set('piped', '1').incr('piped').unlink('piped').execAsPipeline());
  r.destroy();
}

async function select(port) {
  const db2 = await opened(port, { database: 2 });
  const r = await opened(port);
  await show('createClient({ database: 2 }).set(session, in-db-2)', () =>
    db2.set('session', 'in-db-2'));
  await show('createClient({ database: 2 }).get(session)', () => db2.get('session'));
  await show('createClient().get(session)', () => r.get('session'));
  await show('createClient().select(2)', () => r.select(2));
  await show('get(session) after select(2)', () => r.get('session'));
  await show('select(0)', () => r.select(0));
  await show('set(session, in-db-0)', () => r.set('session', 'in-db-0'));
  await show('createClient({ database: 2 }).get(session)', () => db2.get('session'));
  await show('createClient({ database: 2 }).dbSize()', () => db2.dbSize());
  await show('createClient({ database: 2 }).flushDb()', () => db2.flushDb());
  await show('get(session) in database 0 after it', () => r.get('session'));

  // The path of a redis:// URL is the database number; the URL's host and
  // port take the place of the socket's.
  const url = await opened(port, { url: `redis://127.0.0.1:${port}/2` });
  await show('createClient({ url: redis://127.0.0.1:P/2 }).set(cart, 2 items)', () =>
    url.set('cart', '2 items'));
  await show('createClient({ database: 2 }).get(cart)', () => db2.get('cart'));
  await show('get(cart) in database 0', () => r.get('cart'));
  await show('createClient({ url: redis://127.0.0.1:P/2 }).dbSize()', () => url.dbSize());
  await show('dbSize() of database 0', () => r.dbSize());
  url.destroy();
  db2.destroy();
  r.destroy();
}

// A subscriber as node-redis documents it: the main client duplicated,
// with listeners per channel and per pattern; the main client publishes.
async function pubsub(port, options = {}) {
  const r = await opened(port, options);
  const sub = r.duplicate();
  sub.on('error', (error) => process.stderr.write(`subscriber error: ${error.message}\n`));
  await sub.connect();
  // What every listener is called with, in order; each step waits for
  // what it caused and then prints it.
  const calls = [];
  const listener = (name) => (message, channel) => calls.push([name, channel, message]);
  const next = async (count) => (await received(calls, count)).splice(0, count);

  // subscribe() resolves once the server has confirmed the subscription,
  // so what is published after it reaches the subscriber.
  await show('subscribe(news, listener)', () => sub.subscribe('news', listener('news')));
  await show('subscribe([alerts, logs], listener)', () =>
    sub.subscribe(['alerts', 'logs'], listener('alerts or logs')));
  await show('publish(news, hello)', () => r.publish('news', 'hello'));
  await show('publish(logs, started)', () => r.publish('logs', 'started'));
  await show('the listeners were called with', () => next(2));

  await show('pSubscribe(news.*, listener)', () => sub.pSubscribe('news.*', listener('news.*')));
  await show('publish(news.sport, goal)', () => r.publish('news.sport', 'goal'));
  await show('the listeners were called with', () => next(1));
  // A channel subscribed and matched by a pattern gets the message twice,
  // and PUBLISH counts both.
  await show('subscribe(news.weather, listener)', () =>
    sub.subscribe('news.weather', listener('news.weather')));
  await show('publish(news.weather, rain)', () => r.publish('news.weather', 'rain'));
  await show('the listeners were called with', () => next(2));

  // A listener in buffer mode gets the payload's bytes as published.
  await show('subscribe(binary, listener, true)', () =>
    sub.subscribe('binary', (message, channel) =>
      calls.push(['binary', channel.toString(), message.toString('hex')]), true));
  await show('publish(binary, line\\r\\nbreak\\0nul)', () =>
    r.publish('binary', Buffer.from('line\r\nbreak\0nul')));
  await show('the listener was called with, in hex', () => next(1));

  await show('pubSubNumSub([news, news.weather, nobody])', () =>
    r.pubSubNumSub(['news', 'news.weather', 'nobody']));
  await show('pubSubChannels(news*), sorted', async () => (await r.pubSubChannels('news*')).sort());
  await show('pubSubNumPat()', () => r.pubSubNumPat());

  await show('ping() on the subscriber', () => sub.ping());
  // In RESP2 the server refuses other commands while subscribed; in RESP3
  // it runs them.
  await show('get(news) on the subscriber', () => sub.get('news'));

  await show('unsubscribe(news)', () => sub.unsubscribe('news'));
  await show('publish(news, unheard)', () => r.publish('news', 'unheard'));
  await show('pUnsubscribe(news.*)', () => sub.pUnsubscribe('news.*'));
  await show('publish(news.sport, unheard)', () => r.publish('news.sport', 'unheard'));
  // unsubscribe() without channels resolves on the confirmation whose
  // count is 0: node-redis waits forever (against Redis too) when a
  // pattern is still subscribed, so the pattern goes first.
  await show('unsubscribe()', () => sub.unsubscribe());
  await show('publish(logs, unheard)', () => r.publish('logs', 'unheard'));
  await show('pubSubNumSub([alerts, logs, binary])', () =>
    r.pubSubNumSub(['alerts', 'logs', 'binary']));
  await show('pubSubNumPat()', () => r.pubSubNumPat());
  await show('get(news) on the subscriber after it', () => sub.get('news'));
  await show('the listeners were called with after unsubscribing', () => calls);
  sub.destroy();
  r.destroy();
}

// Milliseconds a caching client keeps reading a key another client
// changed before the check gives up: an invalidation arrives within
// milliseconds on loopback, so this bound is only reached when none comes.
const INVALIDATION_WAIT_MS = 2000;
// Milliseconds between two of those reads.
const POLL_INTERVAL_MS = 10;
// How many times caching_own_writes writes then reads a key.
const OWN_WRITES = 1000;

// A caching client as node-redis documents it (RESP3 only), and what its
// cache reports: the keys the server's invalidations named, in order (an
// empty key list, after a flush, shown as null), and its counts.
async function caching(port) {
  const r = await opened(port, { RESP: 3, clientSideCache: { ttl: 0, maxEntries: 0 } });
  const csc = r.clientSideCache;
  const invalidated = [];
  csc.on('invalidate', (key) => invalidated.push(key === null ? null : key.toString()));
  const counts = () => {
    const stats = csc.stats();
    return { size: csc.size(), hits: stats.hitCount, misses: stats.missCount };
  };
  return { r, invalidated, counts };
}

// Reads until the result is not old, for at most INVALIDATION_WAIT_MS,
// and says how that ended, never how many reads it took.
async function untilChanged(read, old) {
  const deadline = Date.now() + INVALIDATION_WAIT_MS;
  for (;;) {
    const value = await read();
    if (value !== old) return ['changed to', value];
    if (Date.now() >= deadline) return [`still the same after ${INVALIDATION_WAIT_MS} ms`, value];
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

// The caching client reads, another client writes: GET twice, the second
// answered from the cache (the server's keyspace_hits counts one read);
// another client's SET, DEL and FLUSHALL, each seen by the caching
// client's next reads once the invalidation arrives, and a key it was not
// told of kept.
async function clientSideCache(port) {
  const { r, invalidated, counts } = await caching(port);
  const other = await opened(port, { RESP: 3 });
  const stat = async (name) =>
    Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(await other.info('stats'))[1]);
  const untilGetChanges = (key, old) => untilChanged(() => r.get(key), old);
  const drain = () => invalidated.splice(0);

  await show("another client's mSet({ user:1: alice, user:2: bob })", () =>
    other.mSet({ 'user:1': 'alice', 'user:2': 'bob' }));
  let hits = await stat('keyspace_hits');
  await show('get(user:1)', () => r.get('user:1'));
  await show('get(user:1) again', () => r.get('user:1'));
  await show('get(user:2)', () => r.get('user:2'));
  await show('reads the server answered (keyspace_hits)', async () =>
    (await stat('keyspace_hits')) - hits);
  await show("the cache's size, hits and misses", async () => counts());
  await show('keys the server tracks (tracking_total_keys)', () => stat('tracking_total_keys'));

  await show("another client's set(user:1, carol)", () => other.set('user:1', 'carol'));
  await show('get(user:1) until it changes', () => untilGetChanges('user:1', 'alice'));
  await show('the keys invalidated', async () => drain());
  hits = await stat('keyspace_hits');
  await show('get(user:1) and get(user:2) after it', async () =>
    [await r.get('user:1'), await r.get('user:2')]);
  await show('reads the server answered (keyspace_hits)', async () =>
    (await stat('keyspace_hits')) - hits);

  await show("another client's del(user:1)", () => other.del('user:1'));
  await show('get(user:1) until it changes', () => untilGetChanges('user:1', 'carol'));
  await show('the keys invalidated', async () => drain());
  await show('get(user:2)', () => r.get('user:2'));

  await show("another client's flushAll()", () => other.flushAll());
  await show('get(user:2) until it changes', () => untilGetChanges('user:2', 'bob'));
  await show('the keys invalidated', async () => drain());
  await show("another client's set(user:2, dave)", () => other.set('user:2', 'dave'));
  await show('get(user:2) until it changes', () => untilGetChanges('user:2', null));
  await show('the keys invalidated', async () => drain());
  // Its hits depend on how many reads each wait took; its misses, the
  // reads sent to the server, do not.
  await show("the cache's size and misses", async () => {
    const { size, misses } = counts();
    return { size, misses };
  });
  await show('clientTrackingInfo()', () => r.clientTrackingInfo());
  r.destroy();
  other.destroy();
}

// The caching client's own SET then GET, many times: the invalidation of
// its own write comes back on its own connection after the SET's reply,
// and must be read before the GET is answered, or the GET answers from
// the cache with the value the SET replaced.
async function clientSideCacheOwnWrites(port) {
  const { r, counts } = await caching(port);
  await show(`set(counter, i) then get(counter), ${OWN_WRITES} times: stale reads`, async () => {
    let stale = 0;
    for (let i = 0; i < OWN_WRITES; i++) {
      await r.set('counter', String(i));
      if ((await r.get('counter')) !== String(i)) stale += 1;
    }
    return stale;
  });
  await show('del(counter) then get(counter)', async () =>
    [await r.del('counter'), await r.get('counter')]);
  await show("the cache's size", async () => counts().size);
  r.destroy();
}

main({
  multi,
  watch,
  unlink,
  select,
  pubsub: (port) => pubsub(port),
  pubsub_resp3: (port) => pubsub(port, { RESP: 3 }),
  caching: clientSideCache,
  caching_own_writes: clientSideCacheOwnWrites,
});
