# The fallback ladder end to end: every failure class, scripted at the
# mock, through the shim with the curl CLI and lcclient.  The routes are
# in e2e.yaml (matched by model "case-*"); the mock's counters prove which
# rungs were attempted.  Sourced by run.sh.

# The client for most cases: the curl CLI, or lcclient in a sanitized
# build (Debian's curl hangs with the ASan runtime preloaded).
LK=curl
[ -z "${LLMFB_TEST_SANITIZED:-}" ] || LK=easy

lreq() {	# MODEL [extra JSON members]
	echo "{\"model\":\"$1\"${2:+,$2},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}

# The text of an OpenAI stream's deltas, or of an Anthropic stream's.
sse_text() {
	grep '^data: {' <<<"$1" | sed 's/^data: //' |
	    jq -rj '.choices[0].delta.content // .delta.text // empty'
}

# counts A B C D: the mock's request counters of the four ladder rungs.
counts() {
	echo "$(mock_stat la requests) $(mock_stat lb requests)" \
	    "$(mock_stat lc requests) $(mock_stat llocal requests)"
}

EMB=https://api.openai.com/v1/embeddings

# Embeddings on the ladder (e2e.yaml route "embeddings": emb-a 1536,
# emb-b 768, emb-an Anthropic, emb-c 1536).
l_embeddings() {
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$EMB" '{"model":"case-emb","input":"hello"}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" emb-c
	expect_eq reasons "$REASONS" \
	    "emb-a=http-503,emb-b=dimensions,emb-an=dialect:no-translation"
	expect_eq answer "$(jq -c '[.object, (.data | length),
	    .data[0].embedding[0], (.data[0].embedding | length)]' \
	    <<<"$BODY")" '["list",1,2,8]'
	expect_eq rungs "$(mock_stat la requests) $(mock_stat lb requests) $(
	    mock_stat laa requests) $(mock_stat lc requests)" "1 0 0 1"
	finish "embeddings: a 503 -> the next rung of the same dimensions; one of others and an Anthropic one do not qualify"

	# Asked for 768: only emb-b has them.
	mock_reset
	call "$LK" "$EMB" '{"model":"case-emb","input":"hello","dimensions":768}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" emb-b
	expect_eq length "$(jq '.data[0].embedding | length' <<<"$BODY")" 768
	finish "embeddings: the dimensions a request asks choose the rungs"

	# A Python program with requests, two inputs.
	mock_reset
	mock_script la 'status=503'
	out=$(env "${SHIM_ENV[@]}" /usr/bin/python3 -c '
import requests
r = requests.post("https://api.openai.com/v1/embeddings",
    json={"model": "case-emb", "input": ["a", "b"], "dimensions": 1536},
    headers={"Authorization": "Bearer sk-caller"}, timeout=20)
d = r.json()["data"]
print(r.status_code, r.headers.get("x-llmfb-target"), len(d),
    len(d[1]["embedding"]))' 2>&1)
	expect_eq python "$out" "200 emb-c 2 1536"
	finish "embeddings: python requests, two inputs, down the ladder"
}

CMPL=https://api.openai.com/v1/completions

# OpenAI's legacy Completions API from unmodified clients (e2e.yaml routes
# "completions": lk speaks it, la (chat, no model for the call), lkb
# (chat, its own model); "completions-anthropic": lk, lka).
l_completions() {
	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl","prompt":"Say hi","max_tokens":20}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lkb
	expect_eq reasons "$REASONS" "lk=http-503,la=dialect:model"
	[ "$LK" != curl ] ||
	    expect_eq translated "$(hdr x-llmfb-translated)" openai
	expect_eq answer "$(jq -c '[.object, .choices[0].text,
	    .choices[0].finish_reason, .usage.completion_tokens > 0]' \
	    <<<"$BODY")" '["text_completion","Hello from lb","stop",true]'
	expect_eq sent "$(mockc "$MOCK_URL/_mock/stats" | jq -c '.lb | [.last_path,
	    .last_model, .last_request.messages, .last_request.max_tokens]')" \
	    '["/lb/v1/chat/completions","gpt-lb",[{"role":"user","content":"Say hi"}],20]'
	finish "completions: a legacy Completions call served by a chat target after a 503, translated both ways"

	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl","prompt":"Say hi","stream":true}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lkb
	expect_eq objects "$(grep '^data: {' <<<"$BODY" | sed 's/^data: //' |
	    jq -r .object | sort -u)" text_completion
	expect_eq text "$(grep '^data: {' <<<"$BODY" | sed 's/^data: //' |
	    jq -rj '.choices[0].text // empty')" "Hello from lb"
	expect_eq finish "$(grep '^data: {' <<<"$BODY" | sed 's/^data: //' |
	    jq -r '.choices[0].finish_reason // empty')" stop
	expect_eq done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 1
	finish "completions: streamed, as text_completion chunks and [DONE] from a chat stream"

	# The provider that speaks it answers as it is, whole and streamed.
	mock_reset
	call "$LK" "$CMPL" '{"model":"case-cmpl","prompt":"Say hi","echo":true}'
	expect_eq target "$TARGET" lk
	expect_eq answer "$(jq -r '.object + " " + .choices[0].text' \
	    <<<"$BODY")" "text_completion Hello from lk"
	[ "$LK" != curl ] || expect_eq translated "$(hdr x-llmfb-translated)" "-"
	call "$LK" "$CMPL" '{"model":"case-cmpl","prompt":"Say hi","stream":true}'
	expect_eq stream-target "$TARGET" lk
	expect_eq stream-text "$(grep '^data: {' <<<"$BODY" |
	    sed 's/^data: //' | jq -rj '.choices[0].text // empty')" \
	    "Hello from lk"
	finish "completions: a Completions provider answers a Completions caller as it is"

	# What chat cannot say (echo: the prompt in the answer) leaves the
	# chat targets out.
	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl","prompt":"Say hi","echo":true}'
	expect_eq status "$CODE" 503
	expect_eq reasons "$REASONS" "lk=http-503,la=dialect:echo,lkb=dialect:echo"
	expect_eq chat-rungs "$(mock_stat la requests) $(mock_stat lb requests)" "0 0"
	expect_eq error "$(jq -r .error.type <<<"$BODY")" llmfb_unavailable
	finish "completions: echo does not translate: the chat targets do not qualify"

	# A Python program with requests, the prompt an array of one.
	mock_reset
	mock_script lk 'status=503'
	out=$(env "${SHIM_ENV[@]}" /usr/bin/python3 -c '
import requests
r = requests.post("https://api.openai.com/v1/completions",
    json={"model": "case-cmpl", "prompt": ["Once upon a time"]},
    headers={"Authorization": "Bearer sk-caller"}, timeout=20)
j = r.json()
print(r.status_code, r.headers.get("x-llmfb-target"), j["object"],
    j["choices"][0]["text"])' 2>&1)
	expect_eq python "$out" "200 lkb text_completion Hello from lb"
	finish "completions: python requests, a prompt array, down the ladder"

	# An Anthropic target, through chat completions both ways.
	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl-an","prompt":"Say hi"}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lka
	expect_eq answer "$(jq -r '.object + " " + .choices[0].text' \
	    <<<"$BODY")" "text_completion Hello from laa"
	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl-an","prompt":"Say hi","stream":true}'
	expect_eq stream-target "$TARGET" lka
	expect_eq stream-text "$(grep '^data: {' <<<"$BODY" |
	    sed 's/^data: //' | jq -rj '.choices[0].text // empty')" \
	    "Hello from laa"
	expect_eq stream-done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 1
	finish "completions: an Anthropic target through chat completions, whole and streamed"

	# A Responses target, through chat completions both ways: its typed
	# events become completion chunks in two hops.
	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl-r","prompt":"Say hi","max_tokens":9}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lkr
	expect_eq answer "$(jq -r '.object + " " + .choices[0].text' \
	    <<<"$BODY")" "text_completion Hello from lr"
	expect_eq sent "$(mockc "$MOCK_URL/_mock/stats" | jq -c '.lr | [.last_path,
	    .last_model, .last_request.max_output_tokens]')" \
	    '["/lr/v1/responses","gpt-r",9]'
	mock_reset
	mock_script lk 'status=503'
	call "$LK" "$CMPL" '{"model":"case-cmpl-r","prompt":"Say hi","stream":true}'
	expect_eq stream-target "$TARGET" lkr
	expect_eq stream-text "$(grep '^data: {' <<<"$BODY" |
	    sed 's/^data: //' | jq -rj '.choices[0].text // empty')" \
	    "Hello from lr"
	expect_eq stream-objects "$(grep '^data: {' <<<"$BODY" |
	    sed 's/^data: //' | jq -r .object | sort -u)" text_completion
	expect_eq stream-done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 1
	finish "completions: a Responses target through chat completions, whole and streamed"
}

RESP=https://api.openai.com/v1/responses

# OpenAI's Responses API from an unmodified client, served by a
# chat-completions target after the first fails (e2e.yaml route
# "responses": la, laa (Anthropic, with no model for the call), lb).
l_responses() {
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$RESP" '{"model":"case-resp","input":"hi","instructions":"be brief"}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lb
	expect_eq reasons "$REASONS" "la=http-503,laa=dialect:model"
	expect_eq answer "$(jq -c '[.object, .status, .output[0].type,
	    .output[0].content[0].text, (.usage.output_tokens > 0)]' \
	    <<<"$BODY")" '["response","completed","message","Hello from lb",true]'
	finish "responses: a Responses call served by a chat-completions target after a 503, an Anthropic rung without a model not qualifying"

	mock_reset
	mock_script la 'status=503'
	call "$LK" "$RESP" '{"model":"case-resp","input":"hi","stream":true}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lb
	expect_eq events "$(sed -n 's/^event: //p' <<<"$BODY" | sort -u |
	    paste -sd' ')" "response.completed response.content_part.added response.content_part.done response.created response.in_progress response.output_item.added response.output_item.done response.output_text.delta response.output_text.done"
	expect_eq text "$(sed -n 's/^data: //p' <<<"$BODY" |
	    jq -rj 'select(.type == "response.output_text.delta") | .delta')" \
	    "Hello from lb"
	expect_eq last "$(sed -n 's/^event: //p' <<<"$BODY" | tail -1)" \
	    response.completed
	finish "responses: streamed, as Responses' typed events from a chat-completions stream"

	# A Python program with requests, a function tool in the request.
	mock_reset
	mock_script la 'status=503'
	out=$(env "${SHIM_ENV[@]}" /usr/bin/python3 -c '
import requests
r = requests.post("https://api.openai.com/v1/responses",
    json={"model": "case-resp", "input": [{"role": "user",
    "content": [{"type": "input_text", "text": "hi"}]}],
    "tools": [{"type": "function", "name": "lookup",
    "parameters": {"type": "object", "properties": {}}}]},
    headers={"Authorization": "Bearer sk-caller"}, timeout=20)
j = r.json()
print(r.status_code, r.headers.get("x-llmfb-target"), j["object"],
    j["output"][0]["content"][0]["text"])' 2>&1)
	expect_eq python "$out" "200 lb response Hello from lb"
	finish "responses: python requests with a function tool, down the ladder"

	# A provider of Responses itself (lr) serves a Responses caller as
	# it came...
	mock_reset
	call "$LK" "$RESP" '{"model":"case-resp-native","input":"hi"}'
	expect_eq target "$TARGET" lr
	expect_eq answer "$(jq -r '.object + " " + .output[0].content[0].text' \
	    <<<"$BODY")" "response Hello from lr"
	# (lcclient reports no such header: curl only)
	[ "$LK" != curl ] || expect_eq translated "$(hdr x-llmfb-translated)" "-"
	finish "responses: a Responses provider answers a Responses caller as it is"

	# ... and a chat caller through translation, whole and streamed.
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$OAI" "$(lreq case-to-resp)"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lr
	[ "$LK" != curl ] ||
	    expect_eq translated "$(hdr x-llmfb-translated)" openai-responses
	expect_eq answer "$(jq -r '.object + " " + .choices[0].message.content +
	    " " + .choices[0].finish_reason' <<<"$BODY")" \
	    "chat.completion Hello from lr stop"
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$OAI" "$(lreq case-to-resp '"stream":true')"
	expect_eq stream-target "$TARGET" lr
	expect_eq text "$(sse_text "$BODY")" "Hello from lr"
	expect_eq done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 1
	finish "responses: a chat caller served by a Responses target, whole and streamed"

	# A Responses caller served by an Anthropic target (lra), through
	# chat completions both ways.
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$RESP" '{"model":"case-resp-an","input":"hi"}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lra
	expect_eq answer "$(jq -r '.object + " " + .output[0].content[0].text' \
	    <<<"$BODY")" "response Hello from laa"
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$RESP" '{"model":"case-resp-an","input":"hi","stream":true}'
	expect_eq stream-target "$TARGET" lra
	expect_eq text "$(sed -n 's/^data: //p' <<<"$BODY" |
	    jq -rj 'select(.type == "response.output_text.delta") | .delta')" \
	    "Hello from laa"
	expect_eq last "$(sed -n 's/^event: //p' <<<"$BODY" | tail -1)" \
	    response.completed
	finish "responses: a Responses caller served by an Anthropic target, whole and streamed"
}

l_technical() {
	mock_reset
	mock_script la 'status=529'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lb
	expect_eq reasons "$REASONS" la=http-529
	expect_eq attempts "$(counts)" "1 1 0 0"
	finish "ladder: 529 overloaded is technical -> next rung"

	mock_reset
	mock_script la 'ttft_ms=3s'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" lb
	expect_eq reasons "$REASONS" la=timeout-first-token
	expect_eq text "$(sse_text "$BODY")" "Hello from lb"
	expect_lt "time (ms)" "$ELAPSED" 2500
	expect_eq attempts "$(counts)" "1 1 0 0"
	finish "ladder: no first token in time on a stream -> next rung"

	# Broken before its first content: the caller never sees it.
	mock_reset
	mock_script la 'cut_after=0'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq text "$(sse_text "$BODY")" "Hello from lb"
	expect_eq no-error-event "$(grep -c '"error"' <<<"$BODY")" 0
	expect_eq attempts "$(counts)" "1 1 0 0"
	finish "ladder: a stream cut before its first content falls back unseen"

	# Ended without its end marker, before content: truncated.
	mock_reset
	mock_script la 'text= no_end=1'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq target "$TARGET" lb
	expect_eq attempts "$(counts)" "1 1 0 0"
	finish "ladder: a stream without its end marker is technical"

	# A 200 with no body at all is no answer: never a silent empty one.
	mock_reset
	mock_script la 'malformed=2'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq target "$TARGET" lb
	expect_match body "$BODY" '"Hello from lb"'
	expect_eq attempts "$(counts)" "1 1 0 0"
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq stream-target "$TARGET" lb
	expect_eq text "$(sse_text "$BODY")" "Hello from lb"
	finish "ladder: an empty 200 body, whole or streamed, is technical"
}

l_quality() {
	mock_reset
	mock_script la 'text='
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq target "$TARGET" lc
	expect_eq reasons "$REASONS" la=empty
	expect_match body "$BODY" '"Hello from lc"'
	expect_eq attempts "$(counts)" "1 0 1 0"
	finish "ladder: empty answer is a quality miss -> the quality rung"

	mock_reset
	mock_script la 'text=not+json' && mock_script lc 'text={"ok":true}'
	call "$LK" "$OAI" "$(lreq case-class \
	    '"response_format":{"type":"json_object"}')"
	expect_eq target "$TARGET" lc
	expect_eq reasons "$REASONS" la=bad-json
	expect_eq answer "$(jq -r .choices[0].message.content <<<"$BODY")" \
	    '{"ok":true}'
	expect_eq attempts "$(counts)" "1 0 1 0"
	# Not asked for JSON: the same text is a fine answer.
	mock_reset
	mock_script la 'text=not+json'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq not-asked "$TARGET" la
	finish "ladder: invalid JSON when JSON was asked -> the quality rung"

	mock_reset
	mock_script la 'finish=length'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq length "$TARGET" lc
	expect_eq length-reason "$REASONS" la=length
	mock_reset
	mock_script la 'tool_args={"city":'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq tool-args "$TARGET" lc
	expect_eq tool-args-reason "$REASONS" la=tool-args
	mock_reset
	mock_script la 'tool_args={"city":"Paris"}'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq good-tool-args "$TARGET" la
	finish "ladder: cut by length (forbidden) and bad tool arguments -> quality rung"

	# An empty stream is held to its end, then falls back unseen.
	mock_reset
	mock_script la 'text='
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq target "$TARGET" lc
	expect_eq text "$(sse_text "$BODY")" "Hello from lc"
	finish "ladder: an empty stream falls back unseen"
}

l_policy() {
	mock_reset
	mock_script la 'refusal=1'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq target "$TARGET" llocal
	expect_eq reasons "$REASONS" la=refusal
	expect_eq attempts "$(counts)" "1 0 0 1"
	finish "ladder: a refusal is policy -> the policy rung"

	# Too long for la's 1000-token window: never sent there.
	local big
	big=$(printf 'word %.0s' $(seq 1200))
	mock_reset
	call "$LK" "$OAI" "{\"model\":\"case-class\",\"messages\":[{\"role\":\"user\",\"content\":\"$big\"}]}"
	expect_eq target "$TARGET" lc
	expect_eq reasons "$REASONS" la=context-window
	expect_eq attempts "$(counts)" "0 0 1 0"
	# The provider says so: the same rung.
	mock_reset
	mock_script la 'status=400 error=context'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq provider-says "$TARGET" lc
	expect_eq provider-says-reason "$REASONS" la=context
	expect_eq provider-says-attempts "$(counts)" "1 0 1 0"
	finish "ladder: context too long (estimated, or the provider's 400) -> larger-context target"

	# The caller's own bad request: returned as is, never retried.
	mock_reset
	mock_script la 'status=400'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq status "$CODE" 400
	expect_eq target "$TARGET" la
	expect_eq attempts "$(counts)" "1 0 0 0"
	finish "ladder: the caller's own 400 is returned as is"
}

# A 4xx on llmfb's own key at a provider the caller did not call is never
# the caller's mistake (DeepSeek's 402, Ollama's 404, a 422): the next
# rung serves, whole or streamed, in either caller dialect; with nothing
# left, the safe failure answers, never that provider's 4xx.  At the
# caller's own provider, a 4xx moves on when retry_on names it.
l_foreign_4xx() {
	local st
	for st in 402 404 422; do
		mock_reset
		mock_script la "status=$st"
		call "$LK" "$OAI" "$(lreq case-class)"
		expect_eq "$st-status" "$CODE" 200
		expect_eq "$st-target" "$TARGET" lb
		expect_eq "$st-reasons" "$REASONS" "la=http-$st"
		expect_eq "$st-attempts" "$(counts)" "1 1 0 0"
	done
	mock_reset
	mock_script la 'status=402'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq stream-target "$TARGET" lb
	expect_eq stream-text "$(sse_text "$BODY")" "Hello from lb"
	mock_reset
	mock_script la 'status=404'
	mock_script lb 'status=404'
	mock_script lc 'status=402'
	mock_script llocal 'status=422'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq all-status "$CODE" 503
	expect_eq all-target "$TARGET" none
	expect_match all-safe "$(jq -r .error.message <<<"$BODY")" \
	    'no target could serve'
	# The Anthropic caller, its first rung Anthropic, then OpenAI.
	mock_reset
	mock_script xap 'status=404'
	call "$LK" "$ANT" '{"model":"case-xa","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
	expect_eq a-status "$CODE" 200
	expect_eq a-target "$TARGET" xo
	expect_eq a-text "$(jq -r '.content[0].text' <<<"$BODY")" \
	    "Hello from xo"
	mock_reset
	mock_script xap 'status=529'
	mock_script xo 'status=402'
	call "$LK" "$ANT" '{"model":"case-xa","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
	expect_eq a-safe-status "$CODE" 503
	expect_eq a-safe-shape "$(jq -r .error.type <<<"$BODY")" \
	    overloaded_error
	# The caller's own provider: the caller's, unless retry_on names it.
	mock_reset
	mock_script primary 'status=404'
	call "$LK" "$OAI" "$CHAT"
	expect_eq own-status "$CODE" 404
	expect_eq own-attempts "$(mock_stat secondary requests)" 0
	call "$LK" "$OAI" "$(lreq case-named-4xx)"
	expect_eq named-status "$CODE" 200
	expect_eq named-target "$TARGET" secondary
	finish "ladder: a 402/404/422 at a provider the caller did not call moves on; retry_on may name a 4xx"
}

# The call's deadline ends an attempt that waits for its first token on a
# connection already open: a timeout of the whole, never of the connect.
l_deadline() {
	local i
	mock_reset
	call "$LK" "$OAI" "$(lreq case-deadline)"	# la's connection, kept
	expect_eq warm "$TARGET" la
	mock_script la 'ttft_ms=3s'
	for i in 1 2; do
		call "$LK" "$OAI" "$(lreq case-deadline '"stream":true')"
		expect_eq "status-$i" "$CODE" 503
		expect_eq "reasons-$i" "$REASONS" la=timeout-total
		expect_lt "time-$i (ms)" "$ELAPSED" 2500
	done
	finish "ladder: a deadline that ends the wait for a first token is timeout-total, not connect"
}

lq_busy() { [ "$(mock_stat lq requests)" = 1 ]; }

l_region_queue_key() {
	local pid
	mock_reset
	call "$LK" "$OAI" "$(lreq case-eu)"
	expect_eq region "$TARGET" lb
	expect_eq region-reason "$REASONS" la=tags
	expect_eq region-attempts "$(counts)" "0 1 0 0"
	# lq takes one call at a time: the second, while the first is in
	# flight, is passed over at no attempt.
	mock_script lq 'delay_ms=1500'
	env "${SHIM_ENV[@]}" "$B/lcclient" --mode easy --data \
	    "$(lreq case-queue)" "$OAI" >"$STACK_DIR/queue.1" 2>&1 &
	pid=$!
	wait_for "lq busy" lq_busy
	call "$LK" "$OAI" "$(lreq case-queue)"
	wait "$pid"
	expect_eq queue "$TARGET" lb
	expect_eq queue-reason "$REASONS" lq=queue-full
	expect_match first-served "$(cat "$STACK_DIR/queue.1")" 'target=lq'
	expect_eq lq-attempts "$(mock_stat lq requests)" 1
	# 401 to the caller's own key at its own provider: the caller's.
	mock_reset
	mock_script primary 'status=401'
	call "$LK" "$OAI" "$CHAT"
	expect_eq own-key "$CODE" 401
	expect_eq own-key-attempts "$(mock_stat primary requests) $(mock_stat secondary requests)" \
	    "1 0"
	finish "ladder: region tags, a target at its concurrency limit, the caller's own 401"
}

l_midstream() {
	local text
	# error: the route ends the stream with an error event.
	mock_reset
	mock_script la 'chunks=3 cut_after=1 text=one+two+three'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq status "$CODE" 200
	expect_eq partial "$(sse_text "$BODY")" "one "
	expect_match error-event "$BODY" '"code":"llmfb_stream_interrupted"'
	expect_eq attempts "$(counts)" "1 0 0 0"
	finish "ladder: a stream cut after it began ends with an error event"

	mock_reset
	mock_script la 'chunks=3 stall_after=1 stall_ms=2s text=one+two+three'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	expect_eq partial "$(sse_text "$BODY")" "one "
	expect_match error-event "$BODY" 'timeout-idle'
	expect_lt "time (ms)" "$ELAPSED" 1800
	finish "ladder: an idle gap inside a stream ends it with an error event"

	# continue: the next rung writes the rest after the partial answer.
	mock_reset
	mock_script la 'chunks=4 cut_after=2 text=one+two+three+four'
	mock_script lb 'text=three+four'
	call "$LK" "$OAI" "$(lreq case-cut '"stream":true')"
	expect_eq whole "$(sse_text "$BODY")" "one two three four"
	expect_eq prefix "$(mock_str lb last_prefix)" "one two "
	expect_eq no-error "$(grep -c '"error"' <<<"$BODY")" 0
	expect_eq one-done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 1
	expect_eq attempts "$(mock_stat la requests) $(mock_stat lb requests)" \
	    "1 1"
	finish "ladder: a stream cut mid-answer continues on the next rung (openai)"

	mock_reset
	mock_script laa 'chunks=4 cut_after=2 text=one+two+three+four'
	mock_script lab 'text=+three+four'
	call "$LK" "$ANT" '{"model":"case-acut","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
	text=$(sse_text "$BODY")
	expect_eq whole "$text" "one two three four"
	expect_eq prefix "$(mock_str lab last_prefix)" "one two"
	for ev in message_start content_block_start content_block_stop \
	    message_delta message_stop; do
		expect_eq "one $ev" "$(grep -c "^event: $ev" <<<"$BODY")" 1
	done
	expect_eq no-error "$(grep -c '^event: error' <<<"$BODY")" 0
	finish "ladder: a stream cut mid-answer continues on the next rung (anthropic)"

	# Never after a tool call: an error event instead.
	mock_reset
	mock_script la 'chunks=3 cut_after=1 tool_args={"city":"Paris"}'
	call "$LK" "$OAI" "$(lreq case-cut '"stream":true')"
	expect_match error-event "$BODY" '"code":"llmfb_stream_interrupted"'
	expect_eq lb-untouched "$(mock_stat lb requests)" 0
	finish "ladder: a stream cut after a tool call is never continued"
}

# An Anthropic request: MODEL [extra JSON members].
areq() {
	echo "{\"model\":\"$1\",\"max_tokens\":64${2:+,$2},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}

# The record of the last call: its fields as jq FILTER says.
call_record() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json events 1 | jq -c "$1"
}

# How many error events the last answer read by dc_check had.
n_errors() { o '[.events[] | select(. == "error")] | length'; }

# A provider's own error inside a 200 stream (OpenAI's error chunk and
# [DONE], Anthropic's overloaded_error event) is the stream breaking: the
# caller never sees it, and gets what the route's midstream says instead.
l_stream_error() {
	mock_reset
	mock_script la 'chunks=4 stream_error=2 text=one+two+three+four'
	mock_script lb 'text=three+four'
	call "$LK" "$OAI" "$(lreq case-cut '"stream":true')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq whole "$(o .text)" '"one two three four"'
	expect_eq no-error "$(n_errors)" 0
	expect_eq one-done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 1
	expect_eq prefix "$(mock_str lb last_prefix)" "one two "
	expect_eq record "$(call_record '[.result, .attempts[0].error, .served]')" \
	    '["continued","error-event","lb"]'
	finish "ladder: an OpenAI error chunk mid-stream is not forwarded; the stream continues"

	mock_reset
	mock_script laa 'chunks=4 stream_error=2 text=one+two+three+four'
	mock_script lab 'text=+three+four'
	call "$LK" "$ANT" "$(areq case-acut '"stream":true')"
	dc_check anthropic stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq whole "$(o .text)" '"one two three four"'
	expect_eq no-error "$(n_errors)" 0
	expect_eq one-start "$(grep -c '^event: message_start' <<<"$BODY")" 1
	expect_eq record "$(call_record '[.result, .attempts[0].error]')" \
	    '["continued","error-event"]'
	finish "ladder: an Anthropic error event mid-stream is not forwarded; the stream continues"

	# midstream: error: one error event, llmfb's, in the caller's dialect.
	mock_reset
	mock_script la 'chunks=3 stream_error=1 text=one+two+three'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq partial "$(o .text)" '"one "'
	expect_eq one-error "$(n_errors)" 1
	expect_match llmfbs "$(o .error.message)" '^"llmfb: .*\(error-event\)'
	expect_eq no-done "$(grep -c '^data: \[DONE\]' <<<"$BODY")" 0
	expect_eq record "$(call_record '[.result, .attempts[0].error]')" \
	    '["midstream-error","error-event"]'

	mock_reset
	mock_script laa 'chunks=3 stream_error=1 text=one+two+three'
	call "$LK" "$ANT" "$(areq case-aerr '"stream":true')"
	dc_check anthropic stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq a-partial "$(o .text)" '"one "'
	expect_eq a-one-error "$(n_errors)" 1
	expect_eq a-llmfbs "$(o .error.type)" '"api_error"'
	expect_match a-message "$(o .error.message)" '^"llmfb: '
	finish "ladder: midstream error: one error event (llmfb's), OpenAI and Anthropic callers"

	# A Responses caller (its stream translated from a chat target's)
	# is continued on the next rung as one Response: one start, the
	# rest's deltas after the first's, numbered on, and the end's text
	# and id those of the whole.
	mock_reset
	mock_script la 'chunks=4 stream_error=2 text=one+two+three+four'
	mock_script lb 'text=three+four'
	call "$LK" "$RESP" '{"model":"case-rcut","input":"hi","stream":true}'
	expect_eq status "$CODE" 200
	resp_stream_check "one two three four"
	expect_eq prefix "$(mock_str lb last_prefix)" "one two "
	expect_eq record "$(call_record '[.result, .attempts[0].error, .served]')" \
	    '["continued","error-event","lb"]'
	finish "ladder: a Responses stream that breaks (translated from chat) continues as one Response"

	# A Responses provider's own error event mid-stream: not forwarded,
	# continued by a chat rung.
	mock_reset
	mock_script lr 'stream_error=1 text=ab+cd'
	mock_script lb 'text=+cd'
	call "$LK" "$RESP" '{"model":"case-rcut-native","input":"hi","stream":true}'
	expect_eq status "$CODE" 200
	resp_stream_check "ab cd"
	expect_eq prefix "$(mock_str lb last_prefix)" "ab"
	expect_eq record "$(call_record '[.result, .attempts[0].error, .served]')" \
	    '["continued","error-event","lb"]'
	finish "ladder: a Responses provider's error event mid-stream is not forwarded; a chat rung continues it"

	# midstream: error: Responses' own error event, llmfb's, numbered
	# after the last the caller has, and no end.
	mock_reset
	mock_script la 'chunks=3 stream_error=1 text=one+two+three'
	call "$LK" "$RESP" '{"model":"case-rerr","input":"hi","stream":true}'
	expect_eq status "$CODE" 200
	expect_eq partial "$(sed -n 's/^data: //p' <<<"$BODY" |
	    jq -rj 'select(.type == "response.output_text.delta") | .delta')" "one "
	expect_eq error "$(sed -n 's/^data: //p' <<<"$BODY" | jq -c \
	    'select(.type == "error") | [.code, (.message | test("^llmfb: ")),
	    .param, (.sequence_number | type)]')" \
	    '["llmfb_stream_interrupted",true,null,"number"]'
	expect_eq error-event "$(grep -c '^event: error$' <<<"$BODY")" 1
	expect_eq numbered "$(sed -n 's/^data: //p' <<<"$BODY" |
	    jq -s '[.[].sequence_number] | . == [range(length)]')" true
	expect_eq no-end "$(grep -c '^event: response.completed' <<<"$BODY")" 0
	expect_eq record "$(call_record '[.result, .attempts[0].error]')" \
	    '["midstream-error","error-event"]'
	finish "ladder: midstream error: a Responses caller gets Responses' error event"
}

# resp_stream_check TEXT: $BODY is one whole Response's events whose
# deltas make TEXT, its end naming the start's id and TEXT, numbered
# 0, 1, 2... with no error.
resp_stream_check() {
	local data
	data=$(sed -n 's/^data: //p' <<<"$BODY")
	expect_eq whole "$(jq -rj 'select(.type == "response.output_text.delta") |
	    .delta' <<<"$data")" "$1"
	expect_eq one-start "$(grep -c '^event: response.created' <<<"$BODY")" 1
	expect_eq no-error "$(grep -c '^event: error' <<<"$BODY")" 0
	expect_eq numbered "$(jq -s '[.[].sequence_number] | . == [range(length)]' \
	    <<<"$data")" true
	expect_eq end "$(jq -rs '(.[0].response.id) as $id | .[-1] |
	    [.type, .response.id == $id, .response.output[0].content[0].text] |
	    join(" ")' <<<"$data")" "response.completed true $1"
	expect_eq done-text "$(jq -r 'select(.type == "response.output_text.done") |
	    .text' <<<"$data")" "$1"
	expect_eq one-item "$(jq -r 'select(.type == "response.output_text.delta")
	    | .item_id' <<<"$data" | sort -u | wc -l)" 1
}

# A refusal that comes after the first token (Anthropic's stop_reason
# "refusal" in message_delta, OpenAI's content_filter finish): recorded as
# content, withheld, and handled as the route's midstream says.
l_stream_refusal() {
	mock_reset
	mock_script laa 'refusal=1 chunks=3 text=I+cannot+help'
	call "$LK" "$ANT" "$(areq case-aerr '"stream":true')"
	dc_check anthropic stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq one-error "$(n_errors)" 1
	expect_eq no-refusal-stop "$(o .stop)" null
	expect_eq record "$(call_record '[.result, .attempts[0].kind, .attempts[0].error]')" \
	    '["midstream-error","content","refusal"]'
	finish "ladder: a streamed Anthropic refusal after its first token: recorded, an error event"

	mock_reset
	mock_script laa 'refusal=1 chunks=2 text=I+cannot'
	mock_script lab 'text=+help+with+that.'
	call "$LK" "$ANT" "$(areq case-acut '"stream":true')"
	dc_check anthropic stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq whole "$(o .text)" '"I cannot help with that."'
	expect_eq stop "$(o .stop)" '"end_turn"'
	expect_eq record "$(call_record '[.result, .attempts[0].kind, .served]')" \
	    '["continued","content","lab"]'
	finish "ladder: a streamed Anthropic refusal, midstream continue: the next rung goes on"

	mock_reset
	mock_script la 'finish=content_filter chunks=3 text=one+two+three'
	call "$LK" "$OAI" "$(lreq case-class '"stream":true')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq one-error "$(n_errors)" 1
	expect_eq no-filter-finish "$(o .stop)" null
	expect_eq record "$(call_record '[.result, .attempts[0].kind, .attempts[0].error]')" \
	    '["midstream-error","content","refusal"]'
	finish "ladder: an OpenAI content_filter finish after the first token: recorded, an error event"
}

# A continued stream's usage counts the partial answer too: in the record
# and in the usage the caller reads.  "one two " is 8 bytes: 2 tokens
# estimated, as the broken attempt never said its count.
l_stream_usage() {
	mock_reset
	mock_script la 'chunks=4 cut_after=2 text=one+two+three+four'
	mock_script lb 'text=three+four completion_tokens=5'
	call "$LK" "$OAI" "$(lreq case-cut \
	    '"stream":true,"stream_options":{"include_usage":true}')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq whole "$(o .text)" '"one two three four"'
	expect_eq caller-usage "$(o .usage.output)" 7
	expect_eq record "$(call_record '.tokens.output')" 7

	mock_reset
	mock_script laa 'chunks=4 cut_after=2 text=one+two+three+four'
	mock_script lab 'text=+three+four completion_tokens=5'
	call "$LK" "$ANT" "$(areq case-acut '"stream":true')"
	dc_check anthropic stream
	expect_eq a-valid "$DC_RC $(o .violations)" "0 []"
	expect_eq a-caller-usage "$(o .usage.output)" 7
	expect_eq a-record "$(call_record '[.tokens.input, .tokens.output]')" \
	    '[20,7]'
	finish "ladder: a continued stream's usage counts the partial answer and the rest"
}

# quality.hold_stream: a stream held whole and judged as a body is, then
# delivered or left unseen for the next rung.
l_hold_stream() {
	mock_reset
	mock_script la 'text=not+json' && mock_script lc 'text={"ok":true}'
	call "$LK" "$OAI" "$(lreq case-hold \
	    '"stream":true,"response_format":{"type":"json_object"}')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq target "$TARGET" lc
	expect_eq reasons "$REASONS" la=bad-json
	expect_eq text "$(o .text)" '"{\"ok\":true}"'
	# Not JSON mode: not held, the same text is an answer.
	mock_reset
	mock_script la 'text=not+json'
	call "$LK" "$OAI" "$(lreq case-hold '"stream":true')"
	expect_eq not-asked "$TARGET" la
	expect_eq not-asked-text "$(sse_text "$BODY")" "not json"
	finish "ladder: hold_stream json: a JSON-mode stream that is not JSON falls back unseen"

	mock_reset
	mock_script laa 'refusal=1 chunks=3 text=I+cannot+help'
	call "$LK" "$ANT" "$(areq case-ahold '"stream":true')"
	dc_check anthropic stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq target "$TARGET" lab
	expect_eq reasons "$REASONS" laa=refusal
	expect_eq text "$(o .text)" '"Hello from lab"'
	expect_eq record "$(call_record '[.result, .attempts[0].kind, .attempts[0].error]')" \
	    '["fallback","content","refusal"]'
	finish "ladder: hold_stream: a streamed Anthropic refusal falls back unseen"
}

# Answers past the 8 MiB hold.  A stream that outgrows it before its
# first token (9 MiB of reasoning) is committed to at a whole event and
# read on as any begun stream: when the connection then drops mid-event,
# the caller's error event starts an event of its own.
l_big() {
	local size=$((9 << 10)) cut=$(((8 << 20) + 4096))

	mock_reset
	mock_script la "think_kb=$size cut_bytes=$cut"
	call "$LK" "$OAI" "$(lreq case-big '"stream":true')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq one-error "$(n_errors)" 1
	expect_eq record "$(call_record '[.result, .attempts[0].kind]')" \
	    '["midstream-error","technical"]'
	mock_reset
	mock_script laa "think_kb=$size cut_bytes=$cut"
	call "$LK" "$ANT" "$(areq case-abig '"stream":true')"
	dc_check anthropic stream
	expect_eq a-valid "$DC_RC $(o .violations)" "0 []"
	expect_eq a-one-error "$(n_errors)" 1
	finish "ladder: a stream over the hold before its first token breaks with a whole error event"

	# Whole, over the stream: all of it, in order.
	mock_reset
	mock_script la "think_kb=$size chunks=3 text=one+two+three"
	call "$LK" "$OAI" "$(lreq case-big '"stream":true')"
	dc_check openai stream
	expect_eq valid "$DC_RC $(o .violations)" "0 []"
	expect_eq text "$(o .text)" '"one two three"'
	expect_eq served "$(call_record '[.result, .attempts[0].kind]')" \
	    '["served","none"]'
	mock_reset
	mock_script laa "think_kb=$size chunks=3 text=one+two+three"
	call "$LK" "$ANT" "$(areq case-abig '"stream":true')"
	dc_check anthropic stream
	expect_eq a-valid "$DC_RC $(o .violations)" "0 []"
	expect_eq a-text "$(o .text)" '"one two three"'
	finish "ladder: a stream over the hold before its first token is delivered whole"

	# A whole body over the hold goes out unchecked: all of it, and the
	# record says it was served, not that it was malformed.
	mock_reset
	mock_script la "text_kb=$size"
	call "$LK" "$OAI" "$(lreq case-big)"
	expect_eq status "$CODE" 200
	expect_eq length "$(jq -r '.choices[0].message.content | length' \
	    "$STACK_DIR/out/0.body")" $((size << 10))
	expect_eq record "$(call_record '[.result, .attempts[0].kind]')" \
	    '["served","none"]'
	mock_reset
	mock_script laa "text_kb=$size"
	call "$LK" "$ANT" "$(areq case-abig)"
	expect_eq a-length "$(jq -r '.content[0].text | length' \
	    "$STACK_DIR/out/0.body")" $((size << 10))
	expect_eq a-record "$(call_record '[.result, .attempts[0].kind]')" \
	    '["served","none"]'
	# Cut past the hold: the caller sees a broken transfer, never a
	# short answer.
	mock_reset
	mock_script la "text_kb=$size cut_bytes=$cut"
	call "$LK" "$OAI" "$(lreq case-big)"
	expect_match broken "$(cat "$STACK_DIR/out/err")" \
	    '(transfer closed|end of response|error)'
	finish "ladder: a whole answer over the hold goes out unchecked, whole or visibly broken"
}

l_budget() {
	mock_reset
	call "$LK" "$OAI" "$(lreq case-budget)"
	expect_eq first "$TARGET" la
	call "$LK" "$OAI" "$(lreq case-budget)"
	expect_eq spent "$TARGET" llocal
	expect_eq reasons "$REASONS" la=budget
	expect_eq attempts "$(counts)" "1 0 0 1"
	# Spend is persisted: a restarted daemon still says no.
	daemon_stop
	daemon_start "$STACK_DIR/llmfb.yaml" -d
	call "$LK" "$OAI" "$(lreq case-budget)"
	expect_eq after-restart "$TARGET" llocal
	expect_eq attempts-after "$(counts)" "1 0 0 2"
	expect_match persisted "$(cat "$STACK_DIR/state/budgets.json")" \
	    '"route:budget"'
	finish "ladder: budget exhausted -> the cheaper rung, across a restart"

	# A damaged state file is set aside, never silently overwritten.
	daemon_stop
	echo '{"version": 1, "keys": {' >"$STACK_DIR/state/budgets.json"
	daemon_start "$STACK_DIR/llmfb.yaml" -d
	expect_eq set-aside "$(head -c 11 "$STACK_DIR/state/budgets.json.bad")" \
	    '{"version":'
	expect_match says-so "$(cat "$STACK_DIR/llmfbd.log")" \
	    'budgets.json: .*moved to .*budgets.json.bad'
	call "$LK" "$OAI" "$(lreq case-budget)"
	expect_eq afresh "$TARGET" la
	finish "ladder: a damaged budgets file is set aside with a clear message"
}

# budget.fallback_*: a cap on what the rungs after the first spend.  Once
# the fallback lb spent it, lb is passed over (a safe failure when the
# primary fails) while the priced primary la still serves; a route
# budget would have stopped la as well.
l_fallback_budget() {
	local st
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$OAI" "$(lreq case-fbudget)"
	expect_eq fallback-served "$CODE $TARGET" "200 lb"
	st=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status)
	expect_eq fallback-spent "$(jq '.routes[]|select(.name=="fbudget")|.fallback_budget.hour_usd > 0' <<<"$st")" true
	call "$LK" "$OAI" "$(lreq case-fbudget)"
	expect_eq safe-failure "$CODE" 503
	expect_eq reasons "$REASONS" "la=http-503,lb=fallback-budget"
	call "$LK" "$OAI" "$(lreq case-fbudget '"stream":true')"
	expect_eq stream-safe-failure "$CODE" 503
	expect_eq attempts "$(mock_stat la requests) $(mock_stat lb requests)" \
	    "3 1"
	mock_script la 'status=200'
	call "$LK" "$OAI" "$(lreq case-fbudget)"
	expect_eq primary-serves "$CODE $TARGET" "200 la"
	call "$LK" "$OAI" "$(lreq case-fbudget '"stream":true')"
	expect_eq primary-streams "$CODE $TARGET" "200 la"
	expect_eq stream-text "$(sse_text "$BODY")" "Hello from la"
	finish "ladder: the fallback spend cap skips a spent priced fallback; the primary still serves"
}

l_slo() {
	local i
	mock_reset
	mock_script ls 'ttft_ms=450'
	for i in 1 2 3; do
		call "$LK" "$OAI" "$(lreq case-slo)"
		expect_eq "slow but served $i" "$TARGET" ls
	done
	call "$LK" "$OAI" "$(lreq case-slo)"
	expect_eq skipped "$TARGET" lb
	expect_eq reasons "$REASONS" ls=slo
	expect_eq attempts "$(mock_stat ls requests) $(mock_stat lb requests)" \
	    "3 1"
	expect_ge p95 "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq '.targets[]|select(.name=="ls")|.latency.first_token_p95_ms')" 450
	# While others qualify only: with lb out, slow la still serves.
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" trip lb >/dev/null
	call "$LK" "$OAI" "$(lreq case-slo)"
	expect_eq slow-beats-none "$TARGET" ls
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset lb >/dev/null
	finish "ladder: a target whose p95 breaks the route's SLO is skipped"
}

l_free() {
	mock_reset
	mock_script la 'status=503'
	call "$LK" "$OAI" "$(lreq case-free)"
	expect_eq target "$TARGET" llocal
	expect_eq reasons "$REASONS" la=http-503,lb=fallback-cap
	expect_eq attempts "$(counts)" "1 0 0 1"
	finish "ladder: a free-only fallback refuses the paid rung"
}

l_exe() {
	mock_reset
	py_call requests "$OAI" --data "$(lreq case-exe)"
	expect_eq python "$TARGET" lc
	call easy "$OAI" "$(lreq case-exe)"
	expect_eq lcclient "$TARGET" lb
	expect_eq attempts "$(counts)" "0 1 1 0"
	finish "ladder: two programs (different exe, one by a link's path) are routed differently"
}

l_records() {
	local ev log
	mock_reset
	mock_script la 'text='
	call "$LK" "$OAI" "$(lreq case-class)"
	ev=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json events 1)
	expect_eq route "$(jq -r .route <<<"$ev")" classes
	expect_eq result "$(jq -r .result <<<"$ev")" fallback
	expect_eq served "$(jq -r .served <<<"$ev")" lc
	expect_match caller "$(jq -r .caller.exe <<<"$ev")" '/(curl|lcclient)$'
	expect_eq first "$(jq -r '.attempts[0]|[.target,.class,.kind,.error]|join(" ")' <<<"$ev")" \
	    "la business quality empty"
	expect_eq second "$(jq -r '.attempts[1]|[.target,.kind,.status]|join(" ")' <<<"$ev")" \
	    "lc none 200"
	expect_match times "$(jq -r '.attempts[1]|[.first_token_ms,.total_ms]|join(" ")' <<<"$ev")" \
	    '^[0-9]+ [0-9]+$'
	# 10 + 5 tokens on la (the empty answer is paid for too) and on lc.
	expect_eq tokens "$(jq -r '[.tokens.input,.tokens.output]|join(" ")' <<<"$ev")" "20 10"
	# la: 10 x $10 + 5 x $30 per Mtok; lc: 10 x $20 + 5 x $60.  The
	# difference is against la alone serving those tokens.
	expect_eq cost "$(jq -r '.cost_usd*1e6|round' <<<"$ev")" 750
	expect_eq cost-diff "$(jq -r '.cost_diff_usd*1e6|round' <<<"$ev")" 500
	log=$(tail -1 "$STACK_DIR/events.log")
	expect_eq log-same "$(jq -c . <<<"$log")" "$(jq -c . <<<"$ev")"
	expect_eq no-secret "$(grep -c 'sk-' "$STACK_DIR/events.log")" 0
	expect_match text "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" events 1)" \
	    'classes .* fallback +served=lc attempts=la:quality\(empty\) > lc:ok'
	finish "ladder: every call's record in the event log and on the control socket"
}

# x-llmfb-fallback and the record's "fallback" say one thing: the answer
# did not come from the route's first rung (a later rung's, or the safe
# failure).  A retry that the first rung answers is not a fallback.
l_fallback_meaning() {
	local ev
	mock_reset
	mock_script primary 'status=429 retry_after_ms=100' 'status=200'
	call "$LK" "$OAI" "$CHAT"
	expect_eq retried "$TARGET $ATTEMPTS $FALLBACK" "primary 2 0"
	ev=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json events 1)
	expect_eq retried-record "$(jq -r .fallback <<<"$ev")" false
	# la lacks the eu tag, so it is skipped; lb fails: the safe failure.
	mock_reset
	mock_script lb 'status=503'
	call "$LK" "$OAI" "$(lreq case-eu)"
	expect_eq skipped "$CODE $TARGET $FALLBACK" "503 none 1"
	ev=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json events 1)
	expect_eq skipped-record "$(jq -r '[.result, .fallback]|join(" ")' <<<"$ev")" \
	    "safe-failure true"
	mock_reset
	call "$LK" "$OAI" "$(lreq case-eu)"
	expect_eq later "$TARGET $FALLBACK" "lb 1"
	ev=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json events 1)
	expect_eq later-record "$(jq -r .fallback <<<"$ev")" true
	finish "ladder: x-llmfb-fallback and the record mean one thing: not the first rung's answer"
}

# A target's rate-limit state in llmfbctl status: FILTER on its
# .rate_limit.
rl_status() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -c --arg t "$1" ".targets[] | select(.name == \$t) | .rate_limit | $2"
}
rl_free() { [ "$(rl_status "$1" .limited)" == false ]; }

# Provider rate limits as live state: the headers of every answer (OpenAI
# x-ratelimit-*, Anthropic anthropic-ratelimit-*) say what is left; a
# target with a spent window is passed over before it answers 429, until
# the window's reset; a 429's Retry-After (or, without one, the spent
# window's reset) keeps it out of every call until then.  Windows reset
# 3 s after the answer: time enough for the next call on a loaded host.
# TARGET FALLBACK REQ URL DIALECT: one dialect's run (model case-TARGET).
l_ratelimit_one() {
	local t=$1 fb=$2 req=$3 url=$4 d=$5 mt
	# A 200 that says no request is left: the next call skips t.
	mock_reset
	mock_script "$t" 'rl_requests=0 rl_tokens=90000 rl_reset=3s'
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-spent-served" "$CODE $TARGET" "200 $t"
	expect_eq "$d-status" "$(rl_status "$t" '[.requests.remaining, .tokens.remaining, .requests.limit, .limited]')" \
	    '[0,90000,100,true]'
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-skipped" "$CODE $TARGET $REASONS" "200 $fb $t=rate-limit"
	expect_eq "$d-no-429" "$(mock_stat "$t" requests)" 1
	expect_match "$d-metric" "$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")" \
	    "llmfb_target_rate_limited\{target=\"$t\",provider=\"[^\"]+\"\} 1"
	expect_eq "$d-record" "$(call_record .reasons)" "\"$t=rate-limit\""
	expect_match "$d-text" "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" status)" \
	    "  $t rate limit: requests 0/100 \\(reset [0-9.]+s\\), tokens 90000/100000 \\(reset [0-9.]+s\\); passed over for [0-9.]+s"
	# Once the window resets, t serves again.
	wait_for "$t's window to reset" rl_free "$t"
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-after-reset" "$CODE $TARGET" "200 $t"
	finish "ladder: $d: a target whose advertised requests are spent is skipped before any 429, until the reset"

	# Too few tokens left for this call's max_tokens (64): skipped.
	mt='"max_tokens":64'
	[ "$req" == lreq ] || mt=	# areq's has it
	mock_reset
	mock_script "$t" 'rl_requests=50 rl_tokens=20 rl_reset=3s'
	call "$LK" "$url" "$($req "case-$t")"
	call "$LK" "$url" "$($req "case-$t" "$mt")"
	expect_eq "$d-tokens-skipped" "$CODE $TARGET $REASONS" "200 $fb $t=rate-limit"
	wait_for "$t's window to reset" rl_free "$t"
	finish "ladder: $d: fewer advertised tokens left than a call may use: skipped"

	# A 429 with a Retry-After past retry_after_max (1 s): this call
	# moves on at once, and the next ones skip t until it is over.
	mock_reset
	mock_script "$t" 'status=429 retry_after=3' 'status=200'
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-429-moved" "$CODE $TARGET $REASONS" "200 $fb $t=http-429"
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-429-honoured" "$CODE $TARGET $REASONS" "200 $fb $t=rate-limit"
	expect_eq "$d-429-once" "$(mock_stat "$t" requests)" 1
	expect_eq "$d-429-count" "$(rl_status "$t" '[.answered_429 > 0, .limited_ms > 1000]')" '[true,true]'
	wait_for "$t's Retry-After" rl_free "$t"
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-429-after" "$CODE $TARGET" "200 $t"
	finish "ladder: $d: a 429's Retry-After keeps the target out of every call until it is over"

	# A 429 with no Retry-After but a spent window: its reset is the
	# wait, for this call's ladder and the next calls.
	mock_reset
	mock_script "$t" 'status=429 rl_requests=0 rl_reset=3s' 'status=200'
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-reset-moved" "$CODE $TARGET $ATTEMPTS" "200 $fb 2"
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-reset-honoured" "$CODE $TARGET $REASONS" "200 $fb $t=rate-limit"
	expect_eq "$d-reset-once" "$(mock_stat "$t" requests)" 1
	wait_for "$t's window to reset" rl_free "$t"
	call "$LK" "$url" "$($req "case-$t")"
	expect_eq "$d-reset-after" "$CODE $TARGET" "200 $t"
	finish "ladder: $d: a 429 without Retry-After: its spent window's reset is the wait, not a backoff"
}

# Calls in flight on targets, from llmfbctl status: their sum.
in_flight_sum() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq --argjson n "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
	    '[.targets[] | select(.name as $t | $n | index($t)) | .in_flight] | add'
}
in_flight_is() { [ "$(in_flight_sum gc gd)" == "$1" ]; }

# Groups of equivalent targets on a rung (e2e.yaml routes weighted,
# least-busy, group-next-member, group-next-rung).
l_groups() {
	local i n pids=() st
	# Weighted 3:1 over 200 calls: ga's share within 4 standard
	# deviations (about 6 calls) of 150.
	mock_reset
	for i in $(seq 200); do
		env "${SHIM_ENV[@]}" curl -sS -o /dev/null \
		    -H "Authorization: Bearer $CALLER_KEY" \
		    -H 'Content-Type: application/json' \
		    -d "$(lreq case-weighted)" "$OAI" || true
	done
	n=$(mock_stat ga requests)
	expect_eq weighted-all "$((n + $(mock_stat gb requests)))" 200
	[ "$n" -ge 125 ] && [ "$n" -le 175 ] ||
	    ERRS="$ERRS; weighted: ga served $n of 200, want 150 +- 25"
	expect_eq weighted-no-fallback "$(mock_stat lb requests)" 0
	call "$LK" "$OAI" "$(lreq case-weighted)"
	expect_eq weighted-first-rung "$CODE $FALLBACK" "200 0"
	expect_match weighted-record "$(call_record .picks)" \
	    '^"weighted:(ga>gb|gb>ga)"$'
	st=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status)
	expect_eq weighted-status "$(jq -c '.routes[] | select(.name == "weighted") |
	    .groups[0] | [.pick, [.members[] | .name, .weight]]' <<<"$st")" \
	    '["weighted",["ga",3,"gb",1]]'
	expect_eq weighted-share "$(jq '.routes[] | select(.name == "weighted") |
	    .groups[0].members[0].share | . > 0.6 and . < 0.9' <<<"$st")" true
	expect_match weighted-text "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" status)" \
	    'group weighted: ga [0-9]+% \(w3\), gb [0-9]+% \(w1\)'
	expect_eq weighted-member-rl "$(jq -c '.routes[] | select(.name == "weighted") |
	    [.groups[0].members[] | .rate_limit | [.limited, .headroom]]' <<<"$st")" \
	    '[[false,1],[false,1]]'
	finish "ladder: a weighted group shares 200 calls about 3:1, each member the first rung"

	# Least busy: four slow calls, each started once the one before is
	# on its member; they spread 2 and 2.
	mock_reset
	mock_script gc 'delay_ms=1500'
	mock_script gd 'delay_ms=1500'
	for i in 1 2 3 4; do
		env "${SHIM_ENV[@]}" curl -sS -o /dev/null \
		    -H "Authorization: Bearer $CALLER_KEY" \
		    -H 'Content-Type: application/json' \
		    -d "$(lreq case-least-busy)" "$OAI" &
		pids+=($!)
		wait_for "call $i in flight" in_flight_is "$i"
	done
	wait "${pids[@]}"
	expect_eq least-busy "$(mock_stat gc requests) $(mock_stat gd requests)" "2 2"
	finish "ladder: a least-busy group spreads concurrent slow calls over its members"

	# Latency: each member without a sample is tried first, once; then
	# the one with the lower median time to first token takes the calls.
	mock_reset
	mock_script gl1 'delay_ms=300'
	for i in 1 2 3 4 5 6 7; do
		call "$LK" "$OAI" "$(lreq case-glatency)"
	done
	expect_eq latency "$(mock_stat gl1 requests) $(mock_stat gl2 requests)" "1 6"
	expect_eq latency-record "$(call_record .picks)" '"latency:gl2>gl1"'
	finish "ladder: a latency group learns each member once, then prefers the faster"

	# A member's failure goes to the next member (next_member, the
	# default), or past the group (next_rung).
	mock_reset
	mock_script ga 'status=503'
	call "$LK" "$OAI" "$(lreq case-gmember)"
	expect_eq next-member "$CODE $TARGET $REASONS" "200 gb ga=http-503"
	expect_eq next-member-record "$(call_record .picks)" '"order:ga>gb"'
	call "$LK" "$OAI" "$(lreq case-grung)"
	expect_eq next-rung "$CODE $TARGET $REASONS" "200 lb ga=http-503"
	expect_eq price-record "$(call_record .picks)" '"price:ga>gb"'
	expect_eq gb-untouched "$(mock_stat gb requests)" 1
	finish "ladder: a failed member hands the call to the next member, or with next_rung to the next rung"
}

l_ratelimit() {
	l_ratelimit_one rl lb lreq "$OAI" openai
	l_ratelimit_one arl lab areq "$ANT" anthropic

	# Configured limits, counted by llmfb: rpm2 takes 2 calls a minute
	# (the run makes no other call to it); tpm100 no call that may use
	# more than 100 tokens (prompt plus max_tokens).
	mock_reset
	call "$LK" "$OAI" "$(lreq case-rpm)"
	call "$LK" "$OAI" "$(lreq case-rpm)"
	expect_eq rpm-two "$TARGET" rpm2
	call "$LK" "$OAI" "$(lreq case-rpm)"
	expect_eq rpm-third "$CODE $TARGET $REASONS" "200 lb rpm2=rate-limit"
	expect_eq rpm-attempts "$(mock_stat rpm requests)" 2
	expect_eq rpm-status "$(rl_status rpm2 '.configured | [.rpm, .requests]')" '[2,2]'
	call "$LK" "$OAI" "$(lreq case-tpm '"max_tokens":50')"
	expect_eq tpm-fits "$TARGET" tpm100
	call "$LK" "$OAI" "$(lreq case-tpm '"max_tokens":500')"
	expect_eq tpm-over "$CODE $TARGET $REASONS" "200 lb tpm100=rate-limit"
	finish "ladder: a target's configured rpm and tpm are counted by llmfb; past them it is passed over"
}

# A route's hedging in llmfbctl status: FILTER on its .hedge.
hedge_status() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -c --arg r "$1" ".routes[] | select(.name == \$r) | .hedge | $2"
}
# mock_cancelled_ge NAME N: the mock saw N of NAME's requests hung up on.
mock_cancelled_ge() { [ "$(mock_stat "$1" cancelled)" -ge "$2" ]; }

# Hedged requests (e2e.yaml routes hedge, ahedge, hedge-cap): a first
# target with no first token after the route's delay gets a second
# attempt beside it on the next rung; the first to bring content wins and
# the other is cancelled at once, which the mock sees as its client
# hanging up while it held the answer back.
l_hedge() {
	local i
	# OpenAI, streamed: ha holds its first token 5 s; hb answers.
	mock_reset
	mock_script ha 'ttft_ms=5s'
	call "$LK" "$OAI" "$(lreq case-hedge '"stream":true')"
	expect_eq stream-served "$CODE $TARGET $FALLBACK" "200 hb 1"
	expect_eq stream-text "$(sse_text "$BODY")" "Hello from hb"
	wait_for "ha's request to be cancelled" mock_cancelled_ge ha 1 ||
	    ERRS="$ERRS; ha's request to be cancelled: not seen"
	expect_eq stream-lb-untouched "$(mock_stat lb requests)" 0
	expect_eq stream-record "$(call_record '[.hedge.winner, .hedge.cancelled.target, .hedge.cancelled.cost_usd > 0, [.attempts[] | [.target, .hedge // false, .cancelled // false]]]')" \
	    '["hedge","ha",true,[["ha",false,true],["hb",true,false]]]'
	finish "ladder: hedge: a stream whose first token is late is hedged on the next rung, which wins; the first is cancelled"

	# Not streamed: the same, the late answer's headers held too.
	mock_reset
	mock_script ha 'delay_ms=5s'
	call "$LK" "$OAI" "$(lreq case-hedge)"
	expect_eq body-served "$CODE $TARGET $(jq -r '.choices[0].message.content' <<<"$BODY")" \
	    "200 hb Hello from hb"
	wait_for "ha's request to be cancelled" mock_cancelled_ge ha 1 ||
	    ERRS="$ERRS; ha's request to be cancelled: not seen"
	finish "ladder: hedge: a whole answer that is late is hedged too"

	# Anthropic callers and targets, streamed and not.
	mock_reset
	mock_script haa 'ttft_ms=5s'
	call "$LK" "$ANT" "$(areq case-ahedge '"stream":true')"
	expect_eq an-stream "$CODE $TARGET" "200 hab"
	expect_eq an-stream-text "$(sse_text "$BODY")" "Hello from hab"
	wait_for "haa's request to be cancelled" mock_cancelled_ge haa 1 ||
	    ERRS="$ERRS; haa's request to be cancelled: not seen"
	call "$LK" "$ANT" "$(areq case-ahedge)"
	expect_eq an-body "$CODE $TARGET $(jq -r '.content[0].text' <<<"$BODY")" \
	    "200 hab Hello from hab"
	wait_for "haa's second request to be cancelled" mock_cancelled_ge haa 2 ||
	    ERRS="$ERRS; haa's second request to be cancelled: not seen"
	expect_eq an-record "$(call_record .hedge.winner)" '"hedge"'
	finish "ladder: hedge: Anthropic callers are hedged the same, streamed or not"

	# In time: no hedge, and nothing cancelled.
	mock_reset
	call "$LK" "$OAI" "$(lreq case-hedge '"stream":true')"
	expect_eq in-time "$CODE $TARGET $(mock_stat hb requests) $(mock_stat ha cancelled)" \
	    "200 ha 0 0"
	expect_eq in-time-record "$(call_record .hedge)" null
	finish "ladder: hedge: a first token in time starts no hedge"

	# A stream whose first token came in time but whose rest is slow:
	# the caller has part of it, so no hedge starts.
	mock_reset
	mock_script ha 'chunks=3 pace_ms=500ms text=one+two+three'
	call "$LK" "$OAI" "$(lreq case-hedge '"stream":true')"
	expect_eq slow-rest "$CODE $TARGET $(mock_stat hb requests)" "200 ha 0"
	expect_eq slow-rest-text "$(sse_text "$BODY")" "one two three"
	finish "ladder: hedge: never once the caller has part of the answer"

	# A hedge that fails leaves the first attempt to answer.
	mock_reset
	mock_script ha 'ttft_ms=1s'
	mock_script hb 'status=503'
	call "$LK" "$OAI" "$(lreq case-hedge '"stream":true')"
	expect_eq hedge-failed "$CODE $TARGET $(mock_stat hb requests) $(mock_stat ha cancelled)" \
	    "200 ha 1 0"
	expect_eq hedge-failed-text "$(sse_text "$BODY")" "Hello from ha"
	finish "ladder: hedge: a failed hedge leaves the first attempt to finish"

	# The cap: 25% of the route's calls.  Of 8 slow calls, the 1st and
	# the 5th are hedged; the other 6 wait for ha.
	mock_reset
	mock_script ha 'ttft_ms=800ms'
	for i in $(seq 8); do
		call "$LK" "$OAI" "$(lreq case-hedgecap '"stream":true')"
		[ "$CODE" == 200 ] || ERRS="$ERRS; cap call $i: $CODE"
	done
	expect_eq cap-hedged "$(mock_stat hb requests)" 2
	expect_eq cap-status "$(hedge_status hedge-cap '[.started, .won, .cancelled, .capped, .max_percent]')" \
	    '[2,2,2,6,25]'
	expect_match cap-metric "$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")" \
	    'llmfb_hedges_capped_total\{route="hedge-cap"\} 6'
	expect_match cap-text "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" status)" \
	    'hedge after 200ms: 2 started, 2 won by the hedge, 2 cancelled, 6 refused by the cap \(max 25%\)'
	finish "ladder: hedge: max_percent caps the share of a route's calls that are hedged"
}

ladder_cases() {
	l_embeddings
	l_responses
	l_completions
	l_technical
	l_quality
	l_policy
	l_foreign_4xx
	l_deadline
	l_region_queue_key
	l_midstream
	l_stream_error
	l_stream_refusal
	l_stream_usage
	l_hold_stream
	l_big
	l_slo
	l_free
	l_exe
	l_records
	l_fallback_meaning
	l_budget
	l_fallback_budget
	l_ratelimit
	l_groups
	l_hedge
}
