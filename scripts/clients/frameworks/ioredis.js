// ioredis as a Node.js application uses it.
//
//   node ioredis.js --port P multi|watch|unlink|select|pubsub
//
// multi: multi().exec() (MULTI ... EXEC in one write), a command that
// fails inside it, and multi({ pipeline: false }), whose commands answer
// QUEUED one by one, then exec() or discard(). watch: watch() then
// multi().exec(), which resolves to null when another client wrote a
// watched key, and unwatch(). unlink: unlink() and a plain pipeline(),
// which needs no transaction. select: new Redis({ db: 2 }), which sends
// SELECT 2 on connecting, and select() on an open connection. pubsub: a
// subscriber connection, subscribe() and psubscribe() with the 'message',
// 'messageBuffer' and 'pmessage' events of what a second client publishes,
// a binary payload, the commands ioredis refuses while subscribed, and
// unsubscribe() and punsubscribe() naming what they drop.
'use strict';

const Redis = require('ioredis');
const { SOCKET_TIMEOUT_MS, main, received, show } = require('./common.js');

// A client that tries once: no reconnecting, no queueing while offline,
// and a bound on every command.
function connect(port, options = {}) {
  return new Redis({
    host: '127.0.0.1',
    port,
    connectTimeout: SOCKET_TIMEOUT_MS,
    commandTimeout: SOCKET_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
    ...options,
  });
}

async function opened(port, options) {
  const client = connect(port, options);
  // Each failing call reports its own error; what fails outside a call
  // (such as the SELECT sent on connecting) is told on stderr.
  client.on('error', (error) => process.stderr.write(`client error: ${error.message}\n`));
  await client.connect();
  return client;
}

async function multi(port) {
  const r = await opened(port);
  await show('multi() set, incr, incrby, get, expire .exec()', () =>
    r.multi().set('page:views', 0).incr('page:views').incrby('page:views', 10)
      .get('page:views').expire('page:views', 60).exec());
  await show('ttl(page:views) in 59..60', async () => {
    const ttl = await r.ttl('page:views');
    return ttl >= 59 && ttl <= 60;
  });
  // A command that fails when EXEC runs it fails alone.
  await show('multi() with a failing incr .exec()', () =>
    r.multi().set('name', 'blink').incr('name').get('name').exec());
  // Without pipelining, MULTI goes first and each command answers QUEUED.
  await show('multi({ pipeline: false })', () => r.multi({ pipeline: false }));
  await show('set(queued, 1) inside it', () => r.set('queued', '1'));
  await show('incr(queued) inside it', () => r.incr('queued'));
  await show('exec()', () => r.exec());
  await show('get(queued)', () => r.get('queued'));
  await show('multi({ pipeline: false }) again', () => r.multi({ pipeline: false }));
  await show('set(queued, never) inside it', () => r.set('queued', 'never'));
  await show('discard()', () => r.discard());
  await show('get(queued) after discard', () => r.get('queued'));
  r.disconnect();
}

async function watch(port) {
  const r = await opened(port);
  const other = await opened(port);
  await r.set('balance', '100');
  await show('watch(balance)', () => r.watch('balance'));
  const balance = Number(await r.get('balance'));
  await show('multi() set(balance, 70) .exec()', () =>
    r.multi().set('balance', balance - 30).incr('debits').exec());
  await show('get(balance)', () => r.get('balance'));

  // Another client writes the watched key: EXEC aborts, and exec()
  // resolves to null.
  await show('watch(balance) again', () => r.watch('balance'));
  await show("another client's incrby(balance, 5)", () => other.incrby('balance', 5));
  await show('multi() set(balance, 0) .exec()', () => r.multi().set('balance', 0).exec());
  await show('get(balance)', () => r.get('balance'));

  // UNWATCH forgets the watched keys.
  await show('watch(balance, debits)', () => r.watch('balance', 'debits'));
  await show('unwatch()', () => r.unwatch());
  await show("another client's set(balance, 1000)", () => other.set('balance', '1000'));
  await show('multi() incrby(balance, 1) .exec()', () => r.multi().incrby('balance', 1).exec());
  r.disconnect();
  other.disconnect();
}

async function unlink(port) {
  const r = await opened(port);
  await show('mset(a, 1, b, 2, c, 3)', () => r.mset('a', '1', 'b', '2', 'c', '3'));
  await show('unlink(a, b, nope)', () => r.unlink('a', 'b', 'nope'));
  await show('exists(a, b, c)', () => r.exists('a', 'b', 'c'));
  await show('pipeline() set, get, unlink, get .exec()', () =>
    r.pipeline().set('p', 'v').get('p').unlink('p').get('p').exec());
  await show('del(c)', () => r.del('c'));
  await show('dbsize()', () => r.dbsize());
  r.disconnect();
}

async function select(port) {
  const db2 = await opened(port, { db: 2 });
  const r = await opened(port);
  await show('Redis({ db: 2 }).set(session, in-db-2)', () => db2.set('session', 'in-db-2'));
  await show('Redis({ db: 2 }).get(session)', () => db2.get('session'));
  await show('Redis().get(session)', () => r.get('session'));
  await show('Redis().select(2)', () => r.select(2));
  await show('get(session) after select(2)', () => r.get('session'));
  await show('select(0)', () => r.select(0));
  await show('set(session, in-db-0)', () => r.set('session', 'in-db-0'));
  await show('Redis({ db: 2 }).get(session)', () => db2.get('session'));
  await show('Redis({ db: 2 }).dbsize()', () => db2.dbsize());
  await show('Redis({ db: 2 }).flushdb()', () => db2.flushdb());
  await show('get(session) in database 0 after it', () => r.get('session'));
  db2.disconnect();
  r.disconnect();
}

async function pubsub(port) {
  const sub = await opened(port);
  const pub = await opened(port);
  // Every event the subscriber emits, in order; each step waits for the
  // events it caused and then prints them.
  const events = [];
  sub.on('message', (channel, message) => events.push(['message', channel, message]));
  sub.on('pmessage', (pattern, channel, message) =>
    events.push(['pmessage', pattern, channel, message]));
  sub.on('messageBuffer', (channel, message) =>
    events.push(['messageBuffer', channel.toString(), message.toString('hex')]));
  const next = async (count) => (await received(events, count)).splice(0, count);

  // subscribe() resolves once the server has confirmed every channel, so
  // what is published after it reaches the subscriber.
  await show('subscribe(news, alerts)', () => sub.subscribe('news', 'alerts'));
  await show("another client's publish(news, hello)", () => pub.publish('news', 'hello'));
  await show("another client's publish(alerts, fire)", () => pub.publish('alerts', 'fire'));
  await show("the 'message' and 'messageBuffer' events", () => next(4));

  await show('psubscribe(news.*)', () => sub.psubscribe('news.*'));
  await show("another client's publish(news.sport, goal)", () =>
    pub.publish('news.sport', 'goal'));
  await show("the 'pmessage' event", () => next(1));
  await show("another client's publish(news, again)", () => pub.publish('news', 'again'));
  await show("the 'message' and 'messageBuffer' events", () => next(2));

  // ioredis itself refuses what a subscribed connection may not run,
  // without sending it; PING is allowed.
  await show('get(news) while subscribed', () => sub.get('news'));
  await show('ping() while subscribed', () => sub.ping());

  await show("another client's pubsub(numsub, news, nobody)", () =>
    pub.pubsub('NUMSUB', 'news', 'nobody'));
  await show("another client's pubsub(numpat)", () => pub.pubsub('NUMPAT'));

  // Payloads are bytes.
  await show("another client's publish(alerts, line\\r\\nbreak\\0nul)", () =>
    pub.publish('alerts', Buffer.from('line\r\nbreak\0nul')));
  await show("the events, the payload in hex as messageBuffer shows it", () => next(2));

  // Once every subscription is gone the connection runs anything again.
  // Each call names what it drops: ioredis's unsubscribe() without
  // arguments waits for a count of 0, which never comes while a pattern
  // is still subscribed, and times out against Redis too.
  await show('unsubscribe(news)', () => sub.unsubscribe('news'));
  await show("another client's publish(news, unheard)", () => pub.publish('news', 'unheard'));
  await show('unsubscribe(alerts)', () => sub.unsubscribe('alerts'));
  await show('punsubscribe(news.*)', () => sub.punsubscribe('news.*'));
  await show('get(news) after it', () => sub.get('news'));
  await show("another client's publish(news.sport, unheard)", () =>
    pub.publish('news.sport', 'unheard'));
  await show('events after unsubscribing', () => events);
  sub.disconnect();
  pub.disconnect();
}

main({ multi, watch, unlink, select, pubsub });
