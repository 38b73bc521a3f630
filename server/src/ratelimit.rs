//! Failed-login limiting per user name and per client address (a sliding window kept in
//! memory, per replica).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Most distinct keys remembered; past this the oldest are forgotten.
const MAX_KEYS: usize = 100_000;

/// Counts failures in a sliding window.
#[derive(Debug)]
pub struct FailureLimiter {
    window: i64,
    max_per_user: usize,
    max_per_address: usize,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl FailureLimiter {
    /// A limiter allowing `per_user` and `per_address` failures per `window` seconds.
    pub fn new(window: u64, per_user: u32, per_address: u32) -> FailureLimiter {
        FailureLimiter {
            window: i64::try_from(window).unwrap_or(i64::MAX),
            max_per_user: per_user as usize,
            max_per_address: per_address as usize,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` to wait if either the user or the address is over its limit.
    pub fn check(&self, user: &str, address: &str, now: i64) -> Result<(), u64> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let mut wait = 0i64;
        for (key, max) in [
            (user_key(user), self.max_per_user),
            (address_key(address), self.max_per_address),
        ] {
            if let Some(times) = map.get_mut(&key) {
                while times.front().is_some_and(|t| *t <= now - self.window) {
                    times.pop_front();
                }
                if times.len() >= max {
                    let oldest = times.front().copied().unwrap_or(now);
                    wait = wait.max(oldest + self.window - now);
                }
            }
        }
        if wait > 0 {
            Err(u64::try_from(wait).unwrap_or(1))
        } else {
            Ok(())
        }
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, user: &str, address: &str, now: i64) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS {
            let horizon = now - self.window;
            map.retain(|_, times| times.back().is_some_and(|t| *t > horizon));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for key in [user_key(user), address_key(address)] {
            let times = map.entry(key).or_default();
            times.push_back(now);
            if times.len() > 1000 {
                times.pop_front();
            }
        }
    }

    /// Forgets a user's failures after a successful login.
    pub fn record_success(&self, user: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&user_key(user));
        }
    }
}

fn user_key(user: &str) -> String {
    format!("u:{}", user.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("a:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_per_address_and_forgets_after_the_window() {
        let limiter = FailureLimiter::new(300, 3, 5);
        for _ in 0..3 {
            assert!(limiter.check("jane", "1.1.1.1", 1000).is_ok());
            limiter.record_failure("jane", "1.1.1.1", 1000);
        }
        assert_eq!(limiter.check("jane", "2.2.2.2", 1001), Err(299));
        assert!(limiter.check("john", "2.2.2.2", 1001).is_ok());
        limiter.record_failure("a", "1.1.1.1", 1002);
        limiter.record_failure("b", "1.1.1.1", 1002);
        assert!(
            limiter.check("c", "1.1.1.1", 1003).is_err(),
            "address limit"
        );
        assert!(
            limiter.check("jane", "9.9.9.9", 1301).is_ok(),
            "window passed"
        );
    }
}
