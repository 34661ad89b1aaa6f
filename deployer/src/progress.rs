//! Live progress on stderr: one indicatif line per resource on a terminal, plain timestamped
//! lines otherwise (CI logs). Data never goes here; it goes to stdout.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shows steps and per-resource states.
pub struct Progress {
    fancy: Option<MultiProgress>,
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Progress {
    /// Bars on a terminal, lines elsewhere; `plain` (`DEPLOYER_PLAIN`) forces lines.
    pub fn new(plain: bool) -> Self {
        let plain = plain || !std::io::stderr().is_terminal();
        let fancy = (!plain).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            fancy,
            bars: Mutex::default(),
        }
    }

    /// Plain lines whatever stderr is (for work running side by side).
    pub fn plain() -> Self {
        Self {
            fancy: None,
            bars: Mutex::default(),
        }
    }

    /// A step of the command ("building the trigger", "uploading").
    pub fn step(&self, message: &str) {
        match &self.fancy {
            Some(multi) => {
                multi.println(format!("==> {message}")).ok();
            }
            None => eprintln!("{} ==> {message}", timestamp()),
        }
    }

    /// A note that is not a step (a warning, a decision).
    pub fn note(&self, message: &str) {
        match &self.fancy {
            Some(multi) => {
                multi.println(format!("    {message}")).ok();
            }
            None => eprintln!("{}     {message}", timestamp()),
        }
    }

    /// A resource reached `status`; prints it with the time since it was first seen.
    pub fn resource(&self, logical_id: &str, kind: &str, status: &str, reason: Option<&str>) {
        let done = status.ends_with("_COMPLETE")
            || status.ends_with("_FAILED")
            || status.ends_with("_SKIPPED");
        let reason = reason
            .filter(|r| !r.is_empty() && status.contains("FAILED"))
            .map(|r| format!(" — {r}"))
            .unwrap_or_default();
        match &self.fancy {
            Some(multi) => {
                let mut bars = self.bars.lock().expect("progress lock");
                let (bar, since) = bars.entry(logical_id.to_owned()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg}").expect("valid style"),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (bar, Instant::now())
                });
                let line = format!(
                    "{logical_id:<22} {kind:<30} {status:<22} {:>6.1}s{reason}",
                    since.elapsed().as_secs_f32()
                );
                if done {
                    bar.finish_with_message(line);
                } else {
                    bar.set_message(line);
                }
            }
            None => {
                let since = self
                    .bars
                    .lock()
                    .expect("progress lock")
                    .entry(logical_id.to_owned())
                    .or_insert_with(|| (ProgressBar::hidden(), Instant::now()))
                    .1;
                eprintln!(
                    "{} {logical_id:<22} {kind:<30} {status:<22} {:>6.1}s{reason}",
                    timestamp(),
                    since.elapsed().as_secs_f32()
                );
            }
        }
    }

    /// A counting bar on a terminal; in plain mode a start line (the caller prints the summary).
    pub fn counter(&self, len: u64, message: &str) -> Option<ProgressBar> {
        let Some(multi) = &self.fancy else {
            eprintln!("{} ==> {message} ({len})", timestamp());
            return None;
        };
        let bar = multi.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("valid style"),
        );
        bar.set_message(message.to_owned());
        Some(bar)
    }

    /// A spinner for a step with no per-resource detail; cleared when dropped.
    pub fn spinner(&self, message: &str) -> Option<ProgressBar> {
        let multi = self.fancy.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid style"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(message.to_owned());
        Some(bar)
    }
}

/// UTC wall-clock time as HH:MM:SS for plain lines.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// Poll intervals that start quick and back off to a ceiling: 250 ms, 500 ms, 1 s, 2 s, 2 s...
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    ceiling: Duration,
}

impl Backoff {
    pub fn new(first: Duration, ceiling: Duration) -> Self {
        Self {
            next: first,
            ceiling,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        now
    }
}

/// How CloudFormation is polled: quick at first, then at most every `ceiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub first: Duration,
    pub ceiling: Duration,
}

impl Poll {
    /// 250 ms doubling to `ceiling` (2 s unless `DEPLOYER_POLL_MS` says otherwise; the
    /// end-to-end tests shorten it).
    pub fn with_ceiling(ceiling: Duration) -> Self {
        Self {
            first: Duration::from_millis(250).min(ceiling),
            ceiling,
        }
    }

    /// No waiting at all: for tests with mocked clients.
    pub fn immediate() -> Self {
        Self {
            first: Duration::from_millis(1),
            ceiling: Duration::from_millis(1),
        }
    }

    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.first, self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_quick_and_stays_under_its_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
        let delays: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![250, 500, 1000, 2000, 2000, 2000]);
    }
}
