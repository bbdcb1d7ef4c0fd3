// ioredis as a Node.js application uses it.
//
//   node ioredis.js --port P multi|watch|unlink|select
//
// multi: multi().exec() (MULTI ... EXEC in one write), a command that
// fails inside it, and multi({ pipeline: false }), whose commands answer
// QUEUED one by one, then exec() or discard(). watch: watch() then
// multi().exec(), which resolves to null when another client wrote a
// watched key, and unwatch(). unlink: unlink() and a plain pipeline(),
// which needs no transaction. select: new Redis({ db: 2 }), which sends
// SELECT 2 on connecting, and select() on an open connection.
'use strict';

const Redis = require('ioredis');
const { SOCKET_TIMEOUT_MS, main, show } = require('./common.js');

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

main({ multi, watch, unlink, select });
