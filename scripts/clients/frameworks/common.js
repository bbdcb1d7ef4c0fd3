// What the Node.js framework checks share: the command line, how they
// print what each call returned, a bounded wait for a subscriber's
// messages, and a bound on how long a check may run.
//
// Each check prints one line per call, "what: result", with the result as
// JSON or, when the call failed, "raised" and the error's class name.
// scripts/clients/frameworks.sh compares the lines with what Redis
// answers, so a line must not depend on timing or on an error's wording:
// errors are shown by their class only (their message goes to stderr,
// which the shell shows when the output differs).
'use strict';

// Milliseconds a client waits to connect and for each reply.
const SOCKET_TIMEOUT_MS = 5000;
// Milliseconds a whole check may take before it gives up, well under the
// shell's own bound on a client command.
const CHECK_TIMEOUT_MS = 20000;

function errorName(error) {
  return error && error.constructor ? error.constructor.name : String(error);
}

// Awaits the promise fn returns and prints what it resolved to, or the
// class of the error it rejected with.
async function show(what, fn) {
  let result;
  try {
    result = JSON.stringify(await fn(), replacer);
  } catch (error) {
    result = `raised ${errorName(error)}`;
    process.stderr.write(`${what}: ${errorName(error)}: ${error.message}\n`);
  }
  process.stdout.write(`${what}: ${result}\n`);
}

// Errors inside a result (ioredis's [error, reply] pairs, node-redis's
// replies of a MULTI) are shown by their class name.
function replacer(_key, value) {
  return value instanceof Error ? `error ${errorName(value)}` : value;
}

// Waits until list holds count entries, for at most SOCKET_TIMEOUT_MS, and
// returns it: what a subscriber's events or listeners pushed by then, in
// the order they arrived. Past the bound the check prints the shorter
// list, which differs from the expected output.
async function received(list, count) {
  const deadline = Date.now() + SOCKET_TIMEOUT_MS;
  while (list.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return list;
}

// Runs the check named on the command line (`--port P NAME`) with the
// port. An error outside show() ends the check with a last line saying so
// and exit status 1; so does running out of time.
function main(checks) {
  const [flag, port, name] = process.argv.slice(2);
  if (flag !== '--port' || !/^\d+$/.test(port || '') || !(name in checks)) {
    process.stderr.write(`usage: --port P ${Object.keys(checks).join('|')}\n`);
    process.exit(2);
  }
  const timer = setTimeout(() => {
    process.stdout.write(`stopped: no result within ${CHECK_TIMEOUT_MS} ms\n`);
    process.exit(1);
  }, CHECK_TIMEOUT_MS);
  checks[name](Number(port)).then(
    () => {
      clearTimeout(timer);
      process.exit(0);
    },
    (error) => {
      process.stdout.write(`stopped: raised ${errorName(error)}\n`);
      process.stderr.write(`stopped: ${errorName(error)}: ${error.message}\n`);
      process.exit(1);
    },
  );
}

module.exports = { SOCKET_TIMEOUT_MS, main, received, show };
