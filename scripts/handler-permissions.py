#!/usr/bin/env python3
"""The IAM permissions CloudFormation's handlers call for each resource type the stack uses.

CloudFormation creates, updates, reads and deletes each resource with the caller's
permissions (no service role), and each resource type's provider schema lists the
permissions of its handlers. cfn-lint ships those schemas; this script copies the lists for
the stack's resource types into deployer/tests/fixtures/handler-permissions.json, which the
fast test `handler_permissions.rs` checks the CI roles' policies against.

  scripts/handler-permissions.py           rewrite the fixture from cfn-lint's schemas
  scripts/handler-permissions.py --check   exit 1 when the fixture differs from them
"""
import json
import pathlib
import sys

import cfnlint.data.schemas

TYPES = [
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolDomain",
    "AWS::DynamoDB::Table",
    "AWS::IAM::Role",
    "AWS::Lambda::Alias",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Logs::LogGroup",
]
HANDLERS = ["create", "read", "update", "delete"]
REGION = "us-east-1"

root = pathlib.Path(cfnlint.data.schemas.__file__).parent
fixture = pathlib.Path(__file__).resolve().parent.parent / "deployer/tests/fixtures/handler-permissions.json"


def extract():
    index = json.loads((root / "providers" / f"{REGION}.json").read_text())
    out = {"source": f"cfn-lint provider schemas ({REGION})", "types": {}}
    for kind in TYPES:
        schema = json.loads((root / "resources" / f"{index[kind]}.json").read_text())
        handlers = schema.get("handlers", {})
        out["types"][kind] = {
            h: sorted(set(handlers.get(h, {}).get("permissions", []))) for h in HANDLERS
        }
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


text = extract()
if "--check" in sys.argv[1:]:
    if fixture.read_text() != text:
        print(f"{fixture} differs from cfn-lint's schemas: run scripts/handler-permissions.py", file=sys.stderr)
        sys.exit(1)
    print("handler permissions fixture matches cfn-lint's schemas")
else:
    fixture.write_text(text)
    print(f"wrote {fixture}")
