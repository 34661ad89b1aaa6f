//! Durations on the command line, one style for every flag: a number and a unit (`90s`, `30m`,
//! `2h`, `1d`), or several in a row (`1h30m`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs as i64, None)
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_millis(ms: i64) -> String {
    utc(ms.div_euclid(1000), Some(ms.rem_euclid(1000)))
}

/// The one formatter of both.
fn utc(secs: i64, millis: Option<i64>) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let fraction = millis.map(|ms| format!(".{ms:03}")).unwrap_or_default();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses what `rfc3339` writes.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|p| p.parse::<u64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let days = days_from_civil(y, m, day);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

// Howard Hinnant's civil-date algorithms: days since 1970-01-01 <-> (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
