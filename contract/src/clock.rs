//! Time, injectable so that key lifecycles, cache lifetimes, cooldowns and token expiry can
//! be tested in simulated time without sleeping. The server and the verifier share it.

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

/// A clock shared by every part of a process.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock, shared.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn is_system(&self) -> bool {
        true
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use tessera_contract::{Clock, ManualClock};
///
/// let clock = ManualClock::at(1_800_000_000);
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.unix_secs(), 1_800_003_600);
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

    /// A clock frozen at `unix_secs` seconds since the epoch (negative values: the epoch).
    pub fn at(unix_secs: i64) -> ManualClock {
        let secs = u64::try_from(unix_secs).unwrap_or(0);
        ManualClock {
            millis: Arc::new(AtomicU64::new(secs.saturating_mul(1000))),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let add = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(add, Ordering::SeqCst);
    }

    /// Moves the clock forward by whole seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.advance(Duration::from_secs(secs));
    }

    /// This clock, shared (the handle stays able to move it).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
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

    #[test]
    fn shared_handles_move_together() {
        let clock = ManualClock::at(1000);
        let shared = clock.shared();
        clock.advance_secs(5);
        assert_eq!(shared.unix_secs(), 1005);
        assert_eq!(ManualClock::at(-5).unix_secs(), 0);
    }
}
