// The Node.js baseline of the authorizer, doing what ours does the way a Node.js team would:
// aws-jwt-verify for the token (RS256, issuer, token_use, client), Cedar's WASM build with
// the policy set and schema parsed once at init, the same Cedar request (Verified
// Permissions' Cognito mapping), one JSON line per decision; on the Lambda Runtime API
// protocol the managed runtime speaks, so both are measured the same way.
const fs = require("fs");
const path = require("path");
const { JwtRsaVerifier } = require("aws-jwt-verify");
const { SimpleJwksCache } = require("aws-jwt-verify/jwk");
const cedar = require("@cedar-policy/cedar-wasm/nodejs");

const root = process.env.LAMBDA_TASK_ROOT;
const config = JSON.parse(fs.readFileSync(path.join(root, "authz.json"), "utf8"));
const pool = process.env.AUTHZ_USER_POOL_ID;
const issuer = process.env.AUTHZ_ISSUER;
const clients = process.env.AUTHZ_CLIENTS.split(",");
const policies = fs
  .readdirSync(path.join(root, "policies"))
  .filter((f) => f.endsWith(".cedar"))
  .sort()
  .map((f) => fs.readFileSync(path.join(root, "policies", f), "utf8"))
  .join("\n");
const ns = config.namespace;
// The bench serves the key set over plain HTTP on loopback, which aws-jwt-verify's own
// fetcher (https only) refuses: Node's fetch stands in for it.
const fetcher = { fetch: async (uri) => (await fetch(uri)).arrayBuffer() };
const verifier = JwtRsaVerifier.create(
  {
    issuer,
    audience: null,
    jwksUri: process.env.AUTHZ_JWKS_URL,
    customJwtCheck: ({ payload }) => {
      if (payload.token_use !== "access") throw new Error("not an access token");
      if (!clients.includes(payload.client_id)) throw new Error("client not accepted");
    },
  },
  { jwksCache: new SimpleJwksCache({ fetcher }) },
);
const schemaText = fs.readFileSync(path.join(root, "schema.cedarschema"), "utf8");
for (const [what, answer] of [
  ["policies", cedar.preparsePolicySet("p", { staticPolicies: policies })],
  ["schema", cedar.preparseSchema("s", schemaText)],
]) {
  if (answer.type !== "success") throw new Error(`${what}: ${JSON.stringify(answer.errors)}`);
}

function decide(event, claims) {
  const route = config.routes.find((r) => r.route === event.routeKey);
  const uid = (type, id) => ({ type: `${ns}::${type}`, id });
  const groups = (claims["cognito:groups"] || []).map((g) => uid("UserGroup", `${pool}|${g}`));
  const principal = claims.username ? uid("User", `${pool}|${claims.sub}`) : uid("Client", `${pool}|${claims.client_id}`);
  const id = event.pathParameters[route.resource.parameter];
  const resource = uid(route.resource.type, id);
  const token = { sub: claims.sub, client_id: claims.client_id, token_use: claims.token_use, scope: claims.scope.split(" ") };
  if (claims.username) token.username = claims.username;
  for (const c of config.claims) if (c.name in claims) token[c.name] = claims[c.name];
  const entities = [
    ...groups.map((g) => ({ uid: g, attrs: {}, parents: [] })),
    { uid: principal, attrs: {}, parents: claims.username ? groups : [] },
    { uid: resource, attrs: { id }, parents: [] },
  ];
  return cedar.statefulIsAuthorized({
    principal, action: uid("Action", route.route), resource, context: { token },
    preparsedSchemaName: "s", validateRequest: true, preparsedPolicySetId: "p", entities,
  });
}

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation`;
(async () => {
  await verifier.hydrate();
  for (;;) {
    const next = await fetch(`${api}/next`);
    const id = next.headers.get("lambda-runtime-aws-request-id");
    const event = await next.json();
    const start = process.hrtime.bigint();
    let allow = false;
    let policiesUsed = [];
    try {
      const bearer = (event.headers.authorization || "").replace(/^Bearer /i, "");
      const claims = await verifier.verify(bearer);
      const answer = decide(event, claims);
      allow = answer.type === "success" && answer.response.decision === "allow" && answer.response.diagnostics.errors.length === 0;
      policiesUsed = answer.type === "success" ? answer.response.diagnostics.reason : [];
    } catch (e) {
      allow = false;
    }
    const micros = Number(process.hrtime.bigint() - start) / 1000;
    console.log(JSON.stringify({ decision: allow ? "ALLOW" : "DENY", policies: policiesUsed, micros }));
    await fetch(`${api}/${id}/response`, { method: "POST", body: JSON.stringify({ isAuthorized: allow, context: {} }) });
  }
})();
