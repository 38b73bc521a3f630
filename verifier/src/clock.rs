//! An injectable clock, so cache lifetimes, cooldowns and token expiry can be tested in
//! simulated time without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// True for the operating system clock, which lets token validation skip passing the
    /// time explicitly.
    fn is_system(&self) -> bool {
        false
    }

    /// The current time in seconds since the Unix epoch.
    fn unix_secs(&self) -> i64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// The operating system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn is_system(&self) -> bool {
        true
    }
}

/// A clock that moves only when told to: starts at the system time of its creation.
///
/// ```
/// use std::time::Duration;
/// use tessera_verifier::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock showing the current system time, frozen.
    pub fn new() -> ManualClock {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ManualClock {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let add = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(add, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new();
        let a = clock.unix_secs();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.unix_secs(), a);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.unix_secs(), a + 90);
        assert!(!clock.is_system());
        assert!(SystemClock.is_system());
    }
}
