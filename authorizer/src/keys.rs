//! The pool's key set, fetched once and kept; fetched again for a token signed with a key it
//! does not hold (Cognito rotates keys), at most once a minute, so a flood of tokens with
//! made-up `kid`s cannot turn into a flood of fetches.

use crate::token::{self, Jwks, TokenUse};
use serde_json::{Map, Value};

/// Where the key set of pool `pool_id` is served: the issuer's `/.well-known/jwks.json`, or
/// the same path on an emulator's `endpoint` (which serves the keys there while `iss` keeps
/// the AWS form).
pub fn jwks_url(issuer: &str, pool_id: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        Some(endpoint) => format!(
            "{}/{pool_id}/.well-known/jwks.json",
            endpoint.trim_end_matches('/')
        ),
        None => format!("{issuer}/.well-known/jwks.json"),
    }
}

/// The least time between two fetches, in seconds.
pub const REFETCH_AFTER: u64 = 60;
/// After a failed fetch, the least time before the next, in seconds.
pub const RETRY_AFTER: u64 = 5;
/// The most a key set is kept before it is fetched again (a key Cognito withdrew stops
/// being trusted within it), in seconds.
pub const MAX_AGE: u64 = 3600;

/// Where the key set comes from (HTTPS in the Lambda function; a fixture in tests).
pub trait Fetch {
    fn fetch(&self) -> Result<Jwks, String>;
}

/// The key set and when it was last fetched.
pub struct KeyCache<F> {
    fetch: F,
    jwks: Jwks,
    /// The last fetch, and the last one that worked.
    fetched_at: Option<u64>,
    good_at: Option<u64>,
    /// The last fetch's error, if it failed.
    pub last_error: Option<String>,
}

impl<F: Fetch> KeyCache<F> {
    /// Fetches the key set now; a failure is kept (and the fetch tried again on the first
    /// token), so a function starting while the key set is unreachable denies, then recovers.
    pub fn new(fetch: F, now: u64) -> Self {
        let mut cache = Self {
            fetch,
            jwks: Jwks { keys: Vec::new() },
            fetched_at: None,
            good_at: None,
            last_error: None,
        };
        cache.refresh(now);
        cache
    }

    fn refresh(&mut self, now: u64) {
        self.fetched_at = Some(now);
        match self.fetch.fetch() {
            Ok(jwks) => {
                self.jwks = jwks;
                self.good_at = Some(now);
                self.last_error = None;
            }
            Err(e) => self.last_error = Some(e),
        }
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.jwks.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jwks.keys.is_empty()
    }

    /// [`token::verify_cognito`] with the cached keys, fetched again first when the token
    /// names a key the set lacks and the last fetch is older than [`REFETCH_AFTER`].
    pub fn verify(
        &mut self,
        jwt: &str,
        issuer: &str,
        clients: &[impl AsRef<str>],
        token_use: TokenUse,
        now: u64,
    ) -> Result<Map<String, Value>, String> {
        let since = |at: Option<u64>| at.map_or(u64::MAX, |at| now.saturating_sub(at));
        let (tried, good) = (since(self.fetched_at), since(self.good_at));
        let wait = match self.last_error {
            Some(_) => RETRY_AFTER,
            None => REFETCH_AFTER,
        };
        // An old set (or a failed refresh of one) is tried again every few seconds; an
        // unknown kid at most once a minute.
        let unknown = token::kid(jwt).is_some_and(|kid| self.jwks.find(&kid).is_none());
        if (good >= MAX_AGE && tried >= RETRY_AFTER) || (unknown && tried >= wait) {
            self.refresh(now);
        }
        token::verify_cognito(&self.jwks, jwt, issuer, clients, token_use, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Jwk;
    use std::cell::{Cell, RefCell};

    struct Counted {
        calls: Cell<u32>,
        sets: RefCell<Vec<Jwks>>,
    }

    impl Fetch for &Counted {
        fn fetch(&self) -> Result<Jwks, String> {
            self.calls.set(self.calls.get() + 1);
            let mut sets = self.sets.borrow_mut();
            if sets.is_empty() {
                Err("unreachable".into())
            } else {
                Ok(sets.remove(0))
            }
        }
    }

    fn set(kid: &str) -> Jwks {
        Jwks {
            keys: vec![Jwk {
                kid: Some(kid.into()),
                kty: "RSA".into(),
                alg: None,
                use_: None,
                n: None,
                e: None,
            }],
        }
    }

    fn token(kid: &str) -> String {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(&format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#)),
            enc("{}")
        )
    }

    #[test]
    fn an_unknown_kid_refetches_at_most_once_a_minute() {
        let source = Counted {
            calls: Cell::new(0),
            sets: RefCell::new(vec![set("k1"), set("k2")]),
        };
        let mut cache = KeyCache::new(&source, 1000);
        assert_eq!(source.calls.get(), 1);
        // A known key: no fetch (the check itself fails on the fixture's signature).
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, 1001);
        assert_eq!(source.calls.get(), 1);
        // An unknown key within the minute: no fetch.
        let _ = cache.verify(&token("k2"), "iss", &["c"], TokenUse::Access, 1059);
        assert_eq!(source.calls.get(), 1);
        // After it: one fetch, which brings the rotated key.
        let _ = cache.verify(&token("k2"), "iss", &["c"], TokenUse::Access, 1060);
        assert_eq!(source.calls.get(), 2);
        assert!(cache.jwks.find("k2").is_some());
        // Made-up kids right after: no more fetches.
        for i in 0..100 {
            let _ = cache.verify(
                &token(&format!("x{i}")),
                "iss",
                &["c"],
                TokenUse::Access,
                1061,
            );
        }
        assert_eq!(source.calls.get(), 2);
    }

    #[test]
    fn a_key_set_older_than_an_hour_is_fetched_again() {
        let source = Counted {
            calls: Cell::new(0),
            sets: RefCell::new(vec![set("k1"), set("k2")]),
        };
        let mut cache = KeyCache::new(&source, 0);
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, MAX_AGE - 1);
        assert_eq!(source.calls.get(), 1);
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, MAX_AGE);
        assert_eq!(source.calls.get(), 2);
        assert!(cache.jwks.find("k1").is_none(), "the withdrawn key is gone");
        // A failed refresh of an old set is tried again within seconds, not an hour.
        let source = Counted {
            calls: Cell::new(0),
            sets: RefCell::new(vec![set("k1")]),
        };
        let mut cache = KeyCache::new(&source, 0);
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, MAX_AGE);
        assert_eq!(source.calls.get(), 2);
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, MAX_AGE + 2);
        assert_eq!(source.calls.get(), 2);
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, MAX_AGE + 5);
        assert_eq!(source.calls.get(), 3);
    }

    #[test]
    fn a_failed_first_fetch_is_retried_later_and_denies_meanwhile() {
        let source = Counted {
            calls: Cell::new(0),
            sets: RefCell::new(Vec::new()),
        };
        let mut cache = KeyCache::new(&source, 0);
        assert_eq!(cache.last_error.as_deref(), Some("unreachable"));
        assert!(cache
            .verify(&token("k1"), "iss", &["c"], TokenUse::Access, 1)
            .is_err());
        source.sets.borrow_mut().push(set("k1"));
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, 3);
        assert_eq!(source.calls.get(), 1, "a retry waits a few seconds");
        let _ = cache.verify(&token("k1"), "iss", &["c"], TokenUse::Access, 5);
        assert_eq!(source.calls.get(), 2);
        assert!(cache.last_error.is_none() && cache.len() == 1);
    }
}
