"""html.pre: wraps its input in <pre>, escaped so that it shows as written.

An `exec` function: one JSON object of inputs on stdin, one JSON object of
outputs on stdout.
"""

import html
import json
import sys

inputs = json.load(sys.stdin)
text = inputs.get("input")
if not isinstance(text, str):
    sys.exit("input must be a string")
json.dump({"output": "<pre>" + html.escape(text, quote=False) + "</pre>"}, sys.stdout)
