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

    /// Starts an attempt: `Err(seconds)` to wait if the user or the address is over its
    /// limit; otherwise the attempt is counted as a failure at once (for both), so that
    /// concurrent attempts see each other. [`FailureLimiter::record_success`] takes it back.
    pub fn begin(&self, user: &str, address: &str, now: i64) -> Result<(), u64> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        // Per user from one address: the tight limit. Per user from anywhere: ten times
        // that, so that anyone can no longer lock a user out with a handful of wrong
        // passwords, while guessing from many addresses is still bounded. Per address.
        let keys = [
            (pair_key(user, address), self.max_per_user),
            (
                user_key(user),
                self.max_per_user.saturating_mul(USER_LIMIT_FACTOR),
            ),
            (address_key(address), self.max_per_address),
        ];
        let mut wait = 0i64;
        for (key, max) in &keys {
            if let Some(times) = map.get_mut(key) {
                while times.front().is_some_and(|t| *t <= now - self.window) {
                    times.pop_front();
                }
                if times.len() >= *max {
                    let oldest = times.front().copied().unwrap_or(now);
                    wait = wait.max(oldest + self.window - now);
                }
            }
        }
        if wait > 0 {
            return Err(u64::try_from(wait).unwrap_or(1));
        }
        if map.len() + 3 > MAX_KEYS {
            self.make_room(&mut map, now);
        }
        for (key, _) in keys {
            let times = map.entry(key).or_default();
            times.push_back(now);
            if times.len() > 1000 {
                times.pop_front();
            }
        }
        Ok(())
    }

    /// A successful login: forgets the user's failures and takes back the address's
    /// reservation made by [`FailureLimiter::begin`] at `started`.
    pub fn record_success(&self, user: &str, address: &str, started: i64) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        map.remove(&pair_key(user, address));
        for key in [user_key(user), address_key(address)] {
            if let Some(times) = map.get_mut(&key) {
                if let Some(at) = times.iter().rposition(|t| *t == started) {
                    times.remove(at);
                }
                if times.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }

    /// Forgets keys whose failures have left the window; if that is not enough, forgets
    /// the tenth of keys whose last failure is oldest (never everything at once, which
    /// would let a flood of new names reset every counter).
    fn make_room(&self, map: &mut HashMap<String, VecDeque<i64>>, now: i64) {
        let horizon = now - self.window;
        map.retain(|_, times| times.back().is_some_and(|t| *t > horizon));
        if map.len() + 3 <= MAX_KEYS {
            return;
        }
        let mut last: Vec<i64> = map
            .values()
            .map(|times| times.back().copied().unwrap_or(i64::MIN))
            .collect();
        let cut = last.len() / 10;
        let (_, threshold, _) = last.select_nth_unstable(cut);
        let threshold = *threshold;
        // Everything strictly older than the threshold (fewer than `cut` keys), then keys
        // at the threshold until `cut` are gone.
        let before = map.len();
        map.retain(|_, times| times.back().copied().unwrap_or(i64::MIN) >= threshold);
        let mut removed = before - map.len();
        map.retain(|_, times| {
            let tied = times.back().copied().unwrap_or(i64::MIN) == threshold;
            if tied && removed < cut {
                removed += 1;
                false
            } else {
                true
            }
        });
    }
}

/// How many times the per-user-and-address limit a user name may fail from anywhere.
const USER_LIMIT_FACTOR: usize = 10;

fn pair_key(user: &str, address: &str) -> String {
    format!("p:{}|{address}", user.to_lowercase())
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
            assert!(limiter.begin("jane", "1.1.1.1", 1000).is_ok());
        }
        // Locked for this address only: a stranger cannot lock Jane out.
        assert_eq!(limiter.begin("jane", "1.1.1.1", 1001), Err(299));
        assert!(limiter.begin("jane", "2.2.2.2", 1001).is_ok());
        assert!(limiter.begin("john", "2.2.2.2", 1001).is_ok());
        assert!(limiter.begin("a", "1.1.1.1", 1002).is_ok());
        assert!(limiter.begin("b", "1.1.1.1", 1002).is_ok());
        assert!(
            limiter.begin("c", "1.1.1.1", 1003).is_err(),
            "address limit"
        );
        assert!(
            limiter.begin("jane", "9.9.9.9", 1301).is_ok(),
            "window passed"
        );
    }

    #[test]
    fn guessing_one_user_from_many_addresses_is_bounded_too() {
        let limiter = FailureLimiter::new(300, 2, 100);
        for n in 0..20 {
            assert!(limiter.begin("jane", &format!("10.0.0.{n}"), 1000).is_ok());
        }
        // Twenty failures (ten times the per-address limit) from anywhere: locked.
        assert!(limiter.begin("jane", "10.0.1.1", 1000).is_err());
    }

    #[test]
    fn concurrent_attempts_are_counted_before_they_finish() {
        let limiter = FailureLimiter::new(300, 3, 100);
        // Three attempts in flight, none finished: the fourth is refused already.
        for _ in 0..3 {
            assert!(limiter.begin("jane", "1.1.1.1", 1000).is_ok());
        }
        assert!(limiter.begin("jane", "1.1.1.1", 1000).is_err());
    }

    #[test]
    fn success_takes_back_its_reservation_and_clears_the_user() {
        let limiter = FailureLimiter::new(300, 2, 2);
        assert!(limiter.begin("jane", "1.1.1.1", 1000).is_ok());
        limiter.record_success("jane", "1.1.1.1", 1000);
        assert!(limiter.begin("jane", "1.1.1.1", 1001).is_ok());
        limiter.record_success("jane", "1.1.1.1", 1001);
        // Two successes left nothing behind: two failures still fit.
        assert!(limiter.begin("jane", "1.1.1.1", 1002).is_ok());
        assert!(limiter.begin("jane", "1.1.1.1", 1002).is_ok());
        assert!(limiter.begin("jane", "1.1.1.1", 1002).is_err());
    }

    #[test]
    fn a_full_map_drops_the_oldest_tenth_not_everything() {
        let limiter = FailureLimiter::new(300, 2, 2);
        {
            let mut map = limiter.failures.lock().unwrap();
            // All inside the window, the oldest first.
            for n in 0..MAX_KEYS {
                let at = 1000 + i64::try_from(n / 1000).unwrap();
                map.insert(format!("u:n{n}"), VecDeque::from([at]));
            }
        }
        assert!(limiter.begin("jane", "1.1.1.1", 1200).is_ok());
        let map = limiter.failures.lock().unwrap();
        assert!(
            map.len() >= MAX_KEYS * 89 / 100,
            "only {} keys left",
            map.len()
        );
        // Everything newer than the oldest tenth (ties at its edge aside) is kept, and the
        // oldest go first.
        assert!(
            (11_000..MAX_KEYS).all(|n| map.contains_key(&format!("u:n{n}"))),
            "a recent key was dropped"
        );
        let oldest_left = (0..1000)
            .filter(|n| map.contains_key(&format!("u:n{n}")))
            .count();
        assert_eq!(oldest_left, 0, "the oldest keys were kept");
        assert!(map.contains_key("u:jane"));
        assert!(map.contains_key("p:jane|1.1.1.1"));
    }
}
