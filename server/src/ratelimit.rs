//! Failed-login limiting per user name and per client address (a sliding window kept in
//! memory, per replica).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Most distinct keys remembered; past this the oldest are forgotten.
const MAX_KEYS: usize = 100_000;

/// Attempts that may be in flight for one user beyond what its failures leave: parallel
/// guesses can pass the limit by at most this many per window, while a user's own
/// concurrent logins are not refused.
const IN_FLIGHT_SLACK: usize = 16;
/// The same for one address, larger: many users may log in at once behind one proxy.
const ADDRESS_IN_FLIGHT_SLACK: usize = 64;

/// Counts failures in a sliding window, and attempts in flight.
#[derive(Debug)]
pub struct FailureLimiter {
    window: i64,
    max_per_user: usize,
    max_per_address: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: HashMap<String, VecDeque<i64>>,
    in_flight: HashMap<String, usize>,
}

/// One login attempt under way. Say how it ended with [`Attempt::failed`] or
/// [`Attempt::succeeded`]; dropped otherwise (an internal error), it counts for neither.
#[derive(Debug)]
pub struct Attempt {
    limiter: Arc<FailureLimiter>,
    keys: [String; 3],
    now: i64,
    failed: Option<bool>,
}

impl Attempt {
    /// Wrong password, unknown or disabled user: a failure for the user and the address.
    pub fn failed(mut self) {
        self.failed = Some(true);
    }

    /// A successful login: forgets the failures of this user from this address.
    pub fn succeeded(mut self) {
        self.failed = Some(false);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let Ok(mut state) = self.limiter.state.lock() else {
            return;
        };
        for key in &self.keys {
            if let Some(n) = state.in_flight.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.in_flight.remove(key);
                }
            }
        }
        match self.failed {
            Some(true) => {
                if state.failures.len() + self.keys.len() > MAX_KEYS {
                    self.limiter.make_room(&mut state.failures, self.now);
                }
                for key in &self.keys {
                    let times = state.failures.entry(key.clone()).or_default();
                    times.push_back(self.now);
                    if times.len() > 1000 {
                        times.pop_front();
                    }
                }
            }
            Some(false) => {
                state.failures.remove(&self.keys[0]);
            }
            None => {}
        }
    }
}

impl FailureLimiter {
    /// A limiter allowing `per_user` failures per user name and address, ten times that per
    /// user name from anywhere, and `per_address` per address, per `window` seconds.
    pub fn new(window: u64, per_user: u32, per_address: u32) -> FailureLimiter {
        FailureLimiter {
            window: i64::try_from(window).unwrap_or(i64::MAX),
            max_per_user: per_user as usize,
            max_per_address: per_address as usize,
            state: Mutex::new(State::default()),
        }
    }

    /// Starts an attempt, or `Err(seconds)` to wait: when the failures of the user (from
    /// this address, or from anywhere) or of the address have reached their limit, or when
    /// so many attempts are already in flight that they could pass it by more than a few.
    pub fn begin(self: &Arc<Self>, user: &str, address: &str, now: i64) -> Result<Attempt, u64> {
        // Per user from one address: the tight limit. Per user from anywhere: ten times
        // that, so that a stranger cannot lock a user out with a handful of wrong
        // passwords, while guessing from many addresses is still bounded. Per address.
        let keys = [
            pair_key(user, address),
            user_key(user),
            address_key(address),
        ];
        let limits = [
            self.max_per_user,
            self.max_per_user.saturating_mul(USER_LIMIT_FACTOR),
            self.max_per_address,
        ];
        let Ok(mut state) = self.state.lock() else {
            return Err(1);
        };
        let mut wait = 0i64;
        let slacks = [IN_FLIGHT_SLACK, IN_FLIGHT_SLACK, ADDRESS_IN_FLIGHT_SLACK];
        for ((key, max), slack) in keys.iter().zip(limits).zip(slacks) {
            let failed = match state.failures.get_mut(key) {
                Some(times) => {
                    while times.front().is_some_and(|t| *t <= now - self.window) {
                        times.pop_front();
                    }
                    if times.len() >= max {
                        let oldest = times.front().copied().unwrap_or(now);
                        wait = wait.max(oldest + self.window - now);
                    }
                    times.len()
                }
                None => 0,
            };
            let flying = state.in_flight.get(key).copied().unwrap_or(0);
            if failed + flying >= max.saturating_add(slack) {
                wait = wait.max(1);
            }
        }
        if wait > 0 {
            return Err(u64::try_from(wait).unwrap_or(1));
        }
        for key in &keys {
            *state.in_flight.entry(key.clone()).or_default() += 1;
        }
        Ok(Attempt {
            limiter: self.clone(),
            keys,
            now,
            failed: None,
        })
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

    fn fail(limiter: &Arc<FailureLimiter>, user: &str, address: &str, now: i64) {
        limiter.begin(user, address, now).unwrap().failed();
    }

    #[test]
    fn limits_per_user_and_address_per_user_and_per_address() {
        let limiter = Arc::new(FailureLimiter::new(300, 3, 5));
        for _ in 0..3 {
            fail(&limiter, "jane", "1.1.1.1", 1000);
        }
        // Locked for this address only: a stranger cannot lock Jane out.
        assert_eq!(limiter.begin("jane", "1.1.1.1", 1001).err(), Some(299));
        assert!(
            limiter.begin("Jane", "1.1.1.1", 1001).is_err(),
            "names fold case"
        );
        assert!(limiter.begin("jane", "2.2.2.2", 1001).is_ok());
        fail(&limiter, "a", "1.1.1.1", 1002);
        fail(&limiter, "b", "1.1.1.1", 1002);
        assert!(
            limiter.begin("c", "1.1.1.1", 1003).is_err(),
            "address limit"
        );
        assert!(
            limiter.begin("jane", "1.1.1.1", 1301).is_ok(),
            "window passed"
        );
    }

    #[test]
    fn guessing_one_user_from_many_addresses_is_bounded_too() {
        let limiter = Arc::new(FailureLimiter::new(300, 2, 100));
        for n in 0..20 {
            fail(&limiter, "jane", &format!("10.0.0.{n}"), 1000);
        }
        // Twenty failures (ten times the per-address limit) from anywhere: locked.
        assert!(limiter.begin("jane", "10.0.1.1", 1000).is_err());
    }

    #[test]
    fn attempts_in_flight_count_up_to_a_small_slack() {
        let limiter = Arc::new(FailureLimiter::new(300, 3, 100));
        // None has finished: the limit plus the slack may be in flight, no more.
        let flying: Vec<Attempt> = (0..3 + IN_FLIGHT_SLACK)
            .map(|_| limiter.begin("jane", "1.1.1.1", 1000).unwrap())
            .collect();
        assert!(limiter.begin("jane", "1.1.1.1", 1000).is_err());
        // They fail: now the limit itself holds, with nothing in flight.
        for attempt in flying {
            attempt.failed();
        }
        assert_eq!(limiter.begin("jane", "1.1.1.1", 1000).err(), Some(300));
    }

    #[test]
    fn successes_clear_the_pair_and_free_their_slot() {
        let limiter = Arc::new(FailureLimiter::new(300, 2, 100));
        fail(&limiter, "jane", "1.1.1.1", 1000);
        limiter.begin("jane", "1.1.1.1", 1001).unwrap().succeeded();
        // The failure was forgotten: two more fit before the pair is locked.
        fail(&limiter, "jane", "1.1.1.1", 1002);
        assert!(limiter.begin("jane", "1.1.1.1", 1002).is_ok());
        // An attempt dropped without an outcome (an internal error) counts for nothing.
        drop(limiter.begin("jane", "1.1.1.1", 1002).unwrap());
        let state = limiter.state.lock().unwrap();
        assert!(state.in_flight.is_empty());
        assert_eq!(state.failures["p:jane|1.1.1.1"].len(), 1);
    }

    #[test]
    fn a_full_map_drops_the_oldest_tenth_not_everything() {
        let limiter = Arc::new(FailureLimiter::new(300, 2, 2));
        {
            let mut state = limiter.state.lock().unwrap();
            // All inside the window, the oldest first.
            for n in 0..MAX_KEYS {
                let at = 1000 + i64::try_from(n / 1000).unwrap();
                state
                    .failures
                    .insert(format!("u:n{n}"), VecDeque::from([at]));
            }
        }
        fail(&limiter, "jane", "1.1.1.1", 1200);
        let state = limiter.state.lock().unwrap();
        let map = &state.failures;
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
