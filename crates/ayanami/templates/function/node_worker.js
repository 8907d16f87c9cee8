// {{ service }}.{{ name }}: an Ayanami `worker` function.
//
// Ayanami starts this program once and keeps it: each call is one JSON line
// on stdin, {"id": 7, "inputs": {...}}, answered by one JSON line on stdout,
// {"id": 7, "outputs": {...}} or {"id": 7, "error": "..."}, in any order, so
// an async handler may take many calls at once. Print nothing else on
// stdout; stderr goes to Ayanami's log.

const readline = require("node:readline");

async function handle(inputs) {
  return { {{ output }}: "Hello " + inputs.{{ input }} };
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", async (line) => {
  if (!line.trim()) {
    return;
  }
  const request = JSON.parse(line);
  let reply;
  try {
    reply = { id: request.id, outputs: await handle(request.inputs) };
  } catch (error) {
    reply = { id: request.id, error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
