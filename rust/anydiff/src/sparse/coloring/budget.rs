//! How much search an improvement may do: a deterministic count of work
//! units, an optional wall-clock limit, and the caller's stop flag.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::stop::StopFlag;

/// Default work budget of the improvement pass, in work units (one unit is
/// about one adjacency entry visited or one candidate move scored): tens of
/// milliseconds on one core.
pub const DEFAULT_WORK: u64 = 40_000_000;

/// Units spent between two polls of the stop flag and the clock.
const POLL_EVERY: u64 = 1 << 16;

/// Settings of the improvement pass (and of the "best" colorings).
///
/// The search is deterministic for a given `seed` and `work`: the same call
/// gives the same coloring on any machine under any load. A `time_limit`
/// adds a wall-clock cut-off, and with it the result may depend on load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImproveOptions {
    /// Work units the search may spend ([`DEFAULT_WORK`] by default).
    pub work: u64,
    /// Optional wall-clock limit of the search.
    pub time_limit: Option<Duration>,
    /// Seed of the random choices.
    pub seed: u64,
}

impl Default for ImproveOptions {
    /// [`DEFAULT_WORK`] units, no time limit, seed 0.
    fn default() -> Self {
        ImproveOptions {
            work: DEFAULT_WORK,
            time_limit: None,
            seed: 0,
        }
    }
}

impl ImproveOptions {
    /// No search at all (greedy colorings only).
    pub fn none() -> Self {
        ImproveOptions {
            work: 0,
            ..Self::default()
        }
    }
}

/// Meters the work of one search against its budget.
pub(crate) struct Meter<'a> {
    left: u64,
    deadline: Option<Instant>,
    stop: &'a StopFlag,
    since_poll: u64,
    interrupted: bool,
}

impl<'a> Meter<'a> {
    /// A meter for `opts`, started now.
    pub fn new(opts: &ImproveOptions, stop: &'a StopFlag) -> Self {
        Meter {
            left: opts.work,
            deadline: opts.time_limit.and_then(|t| Instant::now().checked_add(t)),
            stop,
            since_poll: 0,
            interrupted: stop.is_raised(),
        }
    }

    /// Spends `units`; false (from then on) once the work, the time or a
    /// stop request ends the search.
    #[inline]
    pub fn spend(&mut self, units: u64) -> bool {
        if self.left < units || self.interrupted {
            self.left = 0;
            return false;
        }
        self.left -= units;
        self.since_poll += units;
        if self.since_poll >= POLL_EVERY {
            self.since_poll = 0;
            if self.stop.is_raised() {
                self.interrupted = true;
                self.left = 0;
                return false;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.left = 0;
                return false;
            }
        }
        true
    }

    /// A meter holding `1 / parts` of what is left (taken from this one);
    /// give the rest back with [`Meter::absorb`].
    pub fn share(&mut self, parts: u64) -> Meter<'a> {
        self.share_at_most(parts, u64::MAX)
    }

    /// [`Meter::share`], holding at most `most` units.
    pub fn share_at_most(&mut self, parts: u64, most: u64) -> Meter<'a> {
        let part = (self.left / parts.max(1)).min(most);
        self.left -= part;
        Meter {
            left: part,
            deadline: self.deadline,
            stop: self.stop,
            since_poll: self.since_poll,
            interrupted: self.interrupted,
        }
    }

    /// Takes back what `share` did not spend, and its interruption.
    pub fn absorb(&mut self, share: Meter<'a>) {
        self.interrupted |= share.interrupted;
        self.left = if self.interrupted {
            0
        } else {
            self.left.saturating_add(share.left)
        };
        self.since_poll = share.since_poll;
    }

    /// The stop flag polled by this meter.
    pub fn stop(&self) -> &'a StopFlag {
        self.stop
    }

    /// Units left to spend.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Whether nothing is left to spend.
    pub fn exhausted(&self) -> bool {
        self.left == 0
    }

    /// Polls the stop flag now (between phases that are not metered).
    pub fn poll(&mut self) -> Result<(), Error> {
        if self.interrupted || self.stop.is_raised() {
            self.interrupted = true;
            self.left = 0;
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    /// `value`, or [`Error::Interrupted`] when the stop flag ended the search.
    pub fn finish<T>(&self, value: T) -> Result<T, Error> {
        if self.interrupted {
            Err(Error::Interrupted)
        } else {
            Ok(value)
        }
    }
}
