//! `plan --claims` reads a bounded sample and nothing else: DynamoDB's Scan answers a page
//! and a `LastEvaluatedKey` while more items remain (DynamoDB API reference, Scan: "If
//! LastEvaluatedKey is present in the response, you need to paginate the result set"); the
//! preview asks small pages, stops at --sample, projects to the attributes a mapping reads,
//! and makes no other call (an unmatched call fails the test).

mod mocks;

use aws_sdk_dynamodb::operation::scan::{ScanInput, ScanOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::mock;
use deployer::commands::preview::{claims, Who};
use mocks::{inputs, no_such_stack, Mocks};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn page(from: usize, n: usize, more: bool) -> ScanOutput {
    let items = (from..from + n)
        .map(|i| {
            HashMap::from([
                ("userName".to_owned(), AttributeValue::S(format!("user{i}"))),
                ("projects".to_owned(), AttributeValue::S(format!("p{i}"))),
            ])
        })
        .collect();
    let mut out = ScanOutput::builder().set_items(Some(items));
    if more {
        out = out.last_evaluated_key(
            "userName",
            AttributeValue::S(format!("user{}", from + n - 1)),
        );
    }
    out.build()
}

#[tokio::test]
async fn the_sample_is_read_in_small_projected_pages_and_stops_at_its_size() {
    let seen: Arc<Mutex<Vec<ScanInput>>> = Arc::default();
    let mut m = Mocks::new();
    m.cfn.push(
        mock!(aws_sdk_cloudformation::Client::describe_stacks).then_http_response(no_such_stack),
    );
    let log = seen.clone();
    m.dynamodb.push(
        mock!(aws_sdk_dynamodb::Client::scan)
            .match_requests(move |r| {
                log.lock().unwrap().push(r.clone());
                true
            })
            .sequence()
            .output(|| page(0, 25, true))
            .output(|| page(25, 5, true))
            .build(),
    );
    let who = Who {
        sample: 30,
        ..Who::default()
    };
    let report = claims(&m.clients(), &inputs(), &who, false).await.unwrap();
    assert_eq!(report.principals.len(), 30);
    assert!(!report.deployed, "no stack: every claim is added");
    let added = report
        .summary
        .get("ID projects")
        .and_then(|k| k.get("added"));
    assert_eq!(added, Some(&30));
    let seen = seen.lock().unwrap();
    let limits: Vec<Option<i32>> = seen.iter().map(|r| r.limit()).collect();
    assert_eq!(
        limits,
        [Some(25), Some(5)],
        "small pages, and no more than asked"
    );
    assert_eq!(
        seen[1]
            .exclusive_start_key()
            .and_then(|k| k.get("userName")),
        Some(&AttributeValue::S("user24".into()))
    );
    let mut projected: Vec<&String> = seen[0]
        .expression_attribute_names()
        .unwrap()
        .values()
        .collect();
    projected.sort();
    assert_eq!(
        projected,
        ["deployer:principal", "projects", "sub", "userName"]
    );
}
