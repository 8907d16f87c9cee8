// {{ service }}.{{ name }}: an Ayanami `exec` function.
//
// Ayanami runs this program once per call, from the project folder: the
// inputs arrive as one JSON object on stdin, the outputs leave as one JSON
// object on stdout. A non-zero exit (an uncaught exception) fails the call
// with the end of stderr.

function handle(inputs) {
  return { {{ output }}: "Hello " + inputs.{{ input }} };
}

let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (text += chunk));
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(handle(JSON.parse(text))));
});
