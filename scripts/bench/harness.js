// A minimal Lambda runtime loop for the Node.js baseline: the same Runtime API protocol the
// managed Node.js runtime speaks, so both triggers are measured the same way.
const AWS = require("aws-sdk");
if (process.env.AWS_ENDPOINT_URL) AWS.config.update({ endpoint: process.env.AWS_ENDPOINT_URL });
const { handler } = require("./blog-trigger.js");
const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation`;
(async () => {
  for (;;) {
    const next = await fetch(`${api}/next`);
    const id = next.headers.get("lambda-runtime-aws-request-id");
    const event = await next.json();
    try {
      const result = await handler(event, {});
      await fetch(`${api}/${id}/response`, { method: "POST", body: JSON.stringify(result) });
    } catch (e) {
      await fetch(`${api}/${id}/error`, { method: "POST", body: JSON.stringify({ errorMessage: String(e) }) });
    }
  }
})();
