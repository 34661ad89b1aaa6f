//! Durations on the command line, one style for every flag: a number and a unit (`90s`, `30m`,
//! `2h`, `1d`), or several in a row (`1h30m`).

use std::time::Duration;

/// The longest duration accepted: ten years, far beyond any wait or stack lifetime, and far
/// from where adding it to the clock could overflow.
pub const MAX: Duration = Duration::from_secs(10 * 366 * 86_400);

/// Parses `90s`, `30m`, `2h`, `1d`, `1h30m`. Clap calls it for `--ttl`, `--older-than` and
/// `--wait-timeout`; the message says what is wrong and what is expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    let expected = "use a number and a unit (s, m, h, d), e.g. 90s, 30m, 2h, 1d or 1h30m";
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("an empty duration: {expected}"));
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?} is not a duration: {expected}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too large: at most 10 years"))?;
        rest = &rest[digits..];
        let unit = rest.chars().next();
        let seconds = match unit {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            None => return Err(format!("{text:?} has no unit: {expected}")),
            Some(_) => return Err(format!("{text:?} is not a duration: {expected}")),
        };
        rest = &rest[1..];
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .filter(|s| *s <= MAX.as_secs())
            .ok_or_else(|| format!("{text:?} is too large: at most 10 years"))?;
    }
    if total == 0 {
        return Err(format!("{text:?} is zero: give a positive duration"));
    }
    Ok(Duration::from_secs(total))
}

/// The shortest text `parse` reads back as `d` (whole seconds).
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations_parse() {
        assert_eq!(parse("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse(" 30m ").unwrap(), Duration::from_secs(1800));
    }

    #[test]
    fn bad_and_overflowing_durations_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("h", "not a duration"),
            ("1800", "no unit"),
            ("2w", "not a duration"),
            ("0h", "zero"),
            ("-1h", "not a duration"),
            ("99999999999999999999h", "too large"),
            ("5124095576030431d", "too large"),
            ("3661d", "too large"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn format_reads_back() {
        for text in ["1m30s", "30m", "2h", "1d", "1h30m", "1d2h3m4s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
