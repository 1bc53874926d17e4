// nodeclient: an ordinary Node.js program for the end-to-end tests.  It
// POSTs a JSON body to an HTTPS API with fetch() or the https module and
// prints one line, then lets the process end by itself:
//   code=STATUS target=X-LLMFB-TARGET chunks=N body=BODY (line ends as |)
// node nodeclient.js fetch|https URL JSON [stream]
// The CA is NODE_EXTRA_CA_CERTS's, as for any Node program.
"use strict";
const [mode, url, data, stream] = process.argv.slice(2);
const headers = { "content-type": "application/json",
  authorization: "Bearer sk-node-caller" };

function report(code, target, chunks, body) {
  console.log(`code=${code} target=${target || "-"} chunks=${chunks} ` +
    `body=${body.slice(0, 4000).replace(/[\r\n]/g, "|")}`);
}

function fail(e) {
  console.log(`err=${(e && (e.cause || e).code) || e}`);
  process.exitCode = 1;
}

if (mode === "fetch") {
  fetch(url, { method: "POST", headers, body: data }).then(async (r) => {
    let body = "", chunks = 0;
    if (stream) {
      const dec = new TextDecoder();
      for await (const c of r.body) { body += dec.decode(c); chunks++; }
    } else {
      body = await r.text();
      chunks = 1;
    }
    report(r.status, r.headers.get("x-llmfb-target"), chunks, body);
  }).catch(fail);
} else {
  const req = require("https").request(url, { method: "POST", headers },
    (r) => {
      let body = "", chunks = 0;
      r.setEncoding("utf8");
      r.on("data", (c) => { body += c; chunks++; });
      r.on("end", () => report(r.statusCode, r.headers["x-llmfb-target"],
        chunks, body));
    });
  req.on("error", fail);
  req.end(data);
}
