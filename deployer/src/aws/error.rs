//! The one place AWS errors are classified. Code branches on [`ErrorKind`], never on text:
//! the kind comes from the SDK's typed predicates where the service models the error, from the
//! error code otherwise, and from message text only where the service gives no code of its own
//! (CloudFormation's `ValidationError` for a missing or busy stack, documented in its API
//! reference and quoted beside each rule below).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use miette::Diagnostic;
use serde::Serialize;
use std::error::Error as StdError;
use std::fmt;

/// What an AWS error means for the deployer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The service throttled the call and the SDK's retries ran out.
    Throttled,
    /// IAM denied the call: the identity lacks a permission.
    AccessDenied,
    /// The session credentials expired (a long wait outlived an assumed role).
    ExpiredCredentials,
    /// The access key or signature is not valid for this account.
    InvalidCredentials,
    /// No credentials could be loaded (no profile, no environment, SSO session gone).
    NoCredentials,
    /// The resource (stack, change set, pool, bucket, object, function, table) is not there.
    NotFound,
    /// Another operation is changing the stack right now.
    StackBusy,
    /// The thing to create exists already (another run got there first).
    AlreadyExists,
    /// A change set or stack is in a state that does not allow the call (another run acted).
    Conflict,
    /// CloudFormation has nothing to update.
    NoUpdates,
    /// The endpoint could not be reached.
    Unreachable,
    /// The call timed out.
    Timeout,
    /// The name is taken by another account (an S3 bucket of the deployer's name).
    OwnedElsewhere,
    /// Anything else: shown as `code: message`.
    Other,
}

/// An AWS call that failed, shown as `code: message` with what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    /// The IAM service prefix: `cloudformation`, `s3`, `cognito-idp`, ...
    pub service: &'static str,
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub kind: ErrorKind,
    /// Who made the call (profile, role ARN), when the command knows it.
    pub principal: Option<String>,
    /// The SDK's whole error chain, for errors raised before AWS answered (no credentials,
    /// no connection): read to tell their causes apart, logged with `DEPLOYER_LOG=debug`,
    /// never shown in the one-line message.
    pub detail: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {}: {}",
            self.operation, self.code, self.message
        )
    }
}

impl StdError for AwsError {}

impl Diagnostic for AwsError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("aws::call"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.advice().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

/// Errors whose service model names some of its cases: their typed predicates decide the kind.
pub trait Modeled {
    fn modeled_kind(&self) -> Option<ErrorKind> {
        None
    }
}

macro_rules! modeled {
    ($($ty:ty { $($pred:ident => $kind:ident),* $(,)? })*) => {$(
        impl Modeled for $ty {
            fn modeled_kind(&self) -> Option<ErrorKind> {
                $(if self.$pred() { return Some(ErrorKind::$kind); })*
                None
            }
        }
    )*};
}

use aws_sdk_cloudformation::operation as cfn_op;
use aws_sdk_cognitoidentityprovider::operation as idp_op;
use aws_sdk_s3::operation as s3_op;

modeled! {
    cfn_op::create_change_set::CreateChangeSetError { is_already_exists_exception => AlreadyExists }
    cfn_op::describe_change_set::DescribeChangeSetError { is_change_set_not_found_exception => NotFound }
    cfn_op::execute_change_set::ExecuteChangeSetError {
        is_change_set_not_found_exception => NotFound,
        is_invalid_change_set_status_exception => Conflict,
    }
    cfn_op::delete_change_set::DeleteChangeSetError { is_invalid_change_set_status_exception => Conflict }
    s3_op::head_bucket::HeadBucketError { is_not_found => NotFound }
    s3_op::head_object::HeadObjectError { is_not_found => NotFound }
    s3_op::get_object::GetObjectError { is_no_such_key => NotFound }
    s3_op::list_objects_v2::ListObjectsV2Error { is_no_such_bucket => NotFound }
    s3_op::create_bucket::CreateBucketError {
        is_bucket_already_owned_by_you => AlreadyExists,
        is_bucket_already_exists => OwnedElsewhere,
    }
    idp_op::describe_user_pool::DescribeUserPoolError { is_resource_not_found_exception => NotFound }
    idp_op::admin_create_user::AdminCreateUserError { is_username_exists_exception => AlreadyExists }
    idp_op::admin_get_user::AdminGetUserError { is_user_not_found_exception => NotFound }
    idp_op::admin_delete_user::AdminDeleteUserError { is_user_not_found_exception => NotFound }
    idp_op::describe_resource_server::DescribeResourceServerError { is_resource_not_found_exception => NotFound }
    aws_sdk_lambda::operation::get_function::GetFunctionError { is_resource_not_found_exception => NotFound }
    aws_sdk_lambda::operation::get_policy::GetPolicyError { is_resource_not_found_exception => NotFound }
    aws_sdk_lambda::operation::get_alias::GetAliasError { is_resource_not_found_exception => NotFound }
    aws_sdk_dynamodb::operation::describe_table::DescribeTableError { is_resource_not_found_exception => NotFound }
    aws_sdk_lambda::operation::invoke::InvokeError { is_resource_not_found_exception => NotFound }
    aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationError { is_resource_not_found_exception => NotFound }
    aws_sdk_dynamodb::operation::scan::ScanError { is_resource_not_found_exception => NotFound }
    aws_sdk_dynamodb::operation::get_item::GetItemError { is_resource_not_found_exception => NotFound }
}

// Operations whose errors carry no modeled case the deployer branches on.
macro_rules! unmodeled {
    ($($ty:ty),* $(,)?) => {$( impl Modeled for $ty {} )*};
}
unmodeled!(
    cfn_op::describe_stacks::DescribeStacksError,
    cfn_op::describe_stack_events::DescribeStackEventsError,
    cfn_op::delete_stack::DeleteStackError,
    cfn_op::list_stack_resources::ListStackResourcesError,
    cfn_op::detect_stack_drift::DetectStackDriftError,
    cfn_op::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusError,
    cfn_op::describe_stack_resource_drifts::DescribeStackResourceDriftsError,
    idp_op::admin_list_groups_for_user::AdminListGroupsForUserError,
    idp_op::describe_user_pool_client::DescribeUserPoolClientError,
    idp_op::list_user_pool_clients::ListUserPoolClientsError,
    idp_op::delete_user_pool_client::DeleteUserPoolClientError,
    aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
    s3_op::put_object::PutObjectError,
    s3_op::put_object_tagging::PutObjectTaggingError,
    s3_op::delete_object::DeleteObjectError,
    s3_op::put_public_access_block::PutPublicAccessBlockError,
    s3_op::put_bucket_encryption::PutBucketEncryptionError,
    s3_op::put_bucket_policy::PutBucketPolicyError,
    s3_op::get_bucket_policy::GetBucketPolicyError,
    s3_op::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationError,
    idp_op::update_user_pool::UpdateUserPoolError,
    idp_op::admin_update_user_attributes::AdminUpdateUserAttributesError,
    idp_op::admin_set_user_password::AdminSetUserPasswordError,
    idp_op::admin_initiate_auth::AdminInitiateAuthError,
    idp_op::list_users::ListUsersError,
    idp_op::create_resource_server::CreateResourceServerError,
    idp_op::create_user_pool_client::CreateUserPoolClientError,
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
    aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError,
    aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError,
    aws_sdk_dynamodb::operation::list_tags_of_resource::ListTagsOfResourceError,
    aws_sdk_lambda::operation::list_code_signing_configs::ListCodeSigningConfigsError,
    aws_sdk_lambda::operation::create_code_signing_config::CreateCodeSigningConfigError,
    aws_sdk_lambda::operation::update_code_signing_config::UpdateCodeSigningConfigError,
);

/// Error codes the SDK's own retry classifier treats as throttling; seen here only once the
/// retries are spent.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "PriorRequestNotComplete",
];
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "NotAuthorizedException",
];
const EXPIRED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];
const INVALID_KEY: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
];

/// The kind of an error from its code and, for CloudFormation's code-less cases, its text.
pub fn kind_of(code: &str, message: &str) -> ErrorKind {
    if THROTTLING.contains(&code) {
        return ErrorKind::Throttled;
    }
    if EXPIRED.contains(&code) {
        return ErrorKind::ExpiredCredentials;
    }
    if INVALID_KEY.contains(&code) {
        return ErrorKind::InvalidCredentials;
    }
    // Cognito answers a wrong password with NotAuthorizedException too: only an IAM denial
    // names a permission.
    if DENIED.contains(&code)
        && (code != "NotAuthorizedException" || message.contains("not authorized to perform"))
    {
        return ErrorKind::AccessDenied;
    }
    match code {
        "ResourceNotFoundException"
        | "NoSuchBucket"
        | "NoSuchKey"
        | "NotFound"
        | "ChangeSetNotFound"
        | "ChangeSetNotFoundException"
        | "UserNotFoundException"
        | "NoSuchEntity" => ErrorKind::NotFound,
        // S3 answers a write with If-None-Match: * to a taken key with 412 PreconditionFailed
        // (S3 user guide, "Conditional writes"); IAM a taken policy name with
        // EntityAlreadyExists.
        "AlreadyExistsException"
        | "BucketAlreadyOwnedByYou"
        | "UsernameExistsException"
        | "EntityAlreadyExists"
        | "PreconditionFailed" => ErrorKind::AlreadyExists,
        // Two conditional writes of one key at once (S3 user guide, "Conditional writes").
        "ConditionalRequestConflict" => ErrorKind::Conflict,
        "InvalidChangeSetStatus" | "InvalidChangeSetStatusException" => ErrorKind::Conflict,
        // CloudFormation gives these three outcomes no code of their own (API reference:
        // "If the stack doesn't exist, a ValidationError is returned"):
        //   "Stack with id X does not exist" / "Stack:X does not exist"
        //   "Stack:arn:... is in UPDATE_IN_PROGRESS state and can not be updated."
        //   "No updates are to be performed."
        "ValidationError" if message.contains("does not exist") => ErrorKind::NotFound,
        "ValidationError"
            if message.contains("state and can not be updated")
                || message.contains("_IN_PROGRESS state") =>
        {
            ErrorKind::StackBusy
        }
        "ValidationError" if message.contains("No updates are to be performed") => {
            ErrorKind::NoUpdates
        }
        _ => ErrorKind::Other,
    }
}

impl AwsError {
    /// Classifies an SDK error. `service` is the IAM prefix of the client that made the call.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + Modeled + StdError + Send + Sync + 'static,
    {
        let detail = match &err {
            SdkError::ServiceError(_) | SdkError::TimeoutError(_) => String::new(),
            _ => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        let (code, message, kind) = match &err {
            SdkError::ServiceError(service_err) => {
                let e = service_err.err();
                let status = service_err.raw().status().as_u16();
                let message = e.message().unwrap_or("").to_owned();
                match e.code() {
                    Some(code) => {
                        let kind = e.modeled_kind().unwrap_or_else(|| kind_of(code, &message));
                        (code.to_owned(), message, kind)
                    }
                    // A HEAD request's error has no body, so no code: S3 documents 403 for a
                    // denied request (and for a bucket of another account with
                    // ExpectedBucketOwner) and 404 for a missing bucket or key.
                    None => {
                        let (code, kind) = match status {
                            403 => ("AccessDenied", ErrorKind::AccessDenied),
                            404 => ("NotFound", ErrorKind::NotFound),
                            _ => ("Unknown", e.modeled_kind().unwrap_or(ErrorKind::Other)),
                        };
                        let message = if message.is_empty() {
                            format!("HTTP {status}")
                        } else {
                            message
                        };
                        (code.to_owned(), message, kind)
                    }
                }
            }
            SdkError::TimeoutError(_) => (
                "Timeout".into(),
                "the request timed out".into(),
                ErrorKind::Timeout,
            ),
            // Raised before AWS answered: a short cause here, the SDK's whole chain in `detail`.
            _ => {
                tracing::debug!(service, operation, %detail, "the call failed before AWS answered");
                if credentials_error(&err) {
                    let message = "no AWS credentials could be loaded".to_owned();
                    ("NoCredentials".into(), message, ErrorKind::NoCredentials)
                } else if matches!(err, SdkError::DispatchFailure(_)) {
                    let message = root_cause(&err);
                    ("Unreachable".into(), message, ErrorKind::Unreachable)
                } else {
                    ("ClientError".into(), root_cause(&err), ErrorKind::Other)
                }
            }
        };
        Self {
            service,
            operation,
            code,
            message,
            kind,
            principal: None,
            detail,
        }
    }

    /// A classified error that did not come from the SDK (the tests' own).
    #[cfg(test)]
    pub fn new(service: &'static str, operation: &'static str, code: &str, message: &str) -> Self {
        Self {
            service,
            operation,
            code: code.into(),
            message: message.into(),
            kind: kind_of(code, message),
            principal: None,
            detail: String::new(),
        }
    }

    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }

    /// Names the caller (profile and role) for the help text.
    pub fn with_principal(mut self, principal: Option<&str>) -> Self {
        if self.principal.is_none() {
            self.principal = principal.map(str::to_owned);
        }
        self
    }

    /// The IAM action the call needs: the one AWS named in its denial, else derived from the
    /// operation (with S3's actions, which do not follow the operation names).
    pub fn iam_action(&self) -> String {
        if let Some(named) = self
            .message
            .split("not authorized to perform: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            return named.trim_end_matches([',', '.']).to_owned();
        }
        let action = match (self.service, self.operation) {
            ("s3", "HeadBucket" | "ListObjectsV2") => "ListBucket",
            ("s3", "HeadObject") => "GetObject",
            ("s3", "PutBucketLifecycleConfiguration") => "PutLifecycleConfiguration",
            ("s3", "PutBucketEncryption") => "PutEncryptionConfiguration",
            ("s3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
            (_, op) => op,
        };
        format!("{}:{action}", self.service)
    }

    /// The identity AWS named in a denial ("User: arn:... is not authorized").
    fn denied_principal(&self) -> Option<&str> {
        let rest = self.message.split("User: ").nth(1)?;
        rest.split_whitespace().next()
    }

    /// aws-config's words for a login_session profile whose cached sign-in is missing (it
    /// names the file under ~/.aws/login/cache), unreadable or expired beyond refresh.
    fn no_login_session(&self) -> bool {
        self.detail.contains("Login token") || self.detail.contains("login/cache/")
    }

    /// What to do, by kind.
    pub fn advice(&self) -> Option<String> {
        let who = self
            .principal
            .as_deref()
            .or_else(|| self.denied_principal())
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        Some(match self.kind {
            ErrorKind::Throttled => format!(
                "AWS throttled {} and the retries ran out; wait a minute and run again (in CI, run fewer jobs against this account and region at once)",
                self.operation
            ),
            ErrorKind::AccessDenied => format!(
                "the identity in use{who} is not allowed {}: grant it (`deployer policy` prints every permission the deployer needs; docs/security.md explains them), or pick another --profile",
                self.iam_action()
            ),
            ErrorKind::ExpiredCredentials => format!(
                "the credentials in use{who} have expired: refresh them (`aws sso login`, assume the role again, or a longer role-duration-seconds in CI) and run again; CloudFormation carries on with what it started, and the next run continues from there"
            ),
            ErrorKind::InvalidCredentials => format!(
                "AWS does not recognise the access key in use{who}: check AWS_ACCESS_KEY_ID, AWS_PROFILE or --profile"
            ),
            ErrorKind::NoCredentials if self.detail.contains("SSO token") => format!(
                "the profile{who} signs in with IAM Identity Center and has no current login: run `aws sso login` with that profile, then run again"
            ),
            ErrorKind::NoCredentials if self.no_login_session() => format!(
                "the profile{who} signs in with `aws login` (console credentials) and has no current session: run `aws login` with that profile, then run again"
            ),
            ErrorKind::NoCredentials => {
                "no AWS credentials were found: set AWS_PROFILE or --profile, export credentials, or run against the emulator with --local".into()
            }
            ErrorKind::Unreachable => {
                "check the network or the endpoint; for the local emulator run `deployer local status`".into()
            }
            ErrorKind::Timeout => "AWS did not answer in time; run again".into(),
            _ => return None,
        })
    }
}

/// The innermost error of the chain, as one line (what went wrong, without the layers the
/// SDK wraps it in).
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Whether the SDK failed before sending because no credentials could be loaded.
fn credentials_error<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: StdError + 'static,
{
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_and_text_only_where_cloudformation_has_no_code() {
        assert_eq!(kind_of("Throttling", "Rate exceeded"), ErrorKind::Throttled);
        assert_eq!(
            kind_of(
                "ExpiredToken",
                "The security token included in the request is expired"
            ),
            ErrorKind::ExpiredCredentials
        );
        assert_eq!(
            kind_of("AccessDenied", "User: x is not authorized"),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of("NotAuthorizedException", "Incorrect username or password."),
            ErrorKind::Other,
            "a refused login is not an IAM denial"
        );
        assert_eq!(
            kind_of("ValidationError", "Stack with id s does not exist"),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(
                "ValidationError",
                "Stack:arn:aws:cloudformation:us-east-1:1:stack/s/x is in UPDATE_IN_PROGRESS state and can not be updated."
            ),
            ErrorKind::StackBusy
        );
        assert_eq!(
            kind_of("ValidationError", "Template format error"),
            ErrorKind::Other
        );
        // A resource that exists (a taken domain, a retained table) is not a lost race.
        assert_eq!(
            kind_of(
                "ValidationError",
                "Resource of type 'AWS::DynamoDB::Table' with identifier 't' already exists."
            ),
            ErrorKind::Other
        );
    }

    #[test]
    fn a_denial_names_the_action_and_who_asked() {
        let err = AwsError::new(
            "cloudformation",
            "CreateChangeSet",
            "AccessDenied",
            "User: arn:aws:sts::111122223333:assumed-role/ci/run is not authorized to perform: cloudformation:CreateChangeSet on resource: arn:aws:cloudformation:us-east-1:111122223333:stack/s/* because no identity-based policy allows the cloudformation:CreateChangeSet action",
        );
        assert_eq!(err.iam_action(), "cloudformation:CreateChangeSet");
        let help = err.advice().unwrap();
        assert!(
            help.contains("arn:aws:sts::111122223333:assumed-role/ci/run"),
            "{help}"
        );
        assert!(help.contains("cloudformation:CreateChangeSet"), "{help}");
        let s3 = AwsError::new("s3", "HeadObject", "AccessDenied", "Forbidden");
        assert_eq!(s3.iam_action(), "s3:GetObject");
    }
}
