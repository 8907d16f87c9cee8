"""greeting.hello: greets whoever `name` is."""

import json
import sys

name = json.load(sys.stdin).get("name") or "there"
json.dump({"greeting": f"Hello {name}"}, sys.stdout)
