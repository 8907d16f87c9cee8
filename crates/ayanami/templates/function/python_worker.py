"""{{ service }}.{{ name }}: an Ayanami `worker` function.

Ayanami starts this program once and keeps it: each call is one JSON line
on stdin, {"id": 7, "inputs": {...}}, answered by one JSON line on stdout,
{"id": 7, "outputs": {...}} or {"id": 7, "error": "..."}. Print nothing
else on stdout; stderr goes to Ayanami's log.
"""

import json
import sys


def handle(inputs):
    return {"{{ output }}": "Hello " + str(inputs["{{ input }}"])}


for line in sys.stdin:
    if not line.strip():
        continue
    request = json.loads(line)
    try:
        reply = {"id": request["id"], "outputs": handle(request["inputs"])}
    except Exception as error:
        reply = {"id": request["id"], "error": str(error)}
    print(json.dumps(reply), flush=True)
