"""{{ service }}.{{ name }}: an Ayanami `exec` function.

Ayanami runs this program once per call, from the project folder: the
inputs arrive as one JSON object on stdin, the outputs leave as one JSON
object on stdout. A non-zero exit (an uncaught exception) fails the call
with the end of stderr.
"""

import json
import sys


def handle(inputs):
    return {"{{ output }}": "Hello " + str(inputs["{{ input }}"])}


if __name__ == "__main__":
    json.dump(handle(json.load(sys.stdin)), sys.stdout)
