// A Blink-Store client in Node.js with the standard library only.
// Run: node blink.js   (BLINK_HOST and BLINK_PORT pick the server)
"use strict";
const net = require("net");

const host = process.env.BLINK_HOST || "127.0.0.1";
const port = Number(process.env.BLINK_PORT || 8765);

// Sends one request on its own connection and resolves to the reply,
// with a value decoded from base64.
function blink(command) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host, port }, () => socket.write(command + "\n"));
    let data = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\n");
      if (end === -1) return;
      socket.end();
      const reply = data.subarray(0, end).toString();
      resolve(reply.startsWith("VALUE ") ? Buffer.from(reply.slice(6), "base64").toString() : reply);
    });
    socket.on("end", () => reject(new Error("the server closed the connection before replying")));
    socket.on("error", reject);
  });
}

async function main() {
  console.log(await blink("SET greeting hello world")); // OK
  console.log(await blink("GET greeting")); // hello world
  console.log(await blink("USAGE")); // USAGE 19
  console.log(await blink("GET nosuch")); // NOT_FOUND
  console.log(await blink("DELETE greeting")); // OK
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
