//! One test case per input rule and example (deployer::inputs::rules::RULES): each `breaks`
//! example is refused by that rule and by no other, with the JSON path in the message and the
//! rule's documentation link; each `keeps` example is valid. Plus the table's own hygiene:
//! unique ids, a documentation link and at least one breaking example per rule.
//!
//! `cargo test --test rules -- --list` names every case.

use deployer::inputs::rules::{smallest, RULES};
use deployer::inputs::{InputError, StackInputs};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

/// RFC 7386 JSON merge patch.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    base.remove(k);
                } else {
                    merge(base.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn inputs(patch: &Value) -> String {
    let mut doc = smallest();
    merge(&mut doc, patch);
    doc.to_string()
}

fn breaks(id: &'static str, patch: Value) -> Result<(), Failed> {
    let text = inputs(&patch);
    match StackInputs::parse(&text, "stack-inputs.json") {
        Ok(_) => Err(format!("accepted: {text}").into()),
        Err(InputError::Invalid { violations, .. }) => {
            let others: Vec<_> = violations.iter().filter(|v| v.id != id).collect();
            if !others.is_empty() {
                return Err(format!("other rules broke too: {others:?}\n{text}").into());
            }
            let rule = RULES.iter().find(|r| r.id == id).expect("the rule");
            for v in &violations {
                let shown = v.to_string();
                if v.path.is_empty() || !shown.starts_with(&format!("{}: ", v.path)) {
                    return Err(format!("no JSON path: {shown}").into());
                }
                if !shown.contains(rule.doc) || !shown.contains(id) {
                    return Err(format!("no rule id or documentation link: {shown}").into());
                }
            }
            Ok(())
        }
        Err(other) => Err(format!("refused, but not by a rule: {other}\n{text}").into()),
    }
}

fn keeps(patch: Value) -> Result<(), Failed> {
    let text = inputs(&patch);
    StackInputs::parse(&text, "stack-inputs.json")
        .map(|_| ())
        .map_err(|e| format!("refused: {e}\n{text}").into())
}

fn hygiene() -> Result<(), Failed> {
    let mut ids = std::collections::BTreeSet::new();
    for rule in RULES {
        if !ids.insert(rule.id) {
            return Err(format!("rule id {} twice", rule.id).into());
        }
        if !rule.doc.starts_with("https://docs.aws.amazon.com/") {
            return Err(format!("{}: no AWS documentation link", rule.id).into());
        }
        if (rule.breaks)().is_empty() {
            return Err(format!("{}: no example that breaks it", rule.id).into());
        }
    }
    // docs/inputs.md lists every rule.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/inputs.md"))
        .map_err(|e| format!("docs/inputs.md: {e}"))?;
    for rule in RULES {
        if !readme.contains(&format!("`{}`", rule.id)) {
            return Err(format!("docs/inputs.md does not list the rule {}", rule.id).into());
        }
    }
    keeps(Value::Object(Default::default()))
}

fn main() {
    let mut trials = vec![Trial::test("rules::table_is_well_formed", hygiene)];
    for rule in RULES {
        for (n, patch) in (rule.breaks)().into_iter().enumerate() {
            let id = rule.id;
            trials.push(Trial::test(
                format!("rules::{id}::breaks::{n}"),
                move || breaks(id, patch),
            ));
        }
        for (n, patch) in (rule.keeps)().into_iter().enumerate() {
            trials.push(Trial::test(
                format!("rules::{}::keeps::{n}", rule.id),
                move || keeps(patch),
            ));
        }
    }
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
