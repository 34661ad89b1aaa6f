//! The pool's password policy, read from the pool and checked before anything is created, so
//! a rejected password never leaves a user behind. The rules are Cognito's (developer guide,
//! "Adding user pool password requirements"): a minimum length of 6 to 99 (8 when the pool
//! sets none), at most 256 characters, and when asked for, a Basic Latin upper- and
//! lowercase letter, a number, and a special character from
//! `^ $ * . [ ] { } ( ) ? " ! @ # % & / \ , > < ' : ; | _ ~ ` = + -` or a space that
//! neither leads nor trails.

use super::refs::StackRefs;
use crate::aws::{AwsError, Clients};
use aws_sdk_cognitoidentityprovider::types::PasswordPolicyType;

/// The special characters Cognito counts (a non-leading, non-trailing space counts too).
pub const SPECIAL: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-";
/// The longest password Cognito takes.
pub const MAX_LENGTH: usize = 256;

/// What the pool asks of a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub uppercase: bool,
    pub lowercase: bool,
    pub numbers: bool,
    pub symbols: bool,
}

impl PasswordPolicy {
    /// The pool's policy; Cognito's default (8 characters, all four kinds) when it has none.
    pub fn from_pool(policy: Option<&PasswordPolicyType>) -> Self {
        let Some(p) = policy else {
            return Self {
                min_length: 8,
                uppercase: true,
                lowercase: true,
                numbers: true,
                symbols: true,
            };
        };
        Self {
            min_length: p.minimum_length.map_or(8, |n| n.max(0) as usize),
            uppercase: p.require_uppercase,
            lowercase: p.require_lowercase,
            numbers: p.require_numbers,
            symbols: p.require_symbols,
        }
    }

    /// What `password` lacks, one phrase each; empty when the pool takes it.
    pub fn problems(&self, password: &str) -> Vec<String> {
        let mut found = Vec::new();
        let length = password.chars().count();
        if length < self.min_length {
            found.push(format!(
                "it has {length} characters, fewer than {}",
                self.min_length
            ));
        }
        if length > MAX_LENGTH {
            found.push(format!(
                "it has {length} characters, more than {MAX_LENGTH}"
            ));
        }
        if password.starts_with(char::is_whitespace) || password.ends_with(char::is_whitespace) {
            found.push("it starts or ends with a space".into());
        }
        let inner = password.trim();
        let has = |test: fn(char) -> bool| password.chars().any(test);
        let kinds = [
            (
                self.uppercase,
                has(|c| c.is_ascii_uppercase()),
                "an uppercase letter",
            ),
            (
                self.lowercase,
                has(|c| c.is_ascii_lowercase()),
                "a lowercase letter",
            ),
            (self.numbers, has(|c| c.is_ascii_digit()), "a number"),
            (
                self.symbols,
                inner.chars().any(|c| SPECIAL.contains(c) || c == ' '),
                "a special character",
            ),
        ];
        let missing: Vec<&str> = kinds
            .iter()
            .filter(|(asked, there, _)| *asked && !there)
            .map(|(_, _, what)| *what)
            .collect();
        if !missing.is_empty() {
            found.push(format!("it lacks {}", and_list(&missing)));
        }
        found
    }

    /// The policy in words, for the message that refuses a password.
    pub fn describe(&self) -> String {
        let kinds: Vec<&str> = [
            (self.uppercase, "an uppercase letter"),
            (self.lowercase, "a lowercase letter"),
            (self.numbers, "a number"),
            (self.symbols, "a special character (one of ^ $ * . [ ] { } ( ) ? \" ! @ # % & / \\ , > < ' : ; | _ ~ ` = + -)"),
        ]
        .iter()
        .filter(|(asked, _)| *asked)
        .map(|(_, what)| *what)
        .collect();
        let with = match kinds.as_slice() {
            [] => String::new(),
            kinds => format!(", with {}", and_list(kinds)),
        };
        format!(
            "{} to {MAX_LENGTH} characters{with}, no leading or trailing space",
            self.min_length
        )
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The pool's password policy, as DescribeUserPool gives it.
pub async fn read(clients: &Clients, refs: &StackRefs) -> Result<PasswordPolicy, AwsError> {
    let out = clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&refs.pool_id)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "DescribeUserPool", e))?;
    let policy = out
        .user_pool
        .as_ref()
        .and_then(|p| p.policies.as_ref())
        .and_then(|p| p.password_policy.as_ref());
    Ok(PasswordPolicy::from_pool(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_names_every_rule_a_password_breaks() {
        let policy = PasswordPolicy::from_pool(None);
        assert!(policy.problems("Correct-Horse-7").is_empty());
        assert_eq!(
            policy.problems("weak"),
            [
                "it has 4 characters, fewer than 8",
                "it lacks an uppercase letter, a number and a special character"
            ]
        );
        assert_eq!(
            policy.problems(" Padded-Pass-1"),
            ["it starts or ends with a space"]
        );
        // A space inside counts as the special character.
        assert!(policy.problems("Horse Battery 7").is_empty());
        assert_eq!(
            policy.problems(&"Aa1-".repeat(65)).len(),
            1,
            "longer than 256"
        );
    }

    #[test]
    fn a_pool_policy_asks_only_what_it_sets() {
        let pool = PasswordPolicyType::builder()
            .minimum_length(6)
            .require_numbers(true)
            .build();
        let policy = PasswordPolicy::from_pool(Some(&pool));
        assert!(policy.problems("abcde1").is_empty());
        assert_eq!(policy.problems("abcdef"), ["it lacks a number"]);
        assert_eq!(
            policy.describe(),
            "6 to 256 characters, with a number, no leading or trailing space"
        );
    }
}
