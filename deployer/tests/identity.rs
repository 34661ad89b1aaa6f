//! `users add` and `users import` against mocked Cognito and DynamoDB, for what the local
//! emulator does not show: the pool's canonical user name (the pool is case-insensitive), the
//! row bound to the user's sub, passwords kept on a re-run, and a batch DynamoDB refuses for
//! one item. Each answer cites where its shape is documented.

mod mocks;

use aws_sdk_cognitoidentityprovider::types::AttributeType;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::mock;
use deployer::identity::import::{self, Record};
use deployer::identity::secret::Secret;
use deployer::identity::secret::SecretSink;
use deployer::identity::users;
use deployer::progress::Progress;
use mocks::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type Cognito = aws_sdk_cognitoidentityprovider::Client;
type Ddb = aws_sdk_dynamodb::Client;

const SUB: &str = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111";

/// AdminGetUser (API reference): the user's name as the pool keeps it and its attributes,
/// `sub` among them, whatever case it was asked in.
fn get_user(m: &mut Mocks, canonical: &'static str) {
    m.cognito.push(
        mock!(Cognito::admin_get_user)
            .match_requests(move |r| {
                r.username()
                    .is_some_and(|u| u.eq_ignore_ascii_case(canonical))
            })
            .then_output(move || {
                aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserOutput::builder()
                    .username(canonical)
                    .user_status(aws_sdk_cognitoidentityprovider::types::UserStatusType::Confirmed)
                    .user_attributes(AttributeType::builder().name("sub").value(SUB).build().unwrap())
                    .build()
                    .unwrap()
            }),
    );
}

/// DescribeUserPool (API reference): the template's password policy (12 characters, upper-
/// and lowercase letters and a number).
fn pool_policy(m: &mut Mocks) {
    m.cognito.push(mock!(Cognito::describe_user_pool).then_output(|| {
        use aws_sdk_cognitoidentityprovider::types::{
            PasswordPolicyType, UserPoolPolicyType, UserPoolType,
        };
        let policy = PasswordPolicyType::builder()
            .minimum_length(12)
            .require_uppercase(true)
            .require_lowercase(true)
            .require_numbers(true)
            .build();
        let policies = UserPoolPolicyType::builder().password_policy(policy).build();
        aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolOutput::builder()
            .user_pool(UserPoolType::builder().policies(policies).build())
            .build()
    }));
}

/// `users add henry` with this password and no row.
async fn add_henry(m: &Mocks, password: &str) -> Result<users::AddReport, deployer::error::Error> {
    let password = deployer::identity::secret::Secret::new(password.into());
    let sink = (false, false, &SecretSink::Nowhere);
    users::add(
        &m.clients(),
        &refs(),
        "henry",
        None,
        Some(password),
        HashMap::new(),
        sink,
    )
    .await
}

/// A new user whose password passes the policy check but that Cognito still refuses for a
/// reason the check cannot see (AdminSetUserPassword: InvalidPasswordException, HTTP 400, API
/// reference Errors; the developer guide lists Basic Latin letters only, and this password
/// has others) is taken back out of the pool: a user is made whole or not at all.
#[tokio::test]
async fn a_new_user_whose_password_cognito_refuses_is_removed_again() {
    let mut m = Mocks::new();
    pool_policy(&mut m);
    m.cognito.push(
        mock!(Cognito::admin_get_user).then_http_response(|| {
            json_error(400, "UserNotFoundException", "User does not exist.")
        }),
    );
    let created = mock!(Cognito::admin_create_user).then_output(|| {
        aws_sdk_cognitoidentityprovider::operation::admin_create_user::AdminCreateUserOutput::builder().build()
    });
    let refused = mock!(Cognito::admin_set_user_password).then_http_response(|| {
        json_error(
            400,
            "InvalidPasswordException",
            "Password does not conform to policy: Password must satisfy regular expression pattern",
        )
    });
    let removed = mock!(Cognito::admin_delete_user).then_output(|| {
        aws_sdk_cognitoidentityprovider::operation::admin_delete_user::AdminDeleteUserOutput::builder().build()
    });
    for rule in [&created, &refused, &removed] {
        m.cognito.push(rule.clone());
    }
    let err = add_henry(&m, "Ünïcode-Passw0rd").await.unwrap_err();
    assert!(
        err.to_string().contains("InvalidPasswordException"),
        "{err}"
    );
    assert_eq!(
        (
            created.num_calls(),
            refused.num_calls(),
            removed.num_calls()
        ),
        (1, 1, 1),
        "made, refused its password, taken out"
    );
}

/// A password the policy refuses stops `users add` before any user is made (no AdminGetUser
/// or AdminCreateUser rule: either fails the test).
#[tokio::test]
async fn a_weak_password_is_refused_before_anything_is_made() {
    let mut m = Mocks::new();
    pool_policy(&mut m);
    let err = add_henry(&m, "weak").await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = format!(
        "{err} {:?}",
        miette::Diagnostic::help(&err).map(|h| h.to_string())
    );
    assert!(text.contains("fewer than 12"), "{text}");
    assert!(
        text.contains("12 to 256 characters, with an uppercase letter"),
        "{text}"
    );
}

/// AdminCreateUser on a name the pool has (API reference, Errors: UsernameExistsException,
/// HTTP 400).
fn exists(m: &mut Mocks) {
    m.cognito
        .push(mock!(Cognito::admin_create_user).then_http_response(|| {
            json_error(
                400,
                "UsernameExistsException",
                "User account already exists",
            )
        }));
}

fn record(line: usize, user: &str, password: Option<&str>, row: &[(&str, &str)]) -> Record {
    Record {
        line,
        user: user.into(),
        email: None,
        password: password.map(|p| Secret::new(p.into())),
        row: row
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect(),
    }
}

/// UpdateItem changing exactly `role` and `sub` in jane's row, only if the row is absent, has
/// no `sub`, or is this user's (DynamoDB API reference, UpdateItem: ConditionExpression,
/// ExpressionAttributeNames/Values).
fn merges_role(r: &aws_sdk_dynamodb::operation::update_item::UpdateItemInput) -> bool {
    let names = r.expression_attribute_names().unwrap();
    let values = r.expression_attribute_values().unwrap();
    let set: std::collections::BTreeMap<&str, &AttributeValue> = r
        .update_expression()
        .unwrap()
        .trim_start_matches("SET ")
        .split(", ")
        .map(|a| {
            let (n, v) = a.split_once(" = ").unwrap();
            (names[n].as_str(), &values[v])
        })
        .collect();
    r.key().unwrap().get("userName") == Some(&AttributeValue::S("jane".into()))
        && set.len() == 2
        && set["role"] == &AttributeValue::S("lead".into())
        && set["sub"] == &AttributeValue::S(SUB.into())
        && r.condition_expression()
            == Some("(attribute_not_exists(#pk) OR attribute_not_exists(#sub) OR #sub = :sub) AND attribute_not_exists(#kind)")
        && values[":sub"] == AttributeValue::S(SUB.into())
}

fn puts_role_and_sub(r: &aws_sdk_dynamodb::operation::put_item::PutItemInput) -> bool {
    let item = r.item().unwrap();
    item.get("userName") == Some(&AttributeValue::S("jane".into()))
        && item.get("sub") == Some(&AttributeValue::S(SUB.into()))
        && item.get("role") == Some(&AttributeValue::S("lead".into()))
        && item.len() == 3
}

#[tokio::test]
async fn users_add_merges_into_the_row_under_the_pools_name_bound_to_the_sub() {
    let mut m = Mocks::new();
    exists(&mut m);
    get_user(&mut m, "jane");
    let merge = mock!(Ddb::update_item)
        .match_requests(merges_role)
        .then_output(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemOutput::builder().build()
        });
    m.dynamodb.push(merge.clone());
    // No PutItem rule: replacing the row fails the test.
    let row = HashMap::from([("role".to_owned(), AttributeValue::S("lead".into()))]);
    let report = users::add(
        &m.clients(),
        &refs(),
        "Jane",
        None,
        None,
        row,
        (false, false, &SecretSink::Nowhere),
    )
    .await
    .unwrap();
    assert_eq!(report.user, "jane");
    assert_eq!(report.action, "updated");
    assert_eq!(merge.num_calls(), 1);
}

#[tokio::test]
async fn a_row_naming_the_tables_key_is_refused_before_any_call() {
    // The key is the user's name, written by `users add` itself: a --set of it would file the
    // claims under someone else's row. No rules: any call fails the test.
    let m = Mocks::new();
    let row = HashMap::from([("userName".to_owned(), AttributeValue::S("root".into()))]);
    let err = users::add(
        &m.clients(),
        &refs(),
        "jane",
        None,
        None,
        row,
        (false, false, &SecretSink::Nowhere),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err:?}");
    assert!(
        err.to_string().contains("\"userName\" is the table's key"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_add_leaves_no_secret_file_so_the_retry_can_use_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jane.password");
    let sink = SecretSink::File(path.clone());
    // A new user (AdminGetUser: UserNotFoundException, HTTP 400, API reference Errors) whose
    // creation Cognito refuses (AdminCreateUser: InvalidParameterException, HTTP 400).
    let mut m = Mocks::new();
    m.cognito.push(
        mock!(Cognito::admin_get_user).then_http_response(|| {
            json_error(400, "UserNotFoundException", "User does not exist.")
        }),
    );
    m.cognito
        .push(mock!(Cognito::admin_create_user).then_http_response(|| {
            json_error(
                400,
                "InvalidParameterException",
                "Invalid email address format.",
            )
        }));
    let err = users::add(
        &m.clients(),
        &refs(),
        "jane",
        Some("not-an-email"),
        None,
        HashMap::new(),
        (false, false, &sink),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("InvalidParameterException"),
        "{err}"
    );
    assert!(!path.exists(), "the empty secret file is removed");

    // A file that was there before is never removed, even empty: refused, left as it was.
    // No AdminCreateUser rule: the refusal comes before it.
    std::fs::write(&path, "").unwrap();
    let mut m = Mocks::new();
    m.cognito.push(
        mock!(Cognito::admin_get_user).then_http_response(|| {
            json_error(400, "UserNotFoundException", "User does not exist.")
        }),
    );
    let err = users::add(
        &m.clients(),
        &refs(),
        "jane",
        None,
        None,
        HashMap::new(),
        (false, false, &sink),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    assert!(path.exists());
}

#[tokio::test]
async fn a_row_another_user_left_is_replaced_not_merged_and_replace_overwrites() {
    // The row holds another sub (a user deleted and made again under this name): the
    // condition fails (DynamoDB API reference, UpdateItem: ConditionalCheckFailedException,
    // 400), and the row is written whole, so none of the old user's claims stay.
    let mut m = Mocks::new();
    exists(&mut m);
    get_user(&mut m, "jane");
    m.dynamodb.push(
        mock!(Ddb::update_item)
            .match_requests(merges_role)
            .then_http_response(|| {
                json_error(
                    400,
                    "ConditionalCheckFailedException",
                    "The conditional request failed",
                )
            }),
    );
    // The row is taken only as it was seen: still bound to the old sub (a write in between
    // fails the condition).
    let put = mock!(Ddb::put_item)
        .match_requests(|r| {
            puts_role_and_sub(r)
                && r.condition_expression() == Some("#sub = :seen AND attribute_not_exists(#kind)")
                && r.expression_attribute_values().and_then(|v| v.get(":seen"))
                    == Some(&AttributeValue::S("old-sub-of-a-deleted-jane".into()))
        })
        .then_output(|| aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build());
    m.dynamodb.push(put.clone());
    // Whose the row is: its sub, which no user of the pool has any more (ListUsers with a
    // `sub = "..."` filter answers no users: Cognito API reference, ListUsers).
    m.dynamodb.push(mock!(Ddb::get_item).then_output(|| {
        aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder()
            .item("userName", AttributeValue::S("jane".into()))
            .item("sub", AttributeValue::S("old-sub-of-a-deleted-jane".into()))
            .build()
    }));
    let gone = Arc::new(AtomicBool::new(true));
    let answer = gone.clone();
    m.cognito.push(
        mock!(Cognito::list_users)
            .match_requests(|r| r.filter() == Some("sub = \"old-sub-of-a-deleted-jane\""))
            .then_output(move || {
                let mut out = aws_sdk_cognitoidentityprovider::operation::list_users::ListUsersOutput::builder();
                if !answer.load(Ordering::Relaxed) {
                    out = out.users(aws_sdk_cognitoidentityprovider::types::UserType::builder().username("jane2").build());
                }
                out.build()
            }),
    );
    let row = HashMap::from([("role".to_owned(), AttributeValue::S("lead".into()))]);
    let add = |m: &Mocks, row: HashMap<String, AttributeValue>| {
        let clients = m.clients();
        async move {
            users::add(
                &clients,
                &refs(),
                "jane",
                None,
                None,
                row,
                (false, false, &SecretSink::Nowhere),
            )
            .await
        }
    };
    add(&m, row.clone()).await.unwrap();
    assert_eq!(put.num_calls(), 1);
    // The sub is a living user's (two users share the key): nothing is written.
    gone.store(false, Ordering::Relaxed);
    let err = add(&m, row.clone()).await.unwrap_err();
    assert!(err.to_string().contains("belongs to another user"), "{err}");
    assert_eq!(put.num_calls(), 1);

    // --replace: the row as given, nothing merged (no UpdateItem rule).
    let mut m = Mocks::new();
    exists(&mut m);
    get_user(&mut m, "jane");
    let put = mock!(Ddb::put_item)
        .match_requests(puts_role_and_sub)
        .then_output(|| aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build());
    m.dynamodb.push(put.clone());
    users::add(
        &m.clients(),
        &refs(),
        "jane",
        None,
        None,
        row,
        (false, true, &SecretSink::Nowhere),
    )
    .await
    .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_second_import_keeps_passwords_unless_asked_to_reset_them() {
    for reset in [false, true] {
        let mut m = Mocks::new();
        pool_policy(&mut m);
        exists(&mut m);
        get_user(&mut m, "jane");
        rows_of_clients(&mut m, &[]);
        let set_password = mock!(Cognito::admin_set_user_password).then_output(|| {
            aws_sdk_cognitoidentityprovider::operation::admin_set_user_password::AdminSetUserPasswordOutput::builder().build()
        });
        m.cognito.push(set_password.clone());
        let batch = mock!(Ddb::batch_write_item)
            .match_requests(|r| {
                let items = &r.request_items().unwrap()["app-users"];
                let item = items[0].put_request().unwrap().item();
                item.get("userName") == Some(&AttributeValue::S("jane".into()))
                    && item.get("sub") == Some(&AttributeValue::S(SUB.into()))
                    && !item.keys().any(|k| k.eq_ignore_ascii_case("password"))
            })
            .then_output(|| {
                aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput::builder()
                    .build()
            });
        m.dynamodb.push(batch.clone());
        let records = vec![record(
            2,
            "Jane",
            Some("Correct-Horse-Battery-1"),
            &[("role", "lead")],
        )];
        let report = import::import(
            &m.clients(),
            &refs(),
            records,
            Vec::new(),
            reset,
            &Progress::new(true),
        )
        .await
        .unwrap();
        assert_eq!(
            (report.created, report.updated, report.rows_written),
            (0, 1, 1)
        );
        assert_eq!(
            set_password.num_calls(),
            usize::from(reset),
            "reset: {reset}"
        );
        assert_eq!(batch.num_calls(), 1);
    }
}

/// BatchGetItem (API reference) for the rows an import is about to write: the rows of
/// `clients` are machine clients' (`deployer:principal` = `client`), the others are not there.
fn rows_of_clients(m: &mut Mocks, clients: &'static [&'static str]) {
    m.dynamodb
        .push(mock!(Ddb::batch_get_item).then_output(move || {
            let items = clients
                .iter()
                .map(|c| {
                    HashMap::from([
                        ("userName".to_owned(), AttributeValue::S((*c).into())),
                        (
                            "deployer:principal".to_owned(),
                            AttributeValue::S("client".into()),
                        ),
                    ])
                })
                .collect();
            aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput::builder()
                .responses("app-users", items)
                .build()
        }));
}

#[tokio::test]
async fn a_batch_refused_for_one_item_is_written_item_by_item_and_the_bad_one_reported() {
    let mut m = Mocks::new();
    rows_of_clients(&mut m, &[]);
    exists(&mut m);
    get_user(&mut m, "ann");
    get_user(&mut m, "bob");
    get_user(&mut m, "cat");
    // BatchWriteItem (API reference): "DynamoDB rejects the entire batch write operation" when
    // "any individual item in a batch exceeds 400 KB", with a ValidationException.
    m.dynamodb
        .push(mock!(Ddb::batch_write_item).then_http_response(|| {
            json_error(
                400,
                "com.amazon.coral.validate#ValidationException",
                "Item size has exceeded the maximum allowed size",
            )
        }));
    let is = |name: &'static str| {
        move |r: &aws_sdk_dynamodb::operation::put_item::PutItemInput| {
            r.item().and_then(|i| i.get("userName")) == Some(&AttributeValue::S(name.into()))
        }
    };
    let ok = || aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build();
    let ann = mock!(Ddb::put_item)
        .match_requests(is("ann"))
        .then_output(ok);
    let cat = mock!(Ddb::put_item)
        .match_requests(is("cat"))
        .then_output(ok);
    m.dynamodb.push(ann.clone());
    m.dynamodb.push(cat.clone());
    m.dynamodb.push(
        mock!(Ddb::put_item)
            .match_requests(is("bob"))
            .then_http_response(|| {
                json_error(
                    400,
                    "com.amazon.coral.validate#ValidationException",
                    "Item size has exceeded the maximum allowed size",
                )
            }),
    );
    let records = vec![
        record(2, "ann", None, &[("role", "a")]),
        record(3, "bob", None, &[("notes", "too big")]),
        record(4, "cat", None, &[("role", "c")]),
    ];
    let report = import::import(
        &m.clients(),
        &refs(),
        records,
        Vec::new(),
        false,
        &Progress::new(true),
    )
    .await
    .unwrap();
    assert_eq!(report.rows_written, 2);
    assert_eq!((ann.num_calls(), cat.num_calls()), (1, 1));
    assert_eq!(report.bad_lines.len(), 1, "{:?}", report.bad_lines);
    assert_eq!(report.bad_lines[0].line, 3);
    assert!(
        report.bad_lines[0].reason.contains("maximum allowed size"),
        "{}",
        report.bad_lines[0].reason
    );
}

/// Two machine clients of one name (made before names were kept unique, or by another tool):
/// `clients remove NAME` refuses and lists their ids; by id it removes that one. Its row is
/// deleted only if it is no user's (a user's row carries the user's sub; DeleteItem with
/// `attribute_not_exists(sub)` answers ConditionalCheckFailedException, DynamoDB API
/// reference, and the row stays).
#[tokio::test]
async fn clients_remove_refuses_an_ambiguous_name_and_never_deletes_a_users_row() {
    use aws_sdk_cognitoidentityprovider::types::{
        OAuthFlowType, UserPoolClientDescription, UserPoolClientType,
    };
    let mut m = Mocks::new();
    m.cognito.push(mock!(Cognito::list_user_pool_clients).then_output(|| {
        aws_sdk_cognitoidentityprovider::operation::list_user_pool_clients::ListUserPoolClientsOutput::builder()
            .user_pool_clients(UserPoolClientDescription::builder().client_id("client").client_name("app").build())
            .user_pool_clients(UserPoolClientDescription::builder().client_id("m2m-one").client_name("billing").build())
            .user_pool_clients(UserPoolClientDescription::builder().client_id("m2m-two").client_name("billing").build())
            .build()
    }));
    m.cognito.push(mock!(Cognito::describe_user_pool_client).then_output(|| {
        aws_sdk_cognitoidentityprovider::operation::describe_user_pool_client::DescribeUserPoolClientOutput::builder()
            .user_pool_client(
                UserPoolClientType::builder()
                    .client_name("billing")
                    .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
                    .build(),
            )
            .build()
    }));
    let deleted = mock!(Cognito::delete_user_pool_client)
        .match_requests(|r| r.client_id() == Some("m2m-two"))
        .then_output(|| {
            aws_sdk_cognitoidentityprovider::operation::delete_user_pool_client::DeleteUserPoolClientOutput::builder().build()
        });
    m.cognito.push(deleted.clone());
    let row = mock!(Ddb::delete_item)
        .match_requests(|r| {
            r.condition_expression() == Some("attribute_not_exists(#sub)")
                && r.key().unwrap().get("userName") == Some(&AttributeValue::S("m2m-two".into()))
        })
        .then_http_response(|| {
            json_error(
                400,
                "ConditionalCheckFailedException",
                "The conditional request failed",
            )
        });
    m.dynamodb.push(row.clone());
    let clients = m.clients();

    let err = deployer::identity::machine::remove(&clients, &refs(), "billing")
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .contains("2 machine clients are named billing: m2m-one, m2m-two"),
        "{err}"
    );
    assert_eq!(deleted.num_calls(), 0);

    let removed = deployer::identity::machine::remove(&clients, &refs(), "m2m-two")
        .await
        .unwrap();
    assert_eq!(removed.client_id, "m2m-two");
    assert_eq!((deleted.num_calls(), row.num_calls()), (1, 1));

    // The stack's own app client is never a machine client to remove.
    let own = deployer::identity::machine::remove(&clients, &refs(), "client")
        .await
        .unwrap_err();
    assert!(
        own.to_string().contains("the stack's own app client"),
        "{own}"
    );
}

/// A user named like a machine client's id: the import makes the user, but never writes over
/// the client's row (it would give the client the user's claims).
#[tokio::test]
async fn an_import_never_writes_over_a_machine_clients_row() {
    let mut m = Mocks::new();
    exists(&mut m);
    get_user(&mut m, "ann");
    get_user(&mut m, "4tq7client");
    rows_of_clients(&mut m, &["4tq7client"]);
    let batch = mock!(Ddb::batch_write_item)
        .match_requests(|r| {
            let items = &r.request_items().unwrap()["app-users"];
            items.len() == 1
                && items[0].put_request().unwrap().item().get("userName")
                    == Some(&AttributeValue::S("ann".into()))
        })
        .then_output(|| {
            aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput::builder().build()
        });
    m.dynamodb.push(batch.clone());
    let records = vec![
        record(2, "ann", None, &[("role", "a")]),
        record(3, "4tq7client", None, &[("role", "admin")]),
    ];
    let report = import::import(
        &m.clients(),
        &refs(),
        records,
        Vec::new(),
        false,
        &Progress::new(true),
    )
    .await
    .unwrap();
    assert_eq!((report.rows_written, batch.num_calls()), (1, 1));
    assert_eq!(report.bad_lines.len(), 1, "{:?}", report.bad_lines);
    assert_eq!(report.bad_lines[0].line, 3);
    assert!(
        report.bad_lines[0].reason.contains("machine client's"),
        "{:?}",
        report.bad_lines
    );
}

/// The same user on two lines of one import: the marker read asks each key once
/// (BatchGetItem, API reference: "ValidationException ... Provided list of item keys contains
/// duplicates" otherwise).
#[tokio::test]
async fn an_import_asks_each_key_once() {
    let mut m = Mocks::new();
    exists(&mut m);
    get_user(&mut m, "ann");
    get_user(&mut m, "bob");
    let read = mock!(Ddb::batch_get_item)
        .match_requests(|r| r.request_items().unwrap()["app-users"].keys().len() == 2)
        .then_output(|| {
            aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput::builder().build()
        });
    m.dynamodb.push(read.clone());
    m.dynamodb
        .push(mock!(Ddb::batch_write_item).then_output(|| {
            aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput::builder().build()
        }));
    let records = vec![
        record(2, "ann", None, &[("role", "a")]),
        record(3, "bob", None, &[("role", "b")]),
        record(4, "ann", None, &[("role", "c")]),
    ];
    let report = import::import(
        &m.clients(),
        &refs(),
        records,
        Vec::new(),
        false,
        &Progress::new(true),
    )
    .await
    .unwrap();
    assert_eq!(read.num_calls(), 1);
    assert!(report.bad_lines.is_empty(), "{:?}", report.bad_lines);
}
