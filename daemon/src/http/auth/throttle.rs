//! A progressive delay for failed sign-ins, per source and per account, checked before any
//! password is hashed: a throttled attempt costs a map look-up, never an argon2 run.
//!
//! - **Per source** (an IPv4 address, an IPv6 /64; [`RateKey`]): after [`SOURCE`]`.free`
//!   failures, each further attempt from that source must wait 1 s, 2 s, 4 s, … (at most
//!   [`SOURCE`]`.max`) after the previous one, whatever account it names. This bounds one
//!   source guessing many accounts.
//! - **Per account** (the e-mail address as typed, folded to lower case): failures from all
//!   sources together delay further attempts the same way ([`ACCOUNT`]), which bounds guessing
//!   one account from many sources (a /48 holds 65,536 /64s). The account's delay does not
//!   apply to a source that signed in to that account successfully in the last
//!   [`KNOWN_SOURCE_TTL`]: a stranger can slow the owner down only on an address the owner has
//!   never used, and never below the owner's own network.
//!
//! An attempt counts as a failure when it starts ([`SignInThrottle::begin`]), so parallel
//! guesses from one source cannot all slip past the check while the first one is being hashed;
//! it is refunded when the password was right or was never checked, and a failure's delay runs
//! from when it ended (a slow hash does not eat into it).
//!
//! Counts are forgotten after [`FORGET_AFTER`] without a failure. The state is per process
//! (like the other rate limits) and bounded: at most [`MAX_KEYS`] sources and accounts each;
//! beyond that the ones without a delay are dropped, and if all still carry one, attempts under
//! keys never seen are refused for a second (the daemon is then under a very wide attack).
//! Accounts are kept as a keyed hash of the address, never the address itself.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::http::client_address::RateKey;

/// How failures turn into a delay for one kind of key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed without any delay.
    pub free: u32,
    /// The first delay; each further failure doubles it.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Policy {
    /// The wait after the last attempt once `failures` have been counted.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(20);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }
}

/// Per source: a person mistyping a few times, or a few people behind one NAT, are never
/// delayed.
pub const SOURCE: Policy = Policy {
    free: 10,
    base: Duration::from_secs(1),
    max: Duration::from_secs(5 * 60),
};
/// Per account, from sources that never signed in to it.
pub const ACCOUNT: Policy = Policy {
    free: 20,
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
};
/// Failures are forgotten after this long without one.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// How long a successful sign-in exempts its source from the account's delay.
pub const KNOWN_SOURCE_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Sources remembered per account.
const KNOWN_SOURCES_PER_ACCOUNT: usize = 8;
/// Sources, and accounts, tracked at most.
pub const MAX_KEYS: usize = 100_000;
/// What an attempt under a new key is told when every tracked key still carries a delay.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where an attempt comes from: a client address grouped as the rate limits group it, or
/// `None` for a caller in this process.
type Source = Option<RateKey>;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    fn current(&self, now: Instant) -> u32 {
        if now.saturating_duration_since(self.last) > FORGET_AFTER {
            0
        } else {
            self.count
        }
    }

    /// How long from `now` until the next attempt is allowed.
    fn wait(&self, policy: &Policy, now: Instant) -> Duration {
        let delay = policy.delay(self.current(now));
        (self.last + delay).saturating_duration_since(now)
    }
}

/// Failure counts under one kind of key, bounded by [`MAX_KEYS`].
#[derive(Debug)]
struct Counts<K> {
    policy: Policy,
    map: HashMap<K, Failures>,
}

impl<K: std::hash::Hash + Eq + Copy> Counts<K> {
    fn new(policy: Policy) -> Self {
        Counts {
            policy,
            map: HashMap::new(),
        }
    }

    fn wait(&self, key: &K, now: Instant) -> Duration {
        self.map
            .get(key)
            .map_or(Duration::ZERO, |f| f.wait(&self.policy, now))
    }

    /// Makes room for a new key; `false` when every tracked key still carries a delay.
    fn room_for(&mut self, key: &K, now: Instant) -> bool {
        if self.map.len() < MAX_KEYS || self.map.contains_key(key) {
            return true;
        }
        let policy = self.policy;
        self.map
            .retain(|_, f| f.current(now) > 0 && !f.wait(&policy, now).is_zero());
        self.map.len() < MAX_KEYS
    }

    fn count(&mut self, key: K, now: Instant) {
        let entry = self.map.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        entry.count = entry.current(now).saturating_add(1);
        entry.last = now;
    }

    /// A counted attempt failed at `now`: the delay runs from then.
    fn failed_at(&mut self, key: &K, now: Instant) {
        if let Some(entry) = self.map.get_mut(key) {
            entry.last = entry.last.max(now);
        }
    }

    fn refund(&mut self, key: &K) {
        if let Some(entry) = self.map.get_mut(key) {
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
                self.map.remove(key);
            }
        }
    }
}

#[derive(Debug)]
struct State {
    sources: Counts<Source>,
    accounts: Counts<u64>,
    /// Per account: the sources that signed in to it, and when.
    known: HashMap<u64, Vec<(Source, Instant)>>,
}

/// The throttle (see the module docs). The daemon uses one, [`SignInThrottle::global`].
#[derive(Debug)]
pub struct SignInThrottle {
    state: Mutex<State>,
    hasher: RandomState,
}

/// An attempt let through: a failure when dropped, unless [`Attempt::succeeded`] or
/// [`Attempt::not_tried`] says otherwise.
#[must_use = "an attempt counts as failed unless told otherwise"]
pub struct Attempt<'a> {
    throttle: &'a SignInThrottle,
    source: Source,
    account: u64,
    /// Did this attempt count against the account (its source is not known to it)?
    counted_for_account: bool,
    /// Already accounted for (told how it ended).
    finished: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    NotTried,
}

impl Attempt<'_> {
    /// The password was right: the attempt is refunded and its source becomes known to the
    /// account.
    pub fn succeeded(self) {
        self.end_at(Outcome::Succeeded, Instant::now());
    }

    /// The password was never checked (the hashing pool was full, the store did not answer):
    /// refunded.
    pub fn not_tried(self) {
        self.end_at(Outcome::NotTried, Instant::now());
    }

    fn end_at(mut self, outcome: Outcome, now: Instant) {
        self.throttle.finish(&self, outcome, now);
        self.finished = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.throttle.finish(self, Outcome::Failed, Instant::now());
        }
    }
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle::new()
    }
}

impl SignInThrottle {
    pub fn new() -> SignInThrottle {
        SignInThrottle {
            state: Mutex::new(State {
                sources: Counts::new(SOURCE),
                accounts: Counts::new(ACCOUNT),
                known: HashMap::new(),
            }),
            hasher: RandomState::new(),
        }
    }

    /// The process's throttle, shared by the pages, the API and the password change.
    pub fn global() -> &'static SignInThrottle {
        static THROTTLE: OnceLock<SignInThrottle> = OnceLock::new();
        THROTTLE.get_or_init(SignInThrottle::new)
    }

    fn account_key(&self, email: &str) -> u64 {
        self.hasher.hash_one(email.trim().to_lowercase())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is counts only: one left half-updated by a panic is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets an attempt on `email` from `client` go on, or says how long to wait first.
    pub fn begin(&self, email: &str, client: Option<IpAddr>) -> Result<Attempt<'_>, Duration> {
        self.begin_at(email, client, Instant::now())
    }

    fn begin_at(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let source = client.map(RateKey::of);
        let account = self.account_key(email);
        let mut state = self.lock();
        let known = state.known.get(&account).is_some_and(|sources| {
            sources.iter().any(|(s, at)| {
                *s == source && now.saturating_duration_since(*at) < KNOWN_SOURCE_TTL
            })
        });
        let mut wait = state.sources.wait(&source, now);
        if !known {
            wait = wait.max(state.accounts.wait(&account, now));
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if !state.sources.room_for(&source, now)
            || (!known && !state.accounts.room_for(&account, now))
        {
            return Err(FULL_RETRY_AFTER);
        }
        state.sources.count(source, now);
        if !known {
            state.accounts.count(account, now);
        }
        Ok(Attempt {
            throttle: self,
            source,
            account,
            counted_for_account: !known,
            finished: false,
        })
    }

    fn finish(&self, attempt: &Attempt<'_>, outcome: Outcome, now: Instant) {
        let mut state = self.lock();
        if outcome == Outcome::Failed {
            state.sources.failed_at(&attempt.source, now);
            if attempt.counted_for_account {
                state.accounts.failed_at(&attempt.account, now);
            }
            return;
        }
        state.sources.refund(&attempt.source);
        if attempt.counted_for_account {
            state.accounts.refund(&attempt.account);
        }
        if outcome == Outcome::NotTried {
            return;
        }
        if state.known.len() >= MAX_KEYS && !state.known.contains_key(&attempt.account) {
            state.known.retain(|_, sources| {
                sources.retain(|(_, at)| now.saturating_duration_since(*at) < KNOWN_SOURCE_TTL);
                !sources.is_empty()
            });
            if state.known.len() >= MAX_KEYS {
                return;
            }
        }
        let sources = state.known.entry(attempt.account).or_default();
        sources.retain(|(s, _)| *s != attempt.source);
        if sources.len() >= KNOWN_SOURCES_PER_ACCOUNT {
            sources.remove(0);
        }
        sources.push((attempt.source, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("address"))
    }

    /// A failed attempt that starts and ends at `now`.
    fn fail(throttle: &SignInThrottle, email: &str, client: Option<IpAddr>, now: Instant) {
        if let Ok(attempt) = throttle.begin_at(email, client, now) {
            attempt.end_at(Outcome::Failed, now);
        }
    }

    #[test]
    fn the_delay_doubles_from_the_free_failures_up_to_its_cap() {
        assert_eq!(SOURCE.delay(SOURCE.free - 1), Duration::ZERO);
        assert_eq!(SOURCE.delay(SOURCE.free), Duration::from_secs(1));
        assert_eq!(SOURCE.delay(SOURCE.free + 1), Duration::from_secs(2));
        assert_eq!(SOURCE.delay(SOURCE.free + 3), Duration::from_secs(8));
        assert_eq!(SOURCE.delay(u32::MAX), SOURCE.max);
    }

    /// One source guessing different accounts is delayed, progressively, and a later attempt
    /// after the delay is let through; other sources are not affected.
    #[test]
    fn one_source_is_delayed_across_accounts_and_progressively() {
        let throttle = SignInThrottle::new();
        let t0 = Instant::now();
        for i in 0..SOURCE.free {
            fail(
                &throttle,
                &format!("user{i}@example.org"),
                ip("203.0.113.9"),
                t0,
            );
        }
        let first = throttle
            .begin_at("another@example.org", ip("203.0.113.9"), t0)
            .err();
        assert_eq!(first, Some(Duration::from_secs(1)));
        assert!(
            throttle
                .begin_at("x@example.org", ip("203.0.113.10"), t0)
                .is_ok()
        );

        let t1 = t0 + Duration::from_secs(1);
        fail(&throttle, "another@example.org", ip("203.0.113.9"), t1);
        assert_eq!(
            throttle
                .begin_at("a@example.org", ip("203.0.113.9"), t1)
                .err(),
            Some(Duration::from_secs(2)),
            "the second delay doubles the first"
        );
        let later = t1 + FORGET_AFTER + Duration::from_secs(1);
        assert!(
            throttle
                .begin_at("a@example.org", ip("203.0.113.9"), later)
                .is_ok(),
            "failures are forgotten after an hour without one"
        );
    }

    /// IPv6 sources are grouped by /64.
    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        let throttle = SignInThrottle::new();
        let t0 = Instant::now();
        for i in 0..SOURCE.free {
            fail(
                &throttle,
                &format!("u{i}@x"),
                ip(&format!("2001:db8:1:2::{i:x}")),
                t0,
            );
        }
        assert!(
            throttle
                .begin_at("v@x", ip("2001:db8:1:2:ffff::1"), t0)
                .is_err()
        );
        assert!(throttle.begin_at("v@x", ip("2001:db8:1:3::1"), t0).is_ok());
    }

    /// Many sources failing on one account delay new sources, but not a source that signed in
    /// to it before.
    #[test]
    fn an_account_under_attack_is_delayed_except_for_its_known_sources() {
        let throttle = SignInThrottle::new();
        let t0 = Instant::now();
        let owner = ip("198.51.100.7");
        throttle
            .begin_at("Victim@Example.org", owner, t0)
            .expect("first attempt")
            .succeeded();
        for i in 0..ACCOUNT.free {
            fail(
                &throttle,
                "victim@example.org",
                ip(&format!("2001:db8:{i:x}::1")),
                t0,
            );
        }
        assert!(
            throttle
                .begin_at("victim@example.org", ip("2001:db8:ffff::1"), t0)
                .is_err(),
            "a new source is delayed"
        );
        assert!(
            throttle.begin_at("victim@example.org", owner, t0).is_ok(),
            "the owner's known source is not"
        );
    }

    /// Parallel attempts are counted when they start: a burst from one source gets only the
    /// free ones through. A refunded attempt gives its place back.
    #[test]
    fn attempts_count_when_they_start_and_successes_are_refunded() {
        let throttle = SignInThrottle::new();
        let t0 = Instant::now();
        let held: Vec<_> = (0..SOURCE.free)
            .map(|i| throttle.begin_at(&format!("p{i}@x"), ip("192.0.2.5"), t0))
            .collect();
        assert!(held.iter().all(Result::is_ok));
        assert!(throttle.begin_at("q@x", ip("192.0.2.5"), t0).is_err());
        for attempt in held.into_iter().flatten() {
            attempt.not_tried();
        }
        assert!(throttle.begin_at("q@x", ip("192.0.2.5"), t0).is_ok());
    }
}
