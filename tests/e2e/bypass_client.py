"""A program that calls an LLM host on its own, past llmfb: Python
requests to https://api.openai.com (which the caller's /etc/hosts points
at the mock).  Prints its pid, then each answer's status."""
import os
import sys

import requests

url, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(os.getpid(), flush=True)
with requests.Session() as s:
    s.trust_env = False
    for _ in range(n):
        r = s.post(url, verify=ca, timeout=10,
                   headers={"Authorization": "Bearer sk-bypass-secret"},
                   json={"model": "gpt-4o",
                         "messages": [{"role": "user", "content": "hi"}]})
        print(r.status_code, flush=True)
