//! The outcome each login line carries (the `outcome` field): what `deployer logs --outcome`
//! filters on. Denials start with `denied`.

pub const ENRICHED: &str = "enriched";
pub const NO_ROW: &str = "no_row";
pub const STALE_ROW: &str = "stale_row";
pub const LOOKUP_FAILED_ISSUED: &str = "lookup_failed_issued";
pub const MALFORMED: &str = "malformed";
/// A token for an app client the mapping does not serve (`userPool.clients`): as Cognito made it.
pub const OTHER_CLIENT: &str = "other_client";
pub const DENIED_NO_ROW: &str = "denied_no_row";
pub const DENIED_STALE_ROW: &str = "denied_stale_row";
pub const DENIED_TIMEOUT: &str = "denied_timeout";
pub const DENIED_THROTTLED: &str = "denied_throttled";
pub const DENIED_LOOKUP_ERROR: &str = "denied_lookup_error";
/// Every outcome a login line can have.
pub const ALL: &[&str] = &[
    ENRICHED,
    NO_ROW,
    STALE_ROW,
    LOOKUP_FAILED_ISSUED,
    MALFORMED,
    OTHER_CLIENT,
    DENIED_NO_ROW,
    DENIED_STALE_ROW,
    DENIED_TIMEOUT,
    DENIED_THROTTLED,
    DENIED_LOOKUP_ERROR,
];
