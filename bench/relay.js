// bench/relay.js: what carrying a program's own TLS through llmfbd's relay
// costs (make bench, part 7).  NodeSource's node (OpenSSL linked in) makes
// N GET requests one after another on one kept-alive connection, then M
// each on a new connection (TCP and TLS handshake included), and prints
//   keepalive_p50_us=.. keepalive_p99_us=.. keepalive_rps=..
//   fresh_p50_us=.. fresh_p99_us=..
// node relay.js URL N M [ADDR]: with ADDR, the URL's name is looked up as
// ADDR (the direct baseline); without, as the system resolves it (under
// the shim: the synthetic address, and llmfbd's relay).
"use strict";
const https = require("https");
const [url, n, m, addr] = process.argv.slice(2);
const lookup = addr ? (h, o, cb) => o && o.all ?
  cb(null, [{ address: addr, family: 4 }]) : cb(null, addr, 4) : undefined;

function get(agent) {
  return new Promise((ok, bad) => {
    const t0 = process.hrtime.bigint();
    https.get(url, { agent, lookup }, (r) => {
      r.resume();
      r.on("end", () => ok(Number(process.hrtime.bigint() - t0) / 1000));
    }).on("error", bad);
  });
}

function pct(a, p) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))].toFixed(0);
}

async function main() {
  const keep = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const k = [], f = [];
  await get(keep);			// warm: the connection is made
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < +n; i++) k.push(await get(keep));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  keep.destroy();
  for (let i = 0; i < +m; i++)
    f.push(await get(new https.Agent({ keepAlive: false })));
  console.log(`keepalive_p50_us=${pct(k, 0.5)} keepalive_p99_us=` +
    `${pct(k, 0.99)} keepalive_rps=${(+n / secs).toFixed(0)} ` +
    `fresh_p50_us=${pct(f, 0.5)} fresh_p99_us=${pct(f, 0.99)}`);
}

main().catch((e) => { console.log(`err=${e.code || e}`); process.exit(1); });
