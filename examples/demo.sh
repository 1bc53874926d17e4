#!/bin/bash
# make demo: the mock providers and llmfbd on examples/demo.yaml, then an
# unmodified curl and an unmodified Python program (requests, httpx)
# calling https://api.openai.com and https://api.anthropic.com through the
# shim while the primary fails; the answers show the fallback, llmfbctl
# status the counters.  Everything started here is stopped on the way out.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
. tests/e2e/stack.sh
export DEMO_BACKUP_KEY=sk-demo-backup

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stack_init
mock_start
render_config examples/demo.yaml "$STACK_DIR/llmfb.yaml"
daemon_start "$STACK_DIR/llmfb.yaml"
echo "mock providers on 127.0.0.1:$MOCK_PORT, llmfbd on $STACK_DIR/llmfb.sock"

SHIM=(env LD_PRELOAD="$B/libllmfb.so" LLMFB_SOCKET="$STACK_DIR/llmfb.sock")
REQ='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}'

say "1. OpenAI answers: the call goes through llmfb untouched"
"${SHIM[@]}" curl -sS -i https://api.openai.com/v1/chat/completions \
    -H "Authorization: Bearer sk-demo-caller" \
    -H "Content-Type: application/json" -d "$REQ"
echo

say "2. OpenAI now answers 503 (overloaded): llmfb falls back"
mock_script openai 'status=503'
echo "\$ curl -i https://api.openai.com/v1/chat/completions ...   (with LD_PRELOAD=libllmfb.so)"
"${SHIM[@]}" curl -sS -i https://api.openai.com/v1/chat/completions \
    -H "Authorization: Bearer sk-demo-caller" \
    -H "Content-Type: application/json" -d "$REQ"
echo

say "3. The same from an unmodified Python program; Anthropic is down too (529),
   and its Anthropic call is served by the OpenAI-dialect backup, translated"
mock_script anthropic 'status=529'
echo "\$ python3 examples/hello.py   (with LD_PRELOAD=libllmfb.so)"
"${SHIM[@]}" /usr/bin/python3 examples/hello.py

say "4. A streamed answer, passed on as it arrives"
"${SHIM[@]}" curl -sS -N https://api.openai.com/v1/chat/completions \
    -H "Content-Type: application/json" \
    -d '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}' |
    grep -o '"content":"[^"]*"' | tr '\n' ' '
echo

say "5. Every rung fails: a fast, well-formed 503 instead of a hang"
mock_script backup 'status=500'
"${SHIM[@]}" curl -sS -i https://api.openai.com/v1/chat/completions \
    -H "Content-Type: application/json" -d "$REQ"
echo

say "llmfbctl status"
"$B/llmfbctl" -s "$STACK_DIR/control.sock" status

say "llmfbctl events: each call, attempt by attempt"
"$B/llmfbctl" -s "$STACK_DIR/control.sock" events 6
