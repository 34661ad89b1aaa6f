//! Every rule the inputs must keep, as data: what it says, where AWS documents it, the check,
//! and inputs that break it and inputs at its edge that keep it. `deployer/tests/rules.rs`
//! makes one test case of each example. Pure: nothing here calls AWS.
//!
//! The rules run on the inputs as they will be deployed: after an ephemeral run's suffix is
//! added to the names, so a suffix cannot make a name AWS refuses.

use super::{EventVersion, FeaturePlan, StackInputs, Violation, MAX_STACK_NAME};
use crate::stack::MANAGED_BY;
use serde_json::{json, Value};
use std::fmt::Debug;
use trigger::config::{
    reserved_reason, ClaimType, Tokens, CONFIG_ENV, ID_TOKEN_STRING_CLAIMS, LOOKUP_TIMEOUT_MS,
    MAX_CLAIMS_BYTES,
};

/// One rule.
pub struct Rule {
    /// A stable name, shown with each violation.
    pub id: &'static str,
    /// The rule in words, as the error shows it.
    pub says: &'static str,
    /// Where AWS (or the RFC) states it.
    pub doc: &'static str,
    check: fn(&StackInputs, &mut Found),
    /// Inputs, as a JSON merge patch over the smallest valid inputs, that break this rule and
    /// no other.
    pub breaks: fn() -> Vec<Value>,
    /// Inputs at the rule's edge that keep it (and every other rule).
    pub keeps: fn() -> Vec<Value>,
}

impl Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("id", &self.id).finish()
    }
}

/// The smallest valid inputs; the examples are merge patches over them.
pub fn smallest() -> Value {
    json!({"stackName": "demo", "userPoolDomainName": "demo-login"})
}

/// Where a rule records what breaks it.
pub struct Found<'a> {
    rule: &'a Rule,
    out: &'a mut Vec<Violation>,
}

impl Found<'_> {
    /// `path` breaks the rule as it says.
    fn at(&mut self, path: impl Into<String>, value: &dyn Debug) {
        let says = self.rule.says.to_owned();
        self.because(path, value, says);
    }

    /// `path` breaks the rule, for this reason.
    fn because(&mut self, path: impl Into<String>, value: &dyn Debug, reason: impl Into<String>) {
        self.out.push(Violation {
            path: path.into(),
            value: format!("{value:?}"),
            rule: reason.into(),
            id: self.rule.id,
            doc: self.rule.doc,
        });
    }

    fn check(&mut self, ok: bool, path: impl Into<String>, value: &dyn Debug) {
        if !ok {
            self.at(path, value);
        }
    }
}

/// Every rule the inputs break (empty when they are valid).
pub fn violations(inputs: &StackInputs) -> Vec<Violation> {
    let mut out = Vec::new();
    for rule in RULES {
        (rule.check)(
            inputs,
            &mut Found {
                rule,
                out: &mut out,
            },
        );
    }
    out
}

const CFN_CREATE_STACK: &str =
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html";
const COGNITO_DOMAIN: &str =
    "https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-assign-domain-prefix.html";
const REGIONS: &str = "https://docs.aws.amazon.com/general/latest/gr/rande.html";
const PARTITIONS: &str =
    "https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html";
const DDB_NAMES: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html";
const PRE_TOKEN: &str =
    "https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-lambda-pre-token-generation.html";
const FEATURE_PLANS: &str =
    "https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-sign-in-feature-plans.html";
const TRIGGERS: &str =
    "https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-working-with-lambda-triggers.html";
const LAMBDA_CREATE: &str = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html";
const CODE_SIGNING: &str =
    "https://docs.aws.amazon.com/lambda/latest/api/API_CodeSigningConfig.html";
const CREATE_CHANGE_SET: &str =
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html";

/// CreateChangeSet's limit on `TemplateBody`, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 51_200;
const LAMBDA_ENV: &str = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html";
const LOG_RETENTION: &str =
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html";
const CLIENT: &str =
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html";
const CLIENT_ID: &str =
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_DescribeUserPoolClient.html";
const DESCRIBE_POOL: &str =
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_DescribeUserPool.html";
const ATTRIBUTES: &str =
    "https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-settings-attributes.html";
const TAGS: &str = "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Tag.html";
const TAG_LIMITS: &str =
    "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions";
const TOKEN_SIZE: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html";
const HTTP_ROUTES: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html";
const HTTP_INTEGRATIONS: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations.html";
const HTTP_QUOTAS: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html";
// Cedar as Verified Permissions documents it (the same grammar as docs.cedarpolicy.com).
const CEDAR_SCHEMA: &str =
    "https://docs.aws.amazon.com/verifiedpermissions/latest/userguide/schema.html";

/// Each rule, in the order its violations are listed.
pub static RULES: &[Rule] = &[
    Rule {
        id: "stack-name",
        says: "a CloudFormation stack name: a letter, then letters, digits and hyphens, at most 55 characters (the function is named <stackName>-pretoken, and Lambda allows 64)",
        doc: CFN_CREATE_STACK,
        check: |i, f| f.check(valid_stack_name(&i.stack_name), "stackName", &i.stack_name),
        breaks: || vec![
            json!({"stackName": "1demo"}),
            json!({"stackName": "demo_stack"}),
            json!({"stackName": "a".repeat(MAX_STACK_NAME + 1)}),
        ],
        keeps: || vec![json!({"stackName": "a".repeat(MAX_STACK_NAME)}), json!({"stackName": "D-1"})],
    },
    Rule {
        id: "stack-name-separator",
        says: "no `--` in stackName or table.name, and no `-` at the end of stackName: ephemeral copies are named <stackName>--<suffix>, and the CI roles tell a project's copies from its base stack and from other projects by it",
        doc: CFN_CREATE_STACK,
        check: |i, f| {
            let sep = crate::policy::COPY_SEPARATOR;
            let project = i.project();
            f.check(!project.contains(sep) && !project.ends_with('-'), "stackName", &project);
            if let Some(table) = i.base_table_name() {
                f.check(!table.contains(sep), "table.name", &table);
            }
        },
        breaks: || vec![
            json!({"stackName": "app--pr"}),
            json!({"stackName": "a--"}),
            json!({"stackName": "app-"}),
            json!({"table": {"name": "app--prod-users"}}),
        ],
        keeps: || vec![json!({"stackName": "app-pr-1"}), json!({"table": {"name": "people-v2"}})],
    },
    Rule {
        id: "domain-prefix",
        says: "a Cognito domain prefix: 1 to 63 lower-case letters, digits and hyphens, not starting or ending with a hyphen",
        doc: COGNITO_DOMAIN,
        check: |i, f| {
            let d = &i.user_pool_domain_name;
            f.check(
                d.is_empty() || (1..=63).contains(&d.len())
                    && d.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !d.starts_with('-')
                    && !d.ends_with('-'),
                "userPoolDomainName",
                d,
            )
        },
        breaks: || vec![
            json!({"userPoolDomainName": "Demo"}),
            json!({"userPoolDomainName": "-demo"}),
            json!({"userPoolDomainName": "demo-"}),
            json!({"userPoolDomainName": "d".repeat(64)}),
        ],
        keeps: || vec![json!({"userPoolDomainName": "d"}), json!({"userPoolDomainName": "d".repeat(63)})],
    },
    Rule {
        id: "pool-domain",
        says: "a new pool needs userPoolDomainName (its hosted UI's prefix); an existing pool (userPool.existing) keeps its own domain and takes none",
        doc: COGNITO_DOMAIN,
        check: |i, f| {
            let d = &i.user_pool_domain_name;
            f.check(d.is_empty() == i.user_pool.is_some(), "userPoolDomainName", d)
        },
        breaks: || vec![
            json!({"userPoolDomainName": null}),
            json!({"userPool": {"existing": "us-east-1_AbC123"}}),
        ],
        keeps: || vec![json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123"}})],
    },
    Rule {
        id: "pool-id",
        says: "a user pool id: <region>_<letters and digits>, at most 55 characters, of a pool in the stack's region",
        doc: DESCRIBE_POOL,
        check: |i, f| {
            let Some(pool) = &i.user_pool else { return };
            let id = &pool.existing;
            let well_formed = id.len() <= 55
                && id.split_once('_').is_some_and(|(region, rest)| {
                    !region.is_empty()
                        && region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !rest.is_empty()
                        && rest.chars().all(|c| c.is_ascii_alphanumeric())
                });
            let in_region = match (&i.region, id.split_once('_')) {
                (Some(region), Some((prefix, _))) => region == prefix,
                _ => true,
            };
            f.check(well_formed && in_region, "userPool.existing", id)
        },
        breaks: || vec![
            json!({"userPoolDomainName": null, "userPool": {"existing": "AbC123"}}),
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_"}}),
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_Ab c"}}),
            json!({"userPoolDomainName": null, "region": "eu-west-1", "userPool": {"existing": "us-east-1_AbC123"}}),
        ],
        keeps: || vec![json!({"userPoolDomainName": null, "region": "eu-west-1", "userPool": {"existing": "eu-west-1_AbC123xyz"}})],
    },
    Rule {
        id: "pool-client-id",
        says: "an app client id: 1 to 128 letters, digits, underscores and plus signs, each listed once",
        doc: CLIENT_ID,
        check: |i, f| {
            let Some(pool) = &i.user_pool else { return };
            for (n, c) in pool.clients.iter().enumerate() {
                let ok = (1..=128).contains(&c.len())
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '+')
                    && !pool.clients[..n].contains(c);
                f.check(ok, format!("userPool.clients[{n}]"), c);
            }
        },
        breaks: || vec![
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123", "clients": [""]}}),
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123", "clients": ["a-b"]}}),
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123", "clients": ["a1", "a1"]}}),
        ],
        keeps: || vec![json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123", "clients": ["4tq7abc", "x".repeat(128)]}})],
    },
    Rule {
        id: "user-key-attribute",
        says: "a user attribute name: 1 to 32 characters (after any custom: prefix) with no spaces, such as email or custom:employee_id",
        doc: ATTRIBUTES,
        check: |i, f| {
            let Some(a) = &i.table.user_key_attribute else { return };
            let name = a.strip_prefix("custom:").unwrap_or(a);
            let ok = (1..=32).contains(&name.chars().count())
                && !name.chars().any(|c| c.is_whitespace() || c.is_control());
            f.check(ok, "table.userKeyAttribute", a)
        },
        breaks: || vec![
            json!({"table": {"userKeyAttribute": ""}}),
            json!({"table": {"userKeyAttribute": "custom:"}}),
            json!({"table": {"userKeyAttribute": "employee id"}}),
            json!({"table": {"userKeyAttribute": "x".repeat(33)}}),
        ],
        keeps: || vec![json!({"table": {"userKeyAttribute": "email"}}), json!({"table": {"userKeyAttribute": format!("custom:{}", "x".repeat(32))}})],
    },
    Rule {
        id: "domain-reserved-words",
        says: "Cognito domain prefixes may not contain the reserved words aws, amazon or cognito",
        doc: COGNITO_DOMAIN,
        check: |i, f| {
            let d = i.user_pool_domain_name.to_ascii_lowercase();
            f.check(
                !["aws", "amazon", "cognito"].iter().any(|w| d.contains(w)),
                "userPoolDomainName",
                &i.user_pool_domain_name,
            )
        },
        breaks: || vec![
            json!({"userPoolDomainName": "my-cognito-login"}),
            json!({"userPoolDomainName": "awsome"}),
            json!({"userPoolDomainName": "amazonia"}),
        ],
        keeps: || vec![json!({"userPoolDomainName": "a-w-s"})],
    },
    Rule {
        id: "region-name",
        says: "an AWS region name such as us-east-1 or eu-west-2: lower-case words and a number, joined by hyphens",
        doc: REGIONS,
        check: |i, f| region_rule(i, f, "region-name"),
        breaks: || vec![
            json!({"region": "us-east-"}),
            json!({"region": "mars"}),
            json!({"region": "US-EAST-1"}),
            json!({"region": "us-east-1a"}),
        ],
        keeps: || vec![json!({"region": "ap-southeast-5"}), json!({"region": "eu-central-2"})],
    },
    Rule {
        id: "region-partition",
        says: "a region of the aws partition: the trigger's HTTPS client trusts only the Amazon Trust Services roots, and the hosted UI address and service principals are the aws partition's",
        doc: PARTITIONS,
        check: |i, f| region_rule(i, f, "region-partition"),
        breaks: || vec![
            json!({"region": "cn-north-1"}),
            json!({"region": "us-gov-west-1"}),
            json!({"region": "us-iso-east-1"}),
            json!({"region": "eu-isoe-west-1"}),
        ],
        keeps: || vec![json!({"region": "us-east-1"}), json!({"region": "il-central-1"})],
    },
    Rule {
        id: REGION_KNOWN,
        says: "a region the aws partition has (the SDK's endpoint metadata lists them)",
        doc: REGIONS,
        check: |i, f| region_rule(i, f, REGION_KNOWN),
        breaks: || vec![json!({"region": "us-est-1"}), json!({"region": "eu-west-9"})],
        keeps: || vec![json!({"region": "ap-southeast-7"}), json!({"region": "mx-central-1"})],
    },
    Rule {
        id: "table-name",
        says: "a DynamoDB table name: 3 to 255 letters, digits, underscores, hyphens and dots",
        doc: DDB_NAMES,
        check: |i, f| {
            let t = i.table_name();
            f.check(
                (3..=255).contains(&t.len())
                    && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "table.name",
                &t,
            )
        },
        breaks: || vec![json!({"table": {"name": "a b"}}), json!({"table": {"name": "ab"}}), json!({"table": {"name": "t".repeat(256)}})],
        keeps: || vec![json!({"table": {"name": "a.b"}}), json!({"table": {"name": "t_-.".repeat(63) + "abc"}})],
    },
    Rule {
        id: "partition-key",
        says: "a key attribute name: 1 to 255 bytes, not blank, without spaces at either end (the trigger refuses to start with a blank one, which would fail every login)",
        doc: DDB_NAMES,
        check: |i, f| {
            let k = &i.table.partition_key;
            f.check(
                !k.trim().is_empty() && k.trim() == k && k.len() <= 255,
                "table.partitionKey",
                k,
            )
        },
        breaks: || vec![
            json!({"table": {"partitionKey": ""}}),
            json!({"table": {"partitionKey": "  "}}),
            json!({"table": {"partitionKey": " userName"}}),
            json!({"table": {"partitionKey": "k".repeat(256)}}),
        ],
        keeps: || vec![json!({"table": {"partitionKey": "user name"}}), json!({"table": {"partitionKey": "k".repeat(255)}})],
    },
    Rule {
        id: "attribute-name",
        says: "a row attribute name: not blank, without spaces at either end (an empty name makes every lookup's projection fail, so every login would be denied)",
        doc: DDB_NAMES,
        check: |i, f| {
            let ok = |a: &str| !a.trim().is_empty() && a.trim() == a;
            for (n, m) in i.claims.iter().enumerate() {
                f.check(ok(&m.attribute), format!("claims[{n}].attribute"), &m.attribute);
            }
            if let Some(g) = &i.groups {
                f.check(ok(&g.attribute), "groups.attribute", &g.attribute);
            }
            if let Some(s) = &i.scopes_attribute {
                f.check(ok(s), "scopesAttribute", s);
            }
        },
        breaks: || vec![
            json!({"claims": [{"attribute": ""}]}),
            json!({"claims": [{"attribute": "role "}]}),
            json!({"groups": {"attribute": " "}}),
            json!({"scopesAttribute": ""}),
        ],
        keeps: || vec![json!({"scopesAttribute": "scopes", "groups": {"attribute": "groups"}, "claims": [{"attribute": "tenant id"}]})],
    },
    Rule {
        id: "claim-name",
        says: "a claim name: not blank, without spaces at either end",
        doc: PRE_TOKEN,
        check: |i, f| {
            // Without one the claim is named after the attribute, whose own rule applies.
            for (n, c) in i.claims.iter().enumerate().filter_map(|(n, m)| Some((n, m.claim.as_deref()?))) {
                f.check(!c.trim().is_empty() && c.trim() == c, format!("claims[{n}].claim"), &c);
            }
        },
        breaks: || vec![json!({"claims": [{"attribute": "a", "claim": ""}]}), json!({"claims": [{"attribute": "a", "claim": " a"}]})],
        keeps: || vec![json!({"claims": [{"attribute": "a", "claim": "custom:tenant id"}]})],
    },
    Rule {
        id: "claim-reserved",
        says: "a claim Cognito does not let a pre-token-generation trigger add, change or suppress",
        doc: PRE_TOKEN,
        check: |i, f| {
            for (n, m) in i.claims.iter().enumerate() {
                // Only the claims reserved in every token; the access token's own are the next rule's.
                if let Some(reason) = reserved_reason(m.claim_name(), Tokens::Id) {
                    f.because(format!("claims[{n}].claim"), &m.claim_name(), reason);
                }
            }
        },
        breaks: || ["sub", "event_id", "device_key", "origin_jti", "dev:team", "cognito:groups"]
            .iter()
            .map(|c| json!({"claims": [{"attribute": "x", "claim": c}]}))
            .collect(),
        keeps: || vec![json!({"claims": [{"attribute": "x", "claim": "device"}, {"attribute": "y", "claim": "subject"}]})],
    },
    Rule {
        id: "claim-access-managed",
        says: "a claim Cognito manages itself in the access token (scopes are added with scopesAttribute); map it into the ID token only, or use another name",
        doc: PRE_TOKEN,
        check: |i, f| {
            for (n, m) in i.claims.iter().enumerate() {
                let c = m.claim_name();
                if reserved_reason(c, Tokens::Id).is_none() {
                    if let Some(reason) = reserved_reason(c, m.tokens) {
                        f.because(format!("claims[{n}].claim"), &c, reason);
                    }
                }
            }
        },
        breaks: || ["scope", "client_id", "username", "version"]
            .iter()
            .map(|c| json!({"claims": [{"attribute": "x", "claim": c, "tokens": "access"}]}))
            .collect(),
        keeps: || vec![json!({"claims": [{"attribute": "x", "claim": "scope", "tokens": "id"}]})],
    },
    Rule {
        id: "claim-duplicate",
        says: "one claim name once per token",
        doc: PRE_TOKEN,
        check: |i, f| {
            let mut id = std::collections::BTreeSet::new();
            let mut access = std::collections::BTreeSet::new();
            for (n, m) in i.claims.iter().enumerate() {
                let c = m.claim_name();
                if m.tokens.id() && !id.insert(c) {
                    f.because(format!("claims[{n}].claim"), &c, "already mapped into the ID token");
                }
                if m.tokens.access() && !access.insert(c) {
                    f.because(format!("claims[{n}].claim"), &c, "already mapped into the access token");
                }
            }
        },
        breaks: || vec![json!({"claims": [{"attribute": "a", "claim": "c"}, {"attribute": "b", "claim": "c"}]})],
        keeps: || vec![json!({"claims": [{"attribute": "a", "claim": "c", "tokens": "id"}, {"attribute": "b", "claim": "c", "tokens": "access"}]})],
    },
    Rule {
        id: "claim-id-token-string",
        says: "in the ID token of a V2_0 or V3_0 trigger, Cognito takes phone_number_verified, email_verified, updated_at and address as strings only: set \"type\": \"string\"",
        doc: PRE_TOKEN,
        check: |i, f| {
            if i.event_version == EventVersion::V1_0 {
                return;
            }
            for (n, m) in i.claims.iter().enumerate() {
                let c = m.claim_name();
                if m.tokens.id() && ID_TOKEN_STRING_CLAIMS.contains(&c) && m.kind != ClaimType::String {
                    f.at(format!("claims[{n}].type"), &m.kind);
                }
            }
        },
        breaks: || vec![
            json!({"claims": [{"attribute": "v", "claim": "email_verified"}]}),
            json!({"claims": [{"attribute": "a", "claim": "address", "type": "json"}]}),
            json!({"claims": [{"attribute": "u", "claim": "updated_at", "type": "number", "tokens": "both"}]}),
        ],
        keeps: || vec![
            json!({"claims": [{"attribute": "v", "claim": "email_verified", "type": "string"}]}),
            json!({"claims": [{"attribute": "v", "claim": "phone_number_verified", "type": "boolean", "tokens": "access"}]}),
            json!({"eventVersion": "V1_0", "claims": [{"attribute": "v", "claim": "email_verified"}]}),
        ],
    },
    Rule {
        id: "v1-id-token-only",
        says: "a V1_0 trigger can change the ID token only: use \"tokens\": \"id\", or set eventVersion to V2_0",
        doc: PRE_TOKEN,
        check: |i, f| {
            if i.event_version == EventVersion::V1_0 {
                for (n, m) in i.claims.iter().enumerate() {
                    f.check(!m.tokens.access(), format!("claims[{n}].tokens"), &m.tokens);
                }
            }
        },
        breaks: || vec![json!({"eventVersion": "V1_0", "claims": [{"attribute": "role", "tokens": "access"}]})],
        keeps: || vec![json!({"eventVersion": "V1_0", "claims": [{"attribute": "role", "tokens": "id"}]})],
    },
    Rule {
        id: "v1-no-scopes",
        says: "scopes can be added from V2_0 on: remove scopesAttribute or set eventVersion to V2_0",
        doc: PRE_TOKEN,
        check: |i, f| {
            if i.event_version == EventVersion::V1_0 {
                f.check(i.scopes_attribute.is_none(), "scopesAttribute", &i.scopes_attribute);
            }
        },
        breaks: || vec![json!({"eventVersion": "V1_0", "scopesAttribute": "scopes"})],
        keeps: || vec![json!({"eventVersion": "V2_0", "scopesAttribute": "scopes"})],
    },
    Rule {
        id: "feature-plan",
        says: "eventVersion V2_0 and V3_0 (access token customization) need the ESSENTIALS or PLUS feature plan",
        doc: FEATURE_PLANS,
        // An existing pool's own plan is checked once connected (`existing::inspect`).
        check: |i, f| {
            if i.event_version != EventVersion::V1_0 && i.user_pool.is_none() {
                f.check(i.feature_plan != FeaturePlan::Lite, "featurePlan", &i.feature_plan.as_str());
            }
        },
        breaks: || vec![json!({"eventVersion": "V2_0", "featurePlan": "LITE"}), json!({"eventVersion": "V3_0", "featurePlan": "LITE"})],
        keeps: || vec![json!({"eventVersion": "V1_0", "featurePlan": "LITE"}), json!({"eventVersion": "V3_0", "featurePlan": "PLUS"})],
    },
    Rule {
        id: "code-signing-config",
        says: "a Lambda code signing configuration's ARN, arn:<partition>:lambda:<region>:<account>:code-signing-config:csc-<17 hex digits>, in the stack's region",
        doc: CODE_SIGNING,
        check: |i, f| {
            if let Some(arn) = &i.trigger.code_signing_config_arn {
                f.check(code_signing_config_arn(arn, i.region.as_deref()), "trigger.codeSigningConfigArn", arn);
            }
        },
        breaks: || vec![
            json!({"trigger": {"codeSigningConfigArn": "csc-0d4518bd353a0a7c6"}}),
            json!({"trigger": {"codeSigningConfigArn": "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c"}}),
            json!({"region": "eu-west-1", "trigger": {"codeSigningConfigArn": "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6"}}),
            json!({"trigger": {"codeSigningConfigArn": "arn:aws:lambda:us-east-1:1111:code-signing-config:csc-0d4518bd353a0a7c6"}}),
        ],
        keeps: || vec![
            json!({"trigger": {"codeSigningConfigArn": "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6"}}),
            json!({"region": "eu-west-1", "trigger": {"codeSigningConfigArn": "arn:aws:lambda:eu-west-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6"}}),
        ],
    },
    Rule {
        id: "trigger-timeout",
        says: "between 1 and 5: Cognito waits 5 s for a trigger, then fails the login",
        doc: TRIGGERS,
        check: |i, f| f.check((1..=5).contains(&i.trigger.timeout_seconds), "trigger.timeoutSeconds", &i.trigger.timeout_seconds),
        breaks: || vec![json!({"trigger": {"timeoutSeconds": 0}}), json!({"trigger": {"timeoutSeconds": 6}})],
        keeps: || vec![json!({"trigger": {"timeoutSeconds": 1, "lookupTimeoutMs": 500}}), json!({"trigger": {"timeoutSeconds": 5}})],
    },
    Rule {
        id: "lookup-timeout",
        says: LOOKUP_TIMEOUT_WHY,
        doc: TRIGGERS,
        check: |i, f| {
            let ms = i.trigger.lookup_timeout_ms;
            f.check(LOOKUP_TIMEOUT_MS.contains(&ms), "trigger.lookupTimeoutMs", &ms)
        },
        breaks: || vec![json!({"trigger": {"lookupTimeoutMs": 50}}), json!({"trigger": {"lookupTimeoutMs": 4500}})],
        keeps: || vec![
            json!({"trigger": {"lookupTimeoutMs": *LOOKUP_TIMEOUT_MS.start()}}),
            json!({"trigger": {"lookupTimeoutMs": *LOOKUP_TIMEOUT_MS.end()}}),
        ],
    },
    Rule {
        id: "lookup-inside-function",
        says: "the lookup must end at least 500 ms before the function's timeout (trigger.timeoutSeconds), which leaves the cold start and the answer their time",
        doc: TRIGGERS,
        check: |i, f| {
            let t = &i.trigger;
            if (1..=5).contains(&t.timeout_seconds) && LOOKUP_TIMEOUT_MS.contains(&t.lookup_timeout_ms) {
                f.check(t.lookup_timeout_ms + 500 <= u64::from(t.timeout_seconds) * 1000, "trigger.lookupTimeoutMs", &t.lookup_timeout_ms);
            }
        },
        breaks: || vec![json!({"trigger": {"timeoutSeconds": 2, "lookupTimeoutMs": 1501}}), json!({"trigger": {"timeoutSeconds": 1, "lookupTimeoutMs": 600}})],
        keeps: || vec![json!({"trigger": {"timeoutSeconds": 2, "lookupTimeoutMs": 1500}})],
    },
    Rule {
        id: "trigger-memory",
        says: "between 128 and 10240 MB (Lambda's range)",
        doc: LAMBDA_CREATE,
        check: |i, f| f.check((128..=10240).contains(&i.trigger.memory_mb), "trigger.memoryMb", &i.trigger.memory_mb),
        breaks: || vec![json!({"trigger": {"memoryMb": 64}}), json!({"trigger": {"memoryMb": 10241}})],
        keeps: || vec![json!({"trigger": {"memoryMb": 128}}), json!({"trigger": {"memoryMb": 10240}})],
    },
    Rule {
        id: "log-retention",
        says: "one of CloudWatch Logs' retention values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
        doc: LOG_RETENTION,
        check: |i, f| f.check(RETENTION_DAYS.contains(&i.trigger.log_retention_days), "trigger.logRetentionDays", &i.trigger.log_retention_days),
        breaks: || vec![json!({"trigger": {"logRetentionDays": 10}}), json!({"trigger": {"logRetentionDays": 0}})],
        keeps: || vec![json!({"trigger": {"logRetentionDays": 1}}), json!({"trigger": {"logRetentionDays": 3653}})],
    },
    Rule {
        id: "token-validity",
        says: "Cognito's token lifetimes: ID and access tokens 5 to 1440 minutes, refresh tokens 1 to 3650 days",
        doc: CLIENT,
        check: |i, f| {
            let t = &i.tokens;
            f.check((5..=1440).contains(&t.id_token_minutes), "tokens.idTokenMinutes", &t.id_token_minutes);
            f.check((5..=1440).contains(&t.access_token_minutes), "tokens.accessTokenMinutes", &t.access_token_minutes);
            f.check((1..=3650).contains(&t.refresh_token_days), "tokens.refreshTokenDays", &t.refresh_token_days);
        },
        breaks: || vec![
            json!({"tokens": {"idTokenMinutes": 4}}),
            json!({"tokens": {"accessTokenMinutes": 1441}}),
            json!({"tokens": {"refreshTokenDays": 0}}),
            json!({"tokens": {"refreshTokenDays": 3651}}),
        ],
        keeps: || vec![json!({"tokens": {"idTokenMinutes": 5, "accessTokenMinutes": 1440, "refreshTokenDays": 3650}})],
    },
    Rule {
        id: "claim-size-budget",
        says: MAX_CLAIMS_WHY,
        doc: TOKEN_SIZE,
        check: |i, f| {
            let t = &i.trigger;
            f.check((64..=MAX_CLAIMS_BYTES).contains(&t.max_claim_bytes), "trigger.maxClaimBytes", &t.max_claim_bytes);
            f.check((64..=MAX_CLAIMS_BYTES).contains(&t.max_claims_bytes), "trigger.maxClaimsBytes", &t.max_claims_bytes);
            if t.max_claim_bytes > t.max_claims_bytes {
                f.because("trigger.maxClaimBytes", &t.max_claim_bytes, "at most trigger.maxClaimsBytes (the budget of all the added claims together)");
            }
        },
        breaks: || vec![
            json!({"trigger": {"maxClaimBytes": 63}}),
            json!({"trigger": {"maxClaimsBytes": MAX_CLAIMS_BYTES + 1}}),
            json!({"trigger": {"maxClaimBytes": 3000, "maxClaimsBytes": 2000}}),
        ],
        keeps: || vec![json!({"trigger": {"maxClaimBytes": 64, "maxClaimsBytes": MAX_CLAIMS_BYTES}})],
    },
    Rule {
        id: "function-environment",
        says: "Lambda allows 4 KB for all of a function's environment variables together; the mapping travels in TRIGGER_CONFIG: shorten attribute and claim names or map fewer",
        doc: LAMBDA_ENV,
        check: |i, f| {
            let size = environment_bytes(i);
            if size > 4096 {
                f.because("claims", &format!("{size} bytes"), format!("{CONFIG_ENV} takes {size} bytes of the function's environment; Lambda allows 4096 for all variables together: shorten attribute and claim names, or map fewer"));
            }
        },
        breaks: || vec![json!({"claims": (0..40).map(|n| json!({"attribute": format!("{n:02}{}", "a".repeat(60)), "claim": format!("{n:02}{}", "c".repeat(30))})).collect::<Vec<_>>()})],
        keeps: || vec![json!({"claims": (0..20).map(|n| json!({"attribute": format!("{n:02}{}", "a".repeat(60)), "claim": format!("{n:02}{}", "c".repeat(30))})).collect::<Vec<_>>()})],
    },
    Rule {
        id: "template-size",
        says: "the rendered template must fit CreateChangeSet's TemplateBody (51,200 bytes); trim the field named",
        doc: CREATE_CHANGE_SET,
        check: |i, f| {
            let Ok(text) = crate::render::render(i) else {
                return;
            };
            if text.len() > MAX_TEMPLATE_BYTES {
                // The fields that grow the template: name the largest.
                let size = |v: Value| v.to_string().len();
                let sizes = [
                    ("callbackUrls", size(json!(i.callback_urls))),
                    ("logoutUrls", size(json!(i.logout_urls()))),
                    ("claims", size(json!(i.claims))),
                    ("tags", size(json!(i.tags))),
                ];
                let (field, bytes) = sizes.iter().max_by_key(|(_, n)| *n).copied().unwrap_or(("claims", 0));
                f.because(
                    field,
                    &format!("{bytes} bytes of JSON"),
                    format!(
                        "the rendered template is {} bytes, over CreateChangeSet's {MAX_TEMPLATE_BYTES}; {field} takes the most of it: trim it",
                        text.len()
                    ),
                );
            }
        },
        breaks: || vec![json!({"callbackUrls": (0..40).map(|n| format!("https://app.example/{n}/{}", "a".repeat(1000))).collect::<Vec<_>>()})],
        keeps: || vec![json!({"callbackUrls": (0..10).map(|n| format!("https://app.example/{n}/{}", "a".repeat(1000))).collect::<Vec<_>>()})],
    },
    Rule {
        id: "redirect-urls",
        says: "Cognito's redirect URL rules: at least one callback URL, at most 100 of each kind",
        doc: CLIENT,
        check: |i, f| {
            f.check(!i.callback_urls.is_empty(), "callbackUrls", &i.callback_urls);
            f.check(i.callback_urls.len() <= 100, "callbackUrls", &format!("{} URLs", i.callback_urls.len()));
            if let Some(logout) = &i.logout_urls {
                f.check(logout.len() <= 100, "logoutUrls", &format!("{} URLs", logout.len()));
            }
        },
        breaks: || vec![
            json!({"callbackUrls": []}),
            json!({"callbackUrls": (0..101).map(|n| format!("https://app.example/{n}")).collect::<Vec<_>>()}),
        ],
        keeps: || vec![json!({"callbackUrls": (0..100).map(|n| format!("https://app.example/{n}")).collect::<Vec<_>>(), "logoutUrls": []})],
    },
    Rule {
        id: "redirect-url",
        says: "a redirect URL Cognito accepts: absolute, at most 1024 characters, no fragment and no user info; https, http only to localhost, or an app's own scheme such as myapp://callback",
        doc: CLIENT,
        check: |i, f| {
            let urls = i.callback_urls.iter().enumerate().map(|(n, u)| (format!("callbackUrls[{n}]"), u));
            let logout = i.logout_urls.iter().flatten().enumerate().map(|(n, u)| (format!("logoutUrls[{n}]"), u));
            for (path, url) in urls.chain(logout) {
                if let Err(why) = redirect_url(url) {
                    f.because(path, url, why);
                }
            }
        },
        breaks: || vec![
            json!({"callbackUrls": ["http://example.com/cb"]}),
            json!({"callbackUrls": ["http://localhost@evil.example/"]}),
            json!({"callbackUrls": ["https://app.example/cb#token"]}),
            json!({"callbackUrls": ["https://user:pw@app.example/cb"]}),
            json!({"callbackUrls": ["/relative/cb"]}),
            json!({"callbackUrls": ["http://127.0.0.1:8081/"]}),
            json!({"callbackUrls": ["javascript:alert(1)"]}),
            json!({"callbackUrls": [format!("https://app.example/{}", "p".repeat(1005))]}),
            json!({"logoutUrls": ["http://example.com/bye"]}),
        ],
        keeps: || vec![
            json!({"callbackUrls": ["myapp://cb", "http://localhost:8081/", "https://app.example/cb?x=1", "com.example.app:/oauth2redirect"]}),
            json!({"callbackUrls": [format!("https://app.example/{}", "p".repeat(1004))]}),
        ],
    },
    Rule {
        id: "tag-key",
        says: "a tag key: 1 to 128 letters, digits, spaces and _ . : / = + - @, not starting with aws: in any letter case (AWS keeps those)",
        doc: TAGS,
        check: |i, f| {
            for key in i.tags.keys() {
                f.check(
                    (1..=128).contains(&key.chars().count())
                        && tag_chars(key)
                        && !key.to_ascii_lowercase().starts_with("aws:"),
                    format!("tags.{key}"),
                    key,
                );
            }
        },
        breaks: || vec![
            json!({"tags": {"aws:owner": "me"}}),
            json!({"tags": {"AWS:owner": "me"}}),
            json!({"tags": {"": "x"}}),
            json!({"tags": {"k".repeat(129): "x"}}),
            json!({"tags": {"team#1": "x"}}),
        ],
        keeps: || vec![json!({"tags": {"k".repeat(128): "x", "cost centre/é_.:=+-@": "x", "awsome": "x"}})],
    },
    Rule {
        id: "tag-value",
        says: "a tag value: at most 256 letters, digits, spaces and _ . : / = + - @",
        doc: TAGS,
        check: |i, f| {
            for (key, value) in &i.tags {
                f.check(value.chars().count() <= 256 && tag_chars(value), format!("tags.{key}"), value);
            }
        },
        breaks: || vec![json!({"tags": {"team": "v".repeat(257)}}), json!({"tags": {"team": "a;b"}})],
        keeps: || vec![json!({"tags": {"team": "v".repeat(256), "empty": ""}})],
    },
    Rule {
        id: "tag-deployer",
        says: "the deployer's own tag keys (deployer:*, managed-by, in any letter case) mark what it made and are set by it alone",
        doc: TAGS,
        check: |i, f| {
            for key in i.tags.keys() {
                f.check(!deployer_tag(key), format!("tags.{key}"), key);
            }
        },
        breaks: || vec![
            json!({"tags": {"deployer:ephemeral": "true"}}),
            json!({"tags": {"Deployer:Expires-At": "2000-01-01T00:00:00Z"}}),
            json!({"tags": {"MANAGED-BY": "deployer"}}),
        ],
        keeps: || vec![json!({"tags": {"deployed-by": "ci", "managed": "yes"}})],
    },
    Rule {
        id: "tag-count",
        says: "at most 50 tags on a stack (and on the pool and table it tags), the deployer's own included",
        doc: TAG_LIMITS,
        check: |i, f| {
            let all = i.stack_tags();
            if all.len() > 50 {
                f.because(
                    "tags",
                    &format!("{} tags", i.tags.len()),
                    format!("{} tags with the deployer's {}: AWS allows 50 per resource; remove {}", all.len(), all.len() - i.tags.len(), all.len() - 50),
                );
            }
        },
        // The deployer adds three: managed-by, deployer:stack and deployer:lifecycle.
        breaks: || vec![json!({"tags": (0..48).map(|n| (format!("t{n}"), json!("x"))).collect::<serde_json::Map<_, _>>()})],
        keeps: || vec![json!({"tags": (0..47).map(|n| (format!("t{n}"), json!("x"))).collect::<serde_json::Map<_, _>>()})],
    },
    Rule {
        id: "api-route",
        says: "a route key: a method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY), a space, and a path starting with / whose parameters are {name} (letters, digits, _ . -), each once, with a greedy {name+} only as the last segment",
        doc: HTTP_ROUTES,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            for key in api.routes.keys() {
                f.check(route_key_ok(key), format!("api.routes[{key:?}]"), key);
            }
        },
        breaks: || vec![
            json!({"api": {"routes": {"GET projects": {}}}}),
            json!({"api": {"routes": {"FETCH /projects": {}}}}),
            json!({"api": {"routes": {"GET /a//b": {}}}}),
            json!({"api": {"routes": {"GET /{p+}/x": {}}}}),
            json!({"api": {"routes": {"GET /{a}/{a}": {}}}}),
            json!({"api": {"routes": {"GET /{a b}": {}}}}),
        ],
        keeps: || vec![json!({"api": {"routes": {"GET /": {}, "ANY /files/{path+}": {}, "DELETE /p/{p.id}/v": {"resource": {"type": "P"}}}}})],
    },
    Rule {
        id: "api-routes-count",
        says: "an api has 1 to 300 routes (API Gateway's quota per HTTP API)",
        doc: HTTP_QUOTAS,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            let n = api.routes.len();
            f.check((1..=300).contains(&n), "api.routes", &format!("{n} routes"));
        },
        breaks: || vec![json!({"api": {"routes": {}}})],
        keeps: || vec![json!({"api": {"routes": {"GET /me": {}}}})],
    },
    Rule {
        id: "api-resource",
        says: "a route's resource: a Cedar entity type name (a letter or _, then letters, digits, _; not User, UserGroup, Client, Api or Action: the schema's own), and a parameter of the route's path (which may be left out when the path has exactly one)",
        doc: CEDAR_SCHEMA,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            for (key, route) in &api.routes {
                let Some(resource) = &route.resource else { continue };
                let path = format!("api.routes[{key:?}].resource");
                let ty = &resource.entity_type;
                let own = ["User", "UserGroup", "Client", "Api", "Action"];
                f.check(authorizer::schema::identifier(ty) && !own.contains(&ty.as_str()), format!("{path}.type"), ty);
                if route_key_ok(key) && super::resource_parameter(key, resource).is_none() {
                    f.at(format!("{path}.parameter"), &resource.parameter);
                }
            }
        },
        breaks: || vec![
            json!({"api": {"routes": {"GET /p/{id}": {"resource": {"type": "my-project"}}}}}),
            json!({"api": {"routes": {"GET /p/{id}": {"resource": {"type": "User"}}}}}),
            json!({"api": {"routes": {"GET /p/{id}": {"resource": {"type": "P", "parameter": "pid"}}}}}),
            json!({"api": {"routes": {"GET /p/{a}/{b}": {"resource": {"type": "P"}}}}}),
            json!({"api": {"routes": {"GET /p": {"resource": {"type": "P"}}}}}),
        ],
        keeps: || vec![json!({"api": {"routes": {"GET /p/{a}/{b}": {"resource": {"type": "Project_2", "parameter": "b"}}}}})],
    },
    Rule {
        id: "api-target",
        says: "a route's target: whoami (built in), a Lambda function ARN (arn:<partition>:lambda:<region>:<account>:function:<name>[:<alias or version>]) that is no stack's function (not `<stack>-pretoken`, which reads user rows, `-authz` or `-whoami`, nor an ephemeral copy's `<stack>--<suffix>...`, which a pull request writes), or an https:// URL",
        doc: HTTP_INTEGRATIONS,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            for (key, route) in &api.routes {
                // Any stack's function, this one's included.
                let function = route.target.split(':').nth(6).unwrap_or_default();
                let ok = target_ok(&route.target) && !super::named_like_a_stacks_function(function);
                f.check(ok, format!("api.routes[{key:?}].target"), &route.target);
            }
        },
        breaks: || vec![
            json!({"api": {"routes": {"GET /me": {"target": "who"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "http://example.com/me"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123:function:f"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:s3:::bucket"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123456789012:function:demo-pretoken"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123456789012:function:demo-authz:live"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123456789012:function:my-api:*"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123456789012:function:billing-pretoken"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123456789012:function:demo--pr7-orders"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:us-east-1:123456789012:function:billing-authz:live"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws:lambda:*:123456789012:function:my-api"}}}}),
            json!({"api": {"routes": {"GET /me": {"target": "arn:aws*:lambda:us-east-1:123456789012:function:my-api"}}}}),
        ],
        keeps: || vec![json!({"api": {"routes": {
            "GET /me": {"target": "whoami"},
            "GET /a": {"target": "arn:aws:lambda:us-east-1:123456789012:function:my-api"},
            "GET /b": {"target": "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-api:live"},
            "GET /c": {"target": "https://backend.example.com/c"}
        }}})],
    },
    Rule {
        id: "api-memory",
        says: "the authorizer's memory: 128 to 10240 MB (Lambda's range)",
        doc: LAMBDA_CREATE,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            f.check((128..=10240).contains(&api.memory_mb), "api.memoryMb", &api.memory_mb);
        },
        breaks: || vec![json!({"api": {"routes": {"GET /me": {}}, "memoryMb": 64}})],
        keeps: || vec![json!({"api": {"routes": {"GET /me": {}}, "memoryMb": 128}}), json!({"api": {"routes": {"GET /me": {}}, "memoryMb": 10240}})],
    },
    Rule {
        id: "api-namespace",
        says: "a Cedar namespace: a letter or _, then letters, digits and _ (not a Cedar keyword)",
        doc: CEDAR_SCHEMA,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            f.check(authorizer::schema::identifier(&api.namespace), "api.namespace", &api.namespace);
        },
        breaks: || vec![json!({"api": {"routes": {"GET /me": {}}, "namespace": "my-app"}})],
        keeps: || vec![json!({"api": {"routes": {"GET /me": {}}, "namespace": "Projects_v2"}})],
    },
    Rule {
        id: "api-clients",
        says: "the app clients an API accepts: client ids (1 to 128 letters, digits, _ and +, each once); an existing pool without the deployer's app client needs them here or in userPool.clients",
        doc: CLIENT_ID,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            for (n, c) in api.clients.iter().enumerate() {
                let ok = (1..=128).contains(&c.len())
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '+')
                    && !api.clients[..n].contains(c);
                f.check(ok, format!("api.clients[{n}]"), c);
            }
            if let Some(pool) = &i.user_pool {
                if api.clients.is_empty() && pool.clients.is_empty() && !pool.app_client {
                    f.at("api.clients", &api.clients);
                }
            }
        },
        breaks: || vec![
            json!({"api": {"routes": {"GET /me": {}}, "clients": ["a-b"]}}),
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123"}, "api": {"routes": {"GET /me": {}}}}),
        ],
        keeps: || vec![
            json!({"api": {"routes": {"GET /me": {}}, "clients": ["4tq7abc"]}}),
            json!({"userPoolDomainName": null, "userPool": {"existing": "us-east-1_AbC123", "clients": ["4tq7abc"]}, "api": {"routes": {"GET /me": {}}}}),
        ],
    },
    Rule {
        id: "api-access-token-claims",
        says: "an API that takes access tokens needs eventVersion V2_0 or V3_0: a V1_0 trigger changes only the ID token, so the policies would see none of the claims (or set api.token to id)",
        doc: PRE_TOKEN,
        check: |i, f| {
            let Some(api) = &i.api else { return };
            if api.token == authorizer::token::TokenUse::Access && i.event_version == EventVersion::V1_0 {
                f.at("api.token", &"access");
            }
        },
        breaks: || vec![json!({"eventVersion": "V1_0", "api": {"routes": {"GET /me": {}}}})],
        keeps: || vec![json!({"eventVersion": "V1_0", "api": {"routes": {"GET /me": {}}, "token": "id"}})],
    },
];

/// Why the lookup's budget has the bounds it has.
pub const LOOKUP_TIMEOUT_WHY: &str = "between 200 and 3000 ms. At least 200: a cold function's first read opens a TLS connection to DynamoDB before its GetItem, and a retry must fit too; less fails cold logins. At most 3000: Cognito waits 5 s for the whole invocation (cold start, lookup, answer) and fails the login after that, so the lookup must leave the rest their time";

/// Why the claims' size budget has the bounds it has.
pub const MAX_CLAIMS_WHY: &str = "claim size budgets from 64 bytes to 6144 (the default is 2048 per claim, 4096 for all the added claims of a token): tokens travel in HTTP headers, and API Gateway takes at most 10240 bytes of them; base64 makes 6144 bytes of claims over 8 KB before Cognito's own claims and the signature";

/// CloudWatch Logs' accepted retention values.
const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A stack name the deployer accepts: a letter, then letters, digits and hyphens, at most
/// MAX_STACK_NAME characters (CloudFormation's rule, shortened so `<stackName>-pretoken`
/// fits Lambda's 64).
pub fn valid_stack_name(name: &str) -> bool {
    name.len() <= MAX_STACK_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A code signing configuration's ARN (Lambda API reference, CodeSigningConfig), in `region`
/// when the inputs name one.
fn code_signing_config_arn(arn: &str, region: Option<&str>) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "lambda", r, account, "code-signing-config", id] => {
            !partition.is_empty()
                && valid_region(r)
                && region.is_none_or(|want| want == *r)
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && id
                    .strip_prefix("csc-")
                    .is_some_and(|h| h.len() == 17 && h.chars().all(|c| c.is_ascii_hexdigit()))
        }
        _ => false,
    }
}

/// The shape of an AWS region name: lower-case words and a number, `us-east-1`.
pub fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The partition a region belongs to, by its documented name prefixes.
pub fn partition(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, p)| p)
}

/// The regions of the aws partition, as the AWS SDK's endpoint metadata lists them (the
/// `aws` partition of aws-sdk-sts's `partitions.json`, its global pseudo-region left out; a
/// test compares the two, so an SDK update that adds a region fails until it is listed here).
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The id of the rule --unlisted-region waives.
pub const REGION_KNOWN: &str = "region-known";

/// The first region rule `region` breaks: its id and why, in the words every place that
/// checks a region uses (the inputs' `region`, --region, the profile's).
pub fn region_problem(region: &str) -> Option<(&'static str, String)> {
    if !valid_region(region) {
        return Some((
            "region-name",
            format!(
                "{region:?} is not an AWS region name such as us-east-1 or eu-west-2{}",
                closest(region)
            ),
        ));
    }
    let p = partition(region);
    if p != "aws" {
        return Some((
            "region-partition",
            format!("{region} is in the {p} partition; the deployer supports regions of the aws partition only (the trigger's HTTPS client trusts only the Amazon Trust Services roots, and the hosted UI address and service principals are the aws partition's)"),
        ));
    }
    if !AWS_REGIONS.contains(&region) {
        return Some((
            REGION_KNOWN,
            format!("{region} is not a region of the aws partition{} (a region AWS launched after this deployer was built: pass --unlisted-region, or use a newer deployer)", closest(region)),
        ));
    }
    None
}

/// `; did you mean X?` with the known region closest to `region`, when one is close.
fn closest(region: &str) -> String {
    let lower = region.to_ascii_lowercase();
    AWS_REGIONS
        .iter()
        .map(|known| (strsim::damerau_levenshtein(&lower, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| format!("; did you mean {known}?"))
        .unwrap_or_default()
}

/// The region rule `id`, checked on the inputs' `region`.
fn region_rule(inputs: &StackInputs, f: &mut Found, id: &str) {
    let Some(region) = &inputs.region else {
        return;
    };
    if let Some((_, why)) = region_problem(region).filter(|(broken, _)| *broken == id) {
        f.because("region", region, why);
    }
}

/// A tag key the deployer keeps for itself (any letter case).
pub fn deployer_tag(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("deployer:") || key == MANAGED_BY.0
}

/// Whether `key` is a route key API Gateway takes (see the `api-route` rule).
fn route_key_ok(key: &str) -> bool {
    let Ok((_, path)) = authorizer::route::split(key) else {
        return false;
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut names = Vec::new();
    for (n, segment) in segments.iter().enumerate() {
        if segment.is_empty() && segments.len() != 1 {
            return false;
        }
        let Some(inner) = segment.strip_prefix('{') else {
            if segment.contains(['{', '}']) {
                return false;
            }
            continue;
        };
        let Some(inner) = inner.strip_suffix('}') else {
            return false;
        };
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !names.contains(&name)
            && (!greedy || n + 1 == segments.len());
        if !ok {
            return false;
        }
        names.push(name);
    }
    true
}

/// Whether `target` is a route target the deployer can integrate (see `api-target`).
fn target_ok(target: &str) -> bool {
    if target == super::WHOAMI {
        return true;
    }
    if let Some(rest) = target.strip_prefix("https://") {
        return url::Url::parse(target).is_ok_and(|u| u.host_str().is_some()) && !rest.is_empty();
    }
    let parts: Vec<&str> = target.split(':').collect();
    matches!(parts.as_slice(),
        // Lambda API reference, FunctionName and Qualifier patterns. No IAM wildcard (`*`,
        // `?`) gets through: `deployer policy` names these ARNs as resources.
        ["arn", partition, "lambda", region, account, "function", name, rest @ ..]
            if partition.starts_with("aws")
                && partition.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                && !region.is_empty()
                && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
                && !name.is_empty() && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && rest.len() <= 1
                && rest.iter().all(|q| !q.is_empty() && q.len() <= 128
                    && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '$')))
}

/// The characters AWS allows in tag keys and values.
fn tag_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// Why Cognito would refuse `url` as a callback or logout URL.
fn redirect_url(raw: &str) -> Result<(), String> {
    if raw.chars().count() > 1024 {
        return Err("longer than Cognito's 1024 characters".into());
    }
    let url = url::Url::parse(raw)
        .map_err(|e| format!("not an absolute URL ({e}): Cognito needs scheme and address"))?;
    if url.fragment().is_some() {
        return Err(
            "has a fragment (#...): a redirect URL may not, the tokens' code travels in the query"
                .into(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("has user info (user@host): the host is what follows the @".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str() == Some("localhost") => Ok(()),
        "http" => Err("http is for http://localhost only: use https".into()),
        "javascript" | "data" | "vbscript" | "file" => {
            Err(format!("a {}: URL is not a redirect target", url.scheme()))
        }
        _ => Ok(()),
    }
}

/// Bytes the function's environment takes as Lambda counts them: each variable's name and value.
pub fn environment_bytes(inputs: &StackInputs) -> usize {
    let config = serde_json::to_string(&inputs.trigger_config()).expect("the config serializes");
    CONFIG_ENV.len() + config.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region_prefixes() {
        for (region, p) in [
            ("us-east-1", "aws"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-east-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
        ] {
            assert_eq!(partition(region), p, "{region}");
        }
    }
}
