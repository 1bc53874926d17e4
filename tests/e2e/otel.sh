# OpenTelemetry: a second llmfbd with otel configured sends its calls'
# spans to a collector stand-in (a python3 http.server that keeps each
# POSTed body), and serves calls at once with the collector down.

# ot_collector DIR: the stand-in on a free port, bodies to DIR/bodies
# (one JSON document a line).  Sets OT_PORT and OT_PID.
ot_collector() {
	rm -f "$1/port"
	/usr/bin/python3 - "$1" <<'PY' >"$1/collector.log" 2>&1 &
import http.server, os, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(os.path.join(d, "bodies"), "ab") as f:
            f.write(self.path.encode() + b" " +
                self.headers.get("Content-Type", "").encode() + b" " +
                self.headers.get("X-Tenant", "").encode() + b"\n")
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(d, "port.tmp"), "w") as f:
    f.write(str(s.server_address[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
s.serve_forever()
PY
	OT_PID=$!
	wait_for "the collector stand-in" test -s "$1/port"
	OT_PORT=$(cat "$1/port")
}

# ot_start PORT: llmfbd with a two-rung ladder and otel to 127.0.0.1:PORT.
ot_start() {
	HD=$(mktemp -d "${TMPDIR:-/tmp}/llmfb-otel.XXXXXX")
	chmod 0755 "$HD"
	install -m 0644 "$STACK_DIR/certs/ca.pem" "$HD/ca.pem"
	cat >"$HD/llmfb.yaml" <<-EOY
	listen: $HD/llmfb.sock
	control: $HD/control.sock
	intercept: [api.openai.com]
	ebpf: off
	network_watch: false
	upstream: { ca_file: $HD/ca.pem, connect_to: ["api.openai.com:443:127.0.0.1:$MOCK_PORT"] }
	providers:
	  prim: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/primary/v1" }
	  back: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/secondary/v1", api_key_env: LLMFB_TEST_BACKUP_KEY }
	targets:
	  first: { provider: prim }
	  second: { provider: back, model: backup-model }
	routes:
	  - { name: chat, match: { host: api.openai.com }, ladder: [first, second] }
	otel:
	  endpoint: "http://127.0.0.1:$1/"
	  service_name: llmfbd-e2e
	  headers: { X-Tenant: e2e }
	EOY
	"$B/llmfbd" -c "$HD/llmfb.yaml" -d >"$HD/log" 2>&1 &
	HD_PID=$!
	wait_for "llmfbd (otel)" "$B/llmfbctl" -s "$HD/control.sock" status
}

ot_bodies() { [ -s "$1/bodies" ]; }

# jq over every span the collector got.
ot_spans() {
	sed -n '2~2p' "$OT_DIR/bodies" |
	    jq -c '.resourceSpans[].scopeSpans[].spans[]'
}

# attr SPAN KEY: one attribute's value, whichever its type.
ot_attr() {
	jq -r --arg k "$2" '.attributes[] | select(.key == $k) | .value |
	    (.stringValue // .intValue // .boolValue)' <<<"$1"
}

o_otel_spans() {
	local spans call a1 a2 m
	OT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/llmfb-otc.XXXXXX")
	ot_collector "$OT_DIR"
	ot_start "$OT_PORT"
	mock_reset
	mock_script primary 'status=503'
	shim_on "$HD/llmfb.sock"
	call curl "$OAI" "$CHAT"
	expect_eq status "$CODE" 200
	expect_eq fallback "$FALLBACK" 1
	wait_for "spans at the collector" ot_bodies "$OT_DIR" ||
	    ERRS="$ERRS; no spans in 10 s"
	expect_match request-line "$(head -1 "$OT_DIR/bodies")" \
	    '^/v1/traces application/json e2e$'
	expect_eq service "$(sed -n 2p "$OT_DIR/bodies" | jq -r \
	    '.resourceSpans[0].resource.attributes[] |
	    select(.key == "service.name") | .value.stringValue')" llmfbd-e2e
	spans=$(ot_spans)
	expect_eq nspans "$(wc -l <<<"$spans")" 3
	call=$(jq -c 'select(.parentSpanId == null)' <<<"$spans")
	expect_eq route "$(ot_attr "$call" llmfb.route)" chat
	expect_eq target "$(ot_attr "$call" llmfb.target)" second
	expect_eq span-fallback "$(ot_attr "$call" llmfb.fallback)" true
	expect_eq result "$(ot_attr "$call" llmfb.result)" fallback
	expect_eq call-status "$(jq -r .status.code <<<"$call")" 1
	expect_eq system "$(ot_attr "$call" gen_ai.system)" openai
	expect_eq provider "$(ot_attr "$call" llmfb.provider)" back
	expect_eq op "$(ot_attr "$call" gen_ai.operation.name)" chat
	expect_eq req-model "$(ot_attr "$call" gen_ai.request.model)" gpt-4o
	expect_eq resp-model "$(ot_attr "$call" gen_ai.response.model)" \
	    backup-model
	expect_match in-tokens "$(ot_attr "$call" gen_ai.usage.input_tokens)" \
	    '^[1-9][0-9]*$'
	expect_match out-tokens "$(ot_attr "$call" \
	    gen_ai.usage.output_tokens)" '^[1-9][0-9]*$'
	expect_match reasons "$(ot_attr "$call" llmfb.reasons)" .
	expect_match ids "$(jq -r '.traceId + " " + .spanId' <<<"$call")" \
	    '^[0-9a-f]{32} [0-9a-f]{16}$'
	expect_match times "$(jq -r '.startTimeUnixNano + " " +
	    .endTimeUnixNano' <<<"$call")" '^[0-9]{19} [0-9]{19}$'
	a1=$(jq -c 'select(.parentSpanId != null)' <<<"$spans" | head -1)
	a2=$(jq -c 'select(.parentSpanId != null)' <<<"$spans" | sed -n 2p)
	for m in "$a1" "$a2"; do
		expect_eq parent "$(jq -r .parentSpanId <<<"$m")" \
		    "$(jq -r .spanId <<<"$call")"
		expect_eq trace "$(jq -r .traceId <<<"$m")" \
		    "$(jq -r .traceId <<<"$call")"
	done
	expect_eq a1-target "$(ot_attr "$a1" llmfb.target)" first
	expect_eq a1-status "$(ot_attr "$a1" http.response.status_code)" 503
	expect_eq a1-class "$(ot_attr "$a1" llmfb.class)" technical
	expect_match a1-kind "$(ot_attr "$a1" llmfb.kind)" .
	expect_eq a2-target "$(ot_attr "$a2" llmfb.target)" second
	expect_eq a2-status "$(ot_attr "$a2" http.response.status_code)" 200
	expect_eq no-secret "$(grep -c -e 'sk-' -e 'Bearer' -e '"hi"' \
	    "$OT_DIR/bodies")" 0
	expect_match exported "$("$B/llmfbctl" -s "$HD/control.sock" \
	    metrics)" 'llmfb_otel_spans_exported_total 3'
	# The collector goes away: calls are served at once all the same,
	# and the spans it did not take are counted.
	kill "$OT_PID"
	wait "$OT_PID" 2>/dev/null
	mock_reset
	call curl "$OAI" "$CHAT"
	expect_eq down-status "$CODE" 200
	expect_lt down-elapsed "$ELAPSED" 2000
	wait_for "spans dropped" sh -c "'$B/llmfbctl' -s '$HD/control.sock' \
	    metrics | grep -q '^llmfb_otel_spans_dropped_total [1-9]'" ||
	    ERRS="$ERRS; no dropped spans counted"
	kill "$HD_PID" 2>/dev/null
	wait "$HD_PID" 2>/dev/null
	rm -rf "$HD" "$OT_DIR"
	shim_on		# back to the suite's llmfbd
	finish "otel: a call and its attempts as OTLP/HTTP JSON spans; the collector down costs no call"
}

otel_cases() {
	o_otel_spans
}
