# Real providers' own ways, end to end (issue 19, items 7 and 9): the
# mock answers as Gemini's OpenAI-compatible endpoint, Azure OpenAI and
# DeepSeek do (tests/mock/README.md), the clients are curl (lcclient in
# a sanitized build) and the Python caller of dialect.sh.  The routes
# are gemini*, azure* and deepseek in e2e.yaml.  Sourced by run.sh.

# Gemini's errors are an array; its context 400 moves the ladder like
# OpenAI's does, whole or streamed.
p_gemini_context() {
	local s
	for s in '' '"stream":true'; do
		mock_reset
		mock_script pgem 'status=400 error=gemini_context'
		call "$LK" "$OAI" "$(lreq case-gem "$s")"
		expect_eq "status${s:+ (stream)}" "$CODE" 200
		expect_eq "target${s:+ (stream)}" "$TARGET" big
		expect_eq "reasons${s:+ (stream)}" "$REASONS" gem=context
		expect_eq "attempts${s:+ (stream)}" \
		    "$(mock_stat pgem requests) $(mock_stat pbig requests)" "1 1"
	done
	expect_eq text "$(sse_text "$BODY")" "Hello from pbig"
	finish "providers: Gemini's array-shaped context 400 is a context failure -> next rung"
}

# Delivered to the caller, Gemini's array is said in the caller's shape:
# OpenAI's {"error": {...}} for an OpenAI caller, Anthropic's for one.
p_gemini_delivered() {
	local s
	for s in '' '"stream":true'; do
		mock_reset
		mock_script pgem 'status=400 error=gemini'
		call "$LK" "$OAI" "$(lreq case-gem1 "$s")"
		expect_eq "status${s:+ (stream)}" "$CODE" 400
		expect_eq "target${s:+ (stream)}" "$TARGET" gem
		expect_eq "openai shape${s:+ (stream)}" \
		    "$(jq -c '{type: type, error: .error}' <<<"$BODY")" \
		    '{"type":"object","error":{"message":"Request contains an invalid argument.","type":"invalid_request_error","param":null,"code":null}}'
	done
	mock_reset
	mock_script pgem 'status=400 error=gemini'
	dc_call anthropic "$ANT" '{"model":"case-gem1","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
	expect_eq anthropic-status "$(o .status)" 400
	expect_eq anthropic-error "$(o .error)" \
	    '{"message":"Request contains an invalid argument.","type":"invalid_request_error"}'
	finish "providers: a Gemini array error reaches the caller in its own dialect's shape"
}

# Azure OpenAI: the deployment's path, api-version kept, the key in
# "api-key" (the mock answers 401 or 404 as Azure does otherwise).
p_azure() {
	local s want=/paz/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21
	for s in '' '"stream":true'; do
		mock_reset
		mock_script paz 'azure=gpt4o-prod'
		call "$LK" "$OAI" "$(lreq case-az "$s")"
		expect_eq "status${s:+ (stream)}" "$CODE" 200
		expect_eq "target${s:+ (stream)}" "$TARGET" az
		expect_eq "path${s:+ (stream)}" "$(mock_str paz last_path)" "$want"
		expect_eq "api-key${s:+ (stream)}" \
		    "$(mock_str paz last_headers | jq -r '.["api-key"]')" \
		    "$LLMFB_TEST_AZURE_KEY"
		expect_eq "no bearer${s:+ (stream)}" \
		    "$(mock_str paz last_authorization)" null
	done
	expect_eq text "$(sse_text "$BODY")" "Hello from paz"
	call "$LK" "$OAI" "$(lreq case-az)"
	expect_match body "$BODY" '"Hello from paz"'
	finish "providers: an Azure OpenAI target is called at its deployment with api-version and api-key"
}

# base_url with "?api-version=": the path goes before the query.
p_azure_query() {
	mock_reset
	mock_script pazq 'azure=dep2'
	call "$LK" "$OAI" "$(lreq case-azq)"
	expect_eq status "$CODE" 200
	expect_eq path "$(mock_str pazq last_path)" \
	    "/pazq/openai/deployments/dep2/chat/completions?api-version=2024-10-21"
	finish "providers: a base_url with ?api-version= keeps it after the path"
}

# A program that calls Azure itself, with its own api-key and
# api-version: both go to its own resource (llmfb's api-version, from
# api_version or base_url, is not added), and a 401 there is the
# caller's, delivered, not llmfb's.
p_azure_own() {
	local url=https://azure.llmfb.test/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01
	# Only the api-key header: call() sends a Bearer and x-api-key too.
	az_call() {	# [MODEL]
		local data line
		data=$(lreq "${1:-gpt-4o}")
		rm -rf "$STACK_DIR/out" && mkdir -p "$STACK_DIR/out"
		if [ "$LK" = curl ]; then
			CODE=$(env "${SHIM_ENV[@]}" curl -sS \
			    -o "$STACK_DIR/out/0.body" -w '%{http_code}' \
			    -H "api-key: $CALLER_KEY" \
			    -H 'Content-Type: application/json' -d "$data" \
			    "$url" 2>"$STACK_DIR/out/err")
		else
			line=$(env "${SHIM_ENV[@]}" "$B/lcclient" --mode easy \
			    --body-dir "$STACK_DIR/out" \
			    -H "api-key: $CALLER_KEY" --data "$data" "$url" \
			    2>"$STACK_DIR/out/err")
			CODE=$(field code "$line")
		fi
		BODY=$(cat "$STACK_DIR/out/0.body" 2>/dev/null)
	}
	mock_reset
	mock_script pazo 'azure=gpt4o-prod'
	az_call
	expect_eq status "$CODE" 200
	expect_match body "$BODY" '"Hello from pazo"'
	expect_eq path "$(mock_str pazo last_path)" \
	    "/pazo/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01"
	expect_eq caller-key "$(mock_str pazo last_headers |
	    jq -r '.["api-key"]')" "$CALLER_KEY"
	mock_reset
	mock_script pazo 'azure=gpt4o-prod status=401'
	az_call
	expect_eq own-401-status "$CODE" 401
	expect_match own-401-body "$BODY" '"mock pazo status 401"'
	mock_reset
	mock_script pazoq 'azure=gpt4o-prod'
	az_call case-azoq
	expect_eq q-status "$CODE" 200
	expect_eq q-path "$(mock_str pazoq last_path)" \
	    "/pazoq/openai/deployments/gpt4o-prod/chat/completions?x=1&api-version=2024-06-01"
	finish "providers: an Azure caller's own api-key and api-version go to its resource; its 401 is its own"
}

# DeepSeek's 402 "Insufficient Balance" and Ollama's 404 for a model not
# pulled, with the bodies they send, are llmfb's failures (issue 19 item
# 1): the next rung serves, whole or streamed; with nothing left, the safe
# failure, never their answer.
p_balance_model() {
	local s
	for s in '' '"stream":true'; do
		mock_reset
		mock_script pds 'status=402 error=balance'
		mock_script poll 'status=404 error=model_not_found'
		call "$LK" "$OAI" "$(lreq case-ds "$s")"
		expect_eq "status${s:+ (stream)}" "$CODE" 200
		expect_eq "target${s:+ (stream)}" "$TARGET" big
		expect_eq "reasons${s:+ (stream)}" "$REASONS" \
		    ds=http-402,oll=http-404
	done
	expect_eq text "$(sse_text "$BODY")" "Hello from pbig"
	mock_script pbig 'status=404 error=model_not_found'
	call "$LK" "$OAI" "$(lreq case-ds)"
	expect_eq safe "$CODE $TARGET" "503 none"
	expect_eq not-theirs "$(grep -c 'Insufficient\|pulling' <<<"$BODY")" 0
	finish "providers: DeepSeek's 402 and Ollama's 404 move the ladder on; never delivered"
}

provider_cases() {
	p_balance_model
	p_gemini_context
	p_gemini_delivered
	p_azure
	p_azure_query
	p_azure_own
}
