//! A small evaluator of IAM identity policies, as the IAM User Guide's "Policy evaluation
//! logic" describes it for one policy: an explicit Deny wins, else an Allow, else the
//! implicit deny. Actions and resources match with `*` and `?` (actions case-insensitively),
//! condition keys case-insensitively. Operators: String(Not)Equals, String(Not)Like,
//! ArnLike, Bool, Null, each with `IfExists` ("Condition operators"): a key missing from the
//! request fails a positive operator, passes a negated one and any `...IfExists`; and
//! `ForAllValues:` for multivalued keys ("Multivalued context keys"): every value of the key
//! must match, and a missing key matches; `ForAnyValue:`: one value must match, and a missing
//! key does not.
//!
//! The tests use it to prove what the printed policies allow and refuse, including the
//! conditions fakecloud does not evaluate (it sets no `iam:PermissionsBoundary` key).

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;

/// The policy scope of project `app` in `account` and `region`, for `role`.
pub fn app_scope(
    account: &str,
    region: &str,
    role: deployer::policy::Role,
) -> deployer::policy::Scope {
    deployer::policy::Scope {
        partition: "aws".into(),
        account: account.into(),
        region: region.into(),
        prefix: "app".into(),
        table: None,
        role,
        code_signing: None,
        existing_pool: None,
        api: false,
    }
}

/// One request: the action, the resource's ARN and the request's condition keys.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.context
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }
    /// A multivalued key.
    pub fn with_all(mut self, key: &str, values: &[&str]) -> Self {
        self.context.insert(
            key.to_ascii_lowercase(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        );
        self
    }
}

/// What the policy says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
    Implicit,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allow(_))
    }
}

/// `*` and `?` wildcards, as IAM matches actions and resources.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn condition_holds(condition: Option<&Value>, context: &BTreeMap<String, Vec<String>>) -> bool {
    let Some(Value::Object(ops)) = condition else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        let (op, for_all, for_any) = match (
            op.strip_prefix("ForAllValues:"),
            op.strip_prefix("ForAnyValue:"),
        ) {
            (Some(rest), _) => (rest, true, false),
            (_, Some(rest)) => (rest, false, true),
            _ => (op.as_str(), false, false),
        };
        let (base, if_exists) = match op.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (op, false),
        };
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().all(|(key, wanted)| {
            let wanted = list(Some(wanted));
            let found = context.get(&key.to_ascii_lowercase());
            if base == "Null" {
                let absent = found.is_none();
                return wanted.iter().any(|w| (w == "true") == absent);
            }
            let Some(found) = found else {
                return !for_any && (for_all || if_exists || base.contains("Not"));
            };
            let one = |found: &String| match base {
                "StringEquals" | "Bool" => wanted.iter().any(|w| w == found),
                "StringNotEquals" => wanted.iter().all(|w| w != found),
                "StringLike" | "ArnLike" => wanted.iter().any(|w| glob(w, found)),
                "StringNotLike" => wanted.iter().all(|w| !glob(w, found)),
                other => panic!("operator {other} is not modelled here"),
            };
            if for_all {
                found.iter().all(one)
            } else {
                found.iter().any(one)
            }
        })
    })
}

fn matches(statement: &Value, req: &Request) -> bool {
    let action = req.action.to_ascii_lowercase();
    list(statement.get("Action"))
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), &action))
        && list(statement.get("Resource"))
            .iter()
            .any(|r| glob(r, &req.resource))
        && condition_holds(statement.get("Condition"), &req.context)
}

/// The decision of one identity policy on one request.
pub fn evaluate(policy: &Value, req: &Request) -> Decision {
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let sid = |s: &Value| s["Sid"].as_str().unwrap_or("?").to_owned();
    if let Some(s) = statements
        .iter()
        .find(|s| s["Effect"] == "Deny" && matches(s, req))
    {
        return Decision::Deny(sid(s));
    }
    match statements
        .iter()
        .find(|s| s["Effect"] == "Allow" && matches(s, req))
    {
        Some(s) => Decision::Allow(sid(s)),
        None => Decision::Implicit,
    }
}

#[test]
fn the_evaluator_follows_iams_rules() {
    let policy = serde_json::json!({"Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/p-*"},
        {"Sid": "C", "Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PermissionsBoundary": "B"}}},
        {"Sid": "D", "Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": "B"}}},
    ]});
    assert!(evaluate(
        &policy,
        &Request::new("s3:GetObject", "arn:aws:s3:::b/p-x/k")
    )
    .allowed());
    assert_eq!(
        evaluate(&policy, &Request::new("s3:GetObject", "arn:aws:s3:::b/q")),
        Decision::Implicit
    );
    let create = Request::new("iam:CreateRole", "arn:aws:iam::1:role/r");
    assert_eq!(evaluate(&policy, &create), Decision::Deny("D".into()));
    assert_eq!(
        evaluate(
            &policy,
            &create.clone().with("iam:PermissionsBoundary", "X")
        ),
        Decision::Deny("D".into())
    );
    assert_eq!(
        evaluate(&policy, &create.with("iam:PermissionsBoundary", "B")),
        Decision::Allow("C".into())
    );
    assert!(glob("a*b?d", "axxbcd") && !glob("a*b?d", "axxbd"));
    // ForAnyValue: a missing key never matches, even a negated operator.
    let deny = serde_json::json!({"Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "x:Y", "Resource": "*"},
        {"Sid": "N", "Effect": "Deny", "Action": "x:Y", "Resource": "*",
         "Condition": {"ForAnyValue:StringNotEquals": {"k": "ok"}}},
    ]});
    let y = Request::new("x:Y", "r");
    assert_eq!(evaluate(&deny, &y), Decision::Allow("A".into()));
    assert_eq!(
        evaluate(&deny, &y.clone().with("k", "ok")),
        Decision::Allow("A".into())
    );
    assert_eq!(
        evaluate(&deny, &y.with_all("k", &["ok", "no"])),
        Decision::Deny("N".into())
    );
}
