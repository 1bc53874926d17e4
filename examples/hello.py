#!/usr/bin/python3
"""An ordinary Python program that calls OpenAI's and Anthropic's APIs
with requests and httpx.  Nothing in it knows about llmfb: run it under
the shim (llmfbctl run, or LD_PRELOAD) and its calls take the ladder."""
import os

import httpx
import requests

openai = requests.post(
    "https://api.openai.com/v1/chat/completions",
    headers={"Authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", "sk-none")},
    json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}]},
    timeout=30,
)
print("requests -> api.openai.com:", openai.status_code,
      "served by", openai.headers.get("x-llmfb-target", "(the provider itself)"))
print("  ", openai.json()["choices"][0]["message"]["content"])

anthropic = httpx.post(
    "https://api.anthropic.com/v1/messages",
    headers={"x-api-key": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-none"),
             "anthropic-version": "2023-06-01"},
    json={"model": "claude-sonnet-4", "max_tokens": 64,
          "messages": [{"role": "user", "content": "Say hello"}]},
    timeout=30,
)
print("httpx -> api.anthropic.com:", anthropic.status_code,
      "served by", anthropic.headers.get("x-llmfb-target", "(the provider itself)"),
      "translated from " + anthropic.headers["x-llmfb-translated"]
      if "x-llmfb-translated" in anthropic.headers else "")
message = anthropic.json()
print("  ", message["type"], message["content"][0]["text"],
      "stop_reason=" + message["stop_reason"], "model=" + message["model"])
