# Dialect translation end to end: a caller of one provider's API whose
# primary fails is served by a target of the other dialect, and reads a
# valid answer in its own.  The Anthropic caller is a Python program
# (httpx), the OpenAI one the curl CLI (lcclient in a sanitized build);
# tests/e2e/dialect_client.py reads their answers as the SDKs would.  The
# routes are xa and xo in e2e.yaml; the mock's last_request shows what
# the other dialect's target really got.  Sourced by run.sh.

DC=tests/e2e/dialect_client.py

# dc_call anthropic|openai URL DATA [--stream]: the Python caller, under
# the shim.  Sets OUT (its summary) and DC_RC.
dc_call() {
	OUT=$(env "${SHIM_ENV[@]}" "$PY" "$DC" call "$@" \
	    -H "x-api-key: $CALLER_KEY" 2>"$STACK_DIR/dc.err")
	DC_RC=$?
	grep -h -A20 -E 'Sanitizer|runtime error' "$STACK_DIR/dc.err" \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
}

# dc_check openai|anthropic stream|body: read the body of the last call.
dc_check() {
	OUT=$("$PY" "$DC" check "$1" "$2" "$STACK_DIR/out/0.body")
	DC_RC=$?
}

o() { jq -c "$1" <<<"$OUT"; }
last_req() { mockc "$MOCK_URL/_mock/stats" | jq -c --arg n "$1" \
    ".[\$n].last_request | $2"; }

TOOLS_OAI='"tools":[{"type":"function","function":{"name":"lookup","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]'
TOOLS_ANT='"tools":[{"name":"lookup","description":"Weather in a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]'

x_anthropic_caller() {
	local req='{"model":"case-xa","max_tokens":100,"system":"Be brief.","messages":[{"role":"user","content":"hi"}]}'

	mock_reset
	mock_script xap 'status=529'
	dc_call anthropic "$ANT" "$req"
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq status "$(o .status)" 200
	expect_eq served "$(o '.headers["x-llmfb-target"]')" '"xo"'
	expect_eq translated "$(o '.headers["x-llmfb-translated"]')" '"openai"'
	expect_eq text "$(o .text)" '"Hello from xo"'
	expect_eq stop "$(o .stop)" '"end_turn"'
	expect_eq usage "$(o .usage)" '{"input":10,"output":5}'
	expect_eq model "$(o .model)" '"gpt-4o-mini"'
	expect_eq sent "$(last_req xo '[.model, .messages[0], .max_tokens]')" \
	    '["gpt-4o-mini",{"role":"system","content":"Be brief."},100]'
	expect_eq no-anthropic-headers "$(mockc "$MOCK_URL/_mock/stats" |
	    jq -c '.xo.last_headers | keys | map(select(startswith("anthropic-") or . == "x-api-key"))')" '[]'
	finish "dialect: an Anthropic caller (python) served by an OpenAI target"

	mock_reset
	mock_script xap 'status=529'
	dc_call anthropic "$ANT" "${req%\}},\"stream\":true}" --stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq events "$(o '[.events[0], .events[-1]]')" \
	    '["message_start","message_stop"]'
	expect_eq text "$(o .text)" '"Hello from xo"'
	expect_eq stop "$(o .stop)" '"end_turn"'
	expect_eq usage "$(o .usage)" '{"input":10,"output":5}'
	expect_eq sent "$(last_req xo '[.stream, .stream_options.include_usage]')" \
	    '[true,true]'
	expect_eq record "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json \
	    events 1 | jq -c '[.served, .translated, .tokens.input]')" \
	    '["xo",true,10]'
	finish "dialect: an Anthropic stream (python) served by an OpenAI target"
}

x_openai_caller() {
	local req='{"model":"case-xo","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]'

	mock_reset
	mock_script xop 'status=503'
	call "$LK" "$OAI" "$req}"
	dc_check openai body
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" xan
	expect_eq text "$(o .text)" '"Hello from xan"'
	expect_eq finish "$(o .stop)" '"stop"'
	expect_eq usage "$(o .usage)" '{"input":10,"output":5}'
	expect_eq model "$(o .model)" '"claude-3-5-haiku"'
	expect_eq sent "$(last_req xan '[.model, .system, .max_tokens, .messages]')" \
	    '["claude-3-5-haiku","Be brief.",4096,[{"role":"user","content":"hi"}]]'
	expect_eq version "$(mockc "$MOCK_URL/_mock/stats" |
	    jq -r '.xan.last_headers["anthropic-version"]')" 2023-06-01
	finish "dialect: an OpenAI caller ($LK) served by an Anthropic target"

	mock_reset
	mock_script xop 'status=503'
	call "$LK" "$OAI" "$req,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq target "$TARGET" xan
	expect_eq text "$(o .text)" '"Hello from xan"'
	expect_eq finish "$(o .stop)" '"stop"'
	expect_eq ends "$(o '.events[-2:]')" '["usage","[DONE]"]'
	expect_eq usage "$(o .usage)" '{"input":10,"output":5}'
	finish "dialect: an OpenAI stream ($LK) served by an Anthropic target"
}

# A tool call round trip across dialects: the model asks for a tool, the
# caller runs it and sends the result back, both through the other API.
x_tools() {
	local head msgs id

	mock_reset
	mock_script xop 'status=503'
	mock_script xan 'tool_args={"city":"Paris"}' 'text=It+is+18C+in+Paris.'
	head="{\"model\":\"case-xo\",$TOOLS_OAI"
	msgs='{"role":"user","content":"Weather in Paris?"}'
	call "$LK" "$OAI" "$head,\"tool_choice\":\"required\",\"messages\":[$msgs]}"
	dc_check openai body
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq finish "$(o .stop)" '"tool_calls"'
	expect_eq call "$(o '.tools[0] | [.name, .args]')" \
	    '["lookup",{"city":"Paris"}]'
	expect_eq sent "$(last_req xan '[.tools[0].name, .tools[0].input_schema.required, .tool_choice]')" \
	    '["lookup",["city"],{"type":"any"}]'
	id=$(o '.tools[0].id')
	msgs="$msgs,{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":$id,\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}"
	msgs="$msgs,{\"role\":\"tool\",\"tool_call_id\":$id,\"content\":\"18C\"}"
	call "$LK" "$OAI" "$head,\"messages\":[$msgs]}"
	dc_check openai body
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq answer "$(o .text)" '"It is 18C in Paris."'
	expect_eq sent-call "$(last_req xan '.messages[1].content[0] | [.type, .id, .input]')" \
	    "[\"tool_use\",$id,{\"city\":\"Paris\"}]"
	expect_eq sent-result "$(last_req xan '.messages[2] | [.role, .content[0].type, .content[0].tool_use_id, .content[0].content]')" \
	    "[\"user\",\"tool_result\",$id,\"18C\"]"
	finish "dialect: a tool call round trip, OpenAI caller, Anthropic target"

	# The other way, streamed: the arguments come as OpenAI fragments and
	# leave as input_json_delta.
	mock_reset
	mock_script xap 'status=529'
	mock_script xo 'tool_args={"city":"Paris"} chunks=4'
	dc_call anthropic "$ANT" "{\"model\":\"case-xa\",\"max_tokens\":200,\"stream\":true,$TOOLS_ANT,\"tool_choice\":{\"type\":\"tool\",\"name\":\"lookup\"},\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]}" --stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq stop "$(o .stop)" '"tool_use"'
	expect_eq call "$(o '.tools[0] | [.name, .args]')" \
	    '["lookup",{"city":"Paris"}]'
	expect_eq sent "$(last_req xo '[.tools[0].function.name, .tool_choice]')" \
	    '["lookup",{"type":"function","function":{"name":"lookup"}}]'
	finish "dialect: a streamed tool call, Anthropic caller, OpenAI target"
}

x_errors() {
	# The caller's own mistake, as the other target said it: returned
	# as is, in the caller's dialect.
	mock_reset
	mock_script xap 'status=529'
	mock_script xo 'status=400'
	dc_call anthropic "$ANT" '{"model":"case-xa","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq status "$(o .status)" 400
	expect_eq error "$(o .error)" \
	    '{"message":"mock xo status 400","type":"invalid_request_error"}'
	expect_eq type "$(o '.headers["content-type"]')" '"application/json"'
	finish "dialect: an OpenAI target's 400 reaches an Anthropic caller as its own"

	mock_reset
	mock_script xop 'status=503'
	mock_script xan 'status=400'
	call "$LK" "$OAI" '{"model":"case-xo","messages":[{"role":"user","content":"hi"}]}'
	dc_check openai body
	expect_eq status "$CODE" 400
	expect_eq error "$(o .error)" \
	    '{"message":"mock xan status 400","type":"invalid_request_error"}'
	finish "dialect: an Anthropic target's 400 reaches an OpenAI caller as its own"

	# What the other dialect cannot say: that target does not qualify.
	mock_reset
	mock_script xop 'status=503'
	call "$LK" "$OAI" '{"model":"case-xo","n":2,"messages":[{"role":"user","content":"hi"}]}'
	expect_eq status "$CODE" 503
	expect_eq reasons "$REASONS" "xop=http-503,xan=dialect:n"
	expect_eq xan-untouched "$(mock_stat xan requests)" 0
	finish "dialect: a request the other dialect cannot say skips its targets"

	mock_reset
	mock_script xop 'status=503'
	call "$LK" "$OAI" '{"model":"case-xq","messages":[{"role":"user","content":"hi"}]}'
	expect_eq reasons "$REASONS" "xop=http-503,xan=dialect:model"
	expect_eq xan-untouched "$(mock_stat xan requests)" 0
	finish "dialect: a target with no model for the request does not qualify"
}

# A stream cut mid-answer, continued on a target of the other dialect: the
# prefix goes over in its dialect, the rest comes back in the caller's.
x_continue() {
	mock_reset
	mock_script xop 'chunks=4 cut_after=2 text=one+two+three+four'
	mock_script xan 'text=+three+four'
	call "$LK" "$OAI" '{"model":"case-ycut-oai","stream":true,"messages":[{"role":"user","content":"hi"}]}'
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq whole "$(o .text)" '"one two three four"'
	# Anthropic refuses a prefix ending in a blank: it went without.
	expect_eq prefix "$(mock_str xan last_prefix)" "one two"
	expect_eq attempts "$(mock_stat xop requests) $(mock_stat xan requests)" \
	    "1 1"
	finish "dialect: an OpenAI stream cut mid-answer continues on an Anthropic target"

	mock_reset
	mock_script xap 'chunks=4 cut_after=2 text=one+two+three+four'
	mock_script xo 'text=three+four'
	dc_call anthropic "$ANT" '{"model":"case-ycut-ant","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}' --stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq whole "$(o .text)" '"one two three four"'
	expect_eq one-start "$(o '[.events[] | select(. == "message_start")] | length')" 1
	expect_eq prefix "$(mock_str xo last_prefix)" "one two "
	finish "dialect: an Anthropic stream cut mid-answer continues on an OpenAI target"
}

# The provider's own error inside a translated stream: it reaches the
# caller as llmfb's one error event, never as the target's translated.
x_stream_error() {
	mock_reset
	mock_script xap 'status=529'
	mock_script xo 'chunks=3 stream_error=1 text=one+two+three'
	dc_call anthropic "$ANT" '{"model":"case-xa","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}' --stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq partial "$(o .text)" '"one "'
	expect_eq one-error "$(o '[.events[] | select(. == "error")] | length')" 1
	expect_match llmfbs "$(o .error.message)" '^"llmfb: '
	finish "dialect: an OpenAI target's error chunk reaches an Anthropic caller (python) as one error event"

	mock_reset
	mock_script xop 'status=503'
	mock_script xan 'chunks=3 stream_error=1 text=one+two+three'
	call "$LK" "$OAI" '{"model":"case-xo","stream":true,"messages":[{"role":"user","content":"hi"}]}'
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq partial "$(o .text)" '"one "'
	expect_eq one-error "$(o '[.events[] | select(. == "error")] | length')" 1
	expect_match llmfbs "$(o .error.message)" '^"llmfb: '
	finish "dialect: an Anthropic target's error event reaches an OpenAI caller ($LK) as one error event"

	# A whole answer of the other dialect past the 8 MiB hold cannot be
	# translated: the next rung, or the safe failure, never its bytes.
	mock_reset
	mock_script xap 'status=529'
	mock_script xo 'text_kb=9216'
	dc_call anthropic "$ANT" '{"model":"case-xa","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq status "$(o .status)" 503
	expect_eq reasons "$(o '.headers["x-llmfb-reasons"]')" \
	    '"xap=http-529,xo=answer-too-large"'
	finish "dialect: a whole answer of the other dialect past the hold is too large, said so"
}

dialect_cases() {
	x_anthropic_caller
	x_openai_caller
	x_tools
	x_continue
	x_stream_error
	x_errors
}
