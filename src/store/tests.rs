//! Store tests: the accounting invariants against a model, under threads,
//! and the quality of sampled eviction. Time is injected as ticks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

fn store(limit: u64) -> Store {
    Store::new(StoreConfig::new(limit, DEFAULT_SAMPLES))
}

fn at(ms: u64) -> Millis {
    Millis(ms)
}

fn key(k: &[u8]) -> Key<'_> {
    Key::new(k).unwrap()
}

fn get(s: &Store, k: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    s.get_into(key(k), Millis(0), &mut out).then_some(out)
}

/// A deterministic generator for test workloads (splitmix64), shared by
/// the store's tests and the table's.
pub(super) struct TestRng(pub(super) u64);

impl TestRng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// USAGE is key plus value bytes, exact through overwrite and delete.
#[test]
fn usage_counts_key_and_value_bytes() {
    let s = store(1 << 20);
    s.set(key(b"user"), b"alice", at(0), SetOptions::PLAIN)
        .unwrap();
    assert_eq!(s.usage(), 9);
    s.set(key(b"user"), b"al", at(0), SetOptions::PLAIN)
        .unwrap();
    assert_eq!(s.usage(), 6);
    assert!(s.delete(key(b"user"), Millis(0)));
    assert!(!s.delete(key(b"user"), Millis(0)));
    assert_eq!(s.usage(), 0);
    assert_eq!(get(&s, b"user"), None);
}

/// Random SET/GET/DELETE sequences without eviction match a plain map, and
/// USAGE equals the model's byte total after every step.
#[test]
fn random_operations_match_a_model() {
    let s = store(u64::MAX / 2);
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut rng = TestRng(42);
    for step in 0..50_000 {
        let k = format!("k{}", rng.below(500)).into_bytes();
        match rng.below(3) {
            0 => {
                let v = vec![b'x'; rng.below(40) as usize];
                s.set(key(&k), &v, at(step), SetOptions::PLAIN).unwrap();
                model.insert(k, v);
            }
            1 => assert_eq!(get(&s, &k), model.get(&k).cloned(), "step {step}"),
            _ => assert_eq!(
                s.delete(key(&k), Millis(0)),
                model.remove(&k).is_some(),
                "step {step}"
            ),
        }
        let bytes: usize = model.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert_eq!(s.usage(), bytes as u64, "step {step}");
        assert_eq!(s.len(), model.len());
    }
}

/// Under a tight limit, random operations never push USAGE past the limit,
/// USAGE always equals the bytes of the entries actually present, and a key
/// just written is readable with its new value.
#[test]
fn random_operations_under_eviction_keep_usage_exact() {
    let limit = 2_000;
    let s = store(limit);
    let mut rng = TestRng(7);
    for step in 0..30_000u64 {
        let k = format!("key{}", rng.below(300)).into_bytes();
        if rng.below(4) == 0 {
            s.delete(key(&k), Millis(0));
        } else {
            let v = vec![b'v'; rng.below(100) as usize];
            s.set(key(&k), &v, at(step), SetOptions::PLAIN).unwrap();
            assert_eq!(get(&s, &k), Some(v), "step {step}");
        }
        assert!(s.usage() <= limit);
        let present: u64 = s
            .stripes
            .iter()
            .map(|stripe| stripe.table.read().bytes())
            .sum();
        assert_eq!(s.usage(), present, "step {step}");
    }
    assert!(s.evictions() > 0);
}

/// Overwriting a key that eviction picks as its own victim subtracts its
/// bytes once, not twice: USAGE cannot wrap.
#[test]
fn overwrite_of_the_evicted_key_is_counted_once() {
    let s = store(20);
    s.set(key(b"k"), b"0123456789012345678", at(0), SetOptions::PLAIN)
        .unwrap();
    assert_eq!(s.usage(), 20);
    s.set(key(b"k"), b"abcdefghijklmnopqr", at(1), SetOptions::PLAIN)
        .unwrap();
    assert_eq!(s.usage(), 19);
    assert_eq!(get(&s, b"k").as_deref(), Some(&b"abcdefghijklmnopqr"[..]));
    assert_eq!(s.evictions(), 1);
}

/// An entry larger than the limit is refused and evicts nothing.
#[test]
fn entry_larger_than_the_limit_is_refused() {
    let s = store(10);
    s.set(key(b"a"), b"1", at(0), SetOptions::PLAIN).unwrap();
    assert_eq!(
        s.set(key(b"a"), b"0123456789", at(1), SetOptions::PLAIN),
        Err(StoreError::TooLarge)
    );
    assert_eq!(get(&s, b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(s.usage(), 2);
    assert_eq!(s.evictions(), 0);
}

/// Many threads writing well past the limit at once: every SET succeeds,
/// the limit holds at every instant a watcher looks, and USAGE ends equal
/// to the bytes present.
#[test]
fn concurrent_writers_never_exceed_the_limit() {
    let limit = 50_000;
    let s = Arc::new(store(limit));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (s, done) = (Arc::clone(&s), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut looks = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert!(s.usage() <= limit);
                looks += 1;
            }
            looks
        })
    };
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut rng = TestRng(t);
                for i in 0..20_000u64 {
                    let k = format!("t{t}-{}", rng.below(5_000));
                    let v = vec![b'x'; 10 + rng.below(90) as usize];
                    s.set(key(k.as_bytes()), &v, at(i), SetOptions::PLAIN)
                        .unwrap();
                    if i % 7 == 0 {
                        s.delete(key(k.as_bytes()), Millis(0));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    let present: u64 = s.stripes.iter().map(|st| st.table.read().bytes()).sum();
    assert_eq!(s.usage(), present);
    assert!(s.usage() <= limit);
    assert!(s.evictions() > 0);
}

/// Touching 1,000 hot keys among 10,000 while the store overflows by 20%
/// keeps at least 90% of the hot keys.
#[test]
fn eviction_keeps_the_hot_set() {
    const KEYS: u32 = 10_000;
    const HOT: u32 = 1_000;
    let entry = 16 + 32;
    let s = store(u64::from(KEYS) * entry);
    let value = [b'v'; 32];
    let name = |i: u32| format!("key-{i:012}");
    let mut tick = 0;
    for i in 0..KEYS {
        tick += 1;
        s.set(key(name(i).as_bytes()), &value, at(tick), SetOptions::PLAIN)
            .unwrap();
    }
    assert_eq!(s.evictions(), 0);
    // 2,000 new keys (20% overflow), touching the hot set between them.
    let mut out = Vec::new();
    for i in KEYS..KEYS + KEYS / 5 {
        tick += 1;
        if i % 10 == 0 {
            for h in 0..HOT {
                s.get_into(key(name(h).as_bytes()), at(tick), &mut out);
            }
        }
        s.set(key(name(i).as_bytes()), &value, at(tick), SetOptions::PLAIN)
            .unwrap();
    }
    assert!(s.evictions() >= u64::from(KEYS / 5));
    let survivors = (0..HOT)
        .filter(|&h| s.get_into(key(name(h).as_bytes()), at(tick), &mut out))
        .count();
    assert!(
        survivors * 10 >= HOT as usize * 9,
        "{survivors} hot keys left"
    );
}

/// Clearing returns USAGE to zero and empties every stripe.
#[test]
fn clear_empties_the_store() {
    let s = store(1 << 20);
    for i in 0..1_000 {
        s.set(
            key(format!("{i}").as_bytes()),
            b"value",
            at(0),
            SetOptions::PLAIN,
        )
        .unwrap();
    }
    s.clear();
    assert_eq!(s.usage(), 0);
    assert!(s.is_empty());
}

/// Sampling reaches every stripe: with keys spread over the store, repeated
/// evictions remove entries from many different stripes, not the first few.
#[test]
fn eviction_samples_across_stripes() {
    let s = store(1 << 20);
    for i in 0..6_400u32 {
        s.set(key(&i.to_le_bytes()), b"", at(0), SetOptions::PLAIN)
            .unwrap();
    }
    let before: Vec<usize> = s.stripes.iter().map(|st| st.table.read().len()).collect();
    for _ in 0..640 {
        assert!(matches!(
            s.evict_one(Millis(1), None),
            evict::Eviction::Freed
        ));
    }
    let touched = s
        .stripes
        .iter()
        .zip(&before)
        .filter(|(st, &b)| st.table.read().len() < b)
        .count();
    assert!(touched >= 48, "evictions hit only {touched} of 64 stripes");
}

fn expiring_at(ms: u64) -> SetOptions {
    SetOptions {
        expiry: Expiry::At(Millis(ms)),
        condition: Condition::Always,
    }
}

/// An expired key is gone for every operation at its deadline, before any
/// reclaiming, and EXPIRE cannot revive it.
#[test]
fn expired_keys_are_gone_at_their_deadline() {
    let s = store(1 << 20);
    s.set(key(b"k"), b"v", at(0), expiring_at(100)).unwrap();
    assert_eq!(s.ttl(key(b"k"), at(99)), Ttl::Remaining(1));
    assert!(s.exists(key(b"k"), at(99)));
    assert!(!s.exists(key(b"k"), at(100)));
    let mut out = Vec::new();
    assert!(!s.get_into(key(b"k"), at(100), &mut out));
    assert!(!s.set_deadline(key(b"k"), at(100), Some(at(500)), None));
    assert_eq!(s.ttl(key(b"k"), at(100)), Ttl::Missing);
    assert_eq!(s.usage(), 0);
    assert_eq!(s.expired(), 1);
}

/// A plain SET clears an expiry; KEEPTTL keeps it; EXPIRE on a key stored
/// without one rebuilds it with the deadline and keeps the value.
#[test]
fn set_and_expire_change_deadlines() {
    let s = store(1 << 20);
    s.set(key(b"k"), b"one", at(0), expiring_at(50)).unwrap();
    s.set(key(b"k"), b"two", at(1), SetOptions::PLAIN).unwrap();
    assert_eq!(s.ttl(key(b"k"), at(60)), Ttl::Persistent);
    assert!(s.set_deadline(key(b"k"), at(60), Some(at(160)), None));
    assert_eq!(s.ttl(key(b"k"), at(60)), Ttl::Remaining(100));
    assert_eq!(get(&s, b"k").as_deref(), Some(&b"two"[..]));
    let keep = SetOptions {
        expiry: Expiry::Keep,
        condition: Condition::Always,
    };
    s.set(key(b"k"), b"three", at(70), keep).unwrap();
    assert_eq!(s.ttl(key(b"k"), at(70)), Ttl::Remaining(90));
    assert!(s.set_deadline(key(b"k"), at(70), None, None));
    assert_eq!(s.ttl(key(b"k"), at(1_000)), Ttl::Persistent);
    assert_eq!(s.usage(), 6);
}

/// SETNX-style writes see an expired key as absent.
#[test]
fn if_absent_treats_expired_keys_as_absent() {
    let s = store(1 << 20);
    let nx = SetOptions {
        expiry: Expiry::Clear,
        condition: Condition::IfAbsent,
    };
    assert_eq!(s.set(key(b"k"), b"a", at(0), nx), Ok(true));
    assert_eq!(s.set(key(b"k"), b"b", at(0), nx), Ok(false));
    s.set(key(b"k"), b"c", at(0), expiring_at(10)).unwrap();
    assert_eq!(s.set(key(b"k"), b"d", at(10), nx), Ok(true));
    assert_eq!(s.usage(), 2);
}

/// The active cycle reclaims expired keys nobody reads, and their bytes.
#[test]
fn active_expiry_reclaims_unread_keys() {
    let s = store(1 << 30);
    for i in 0..50_000u32 {
        let deadline = if i % 2 == 0 { 100 } else { 1_000_000 };
        s.set(
            key(&i.to_le_bytes()),
            b"value",
            at(0),
            expiring_at(deadline),
        )
        .unwrap();
    }
    let mut reclaimed = 0;
    for _ in 0..1_000 {
        reclaimed += s.expire_cycle(at(200), std::time::Duration::from_millis(25));
        if reclaimed == 25_000 {
            break;
        }
    }
    assert_eq!(reclaimed, 25_000);
    assert_eq!(s.len(), 25_000);
    assert_eq!(s.usage(), 25_000 * 9);
    // Every stripe's bound is exact again: nothing is expired any more.
    assert_eq!(
        s.expire_cycle(at(200), std::time::Duration::from_secs(1)),
        0
    );
    assert!(s.stripes.iter().all(|st| !st.may_have_expired(at(200))));
}

/// Under memory pressure expired keys go before any live key is evicted.
#[test]
fn expired_keys_go_before_live_ones() {
    let s = store(1_000);
    for i in 0..10u8 {
        s.set(key(&[b'p', i]), &[b'x'; 48], at(0), SetOptions::PLAIN)
            .unwrap();
    }
    for i in 0..10u8 {
        s.set(key(&[b't', i]), &[b'x'; 48], at(0), expiring_at(50))
            .unwrap();
    }
    assert_eq!(s.usage(), 1_000);
    for i in 0..10u8 {
        s.set(key(&[b'n', i]), &[b'x'; 48], at(60), SetOptions::PLAIN)
            .unwrap();
    }
    assert_eq!(s.evictions(), 0);
    assert_eq!(s.expired(), 10);
    for i in 0..10u8 {
        assert!(get(&s, &[b'p', i]).is_some());
    }
}

/// EXPIRE ... GT decides and changes under one lock: racing threads that
/// each raise a key's deadline only if theirs is later leave the latest
/// one, never an earlier one that slipped in between a check and a change.
#[test]
fn conditional_deadline_changes_are_atomic() {
    let s = Arc::new(store(1 << 20));
    for round in 0..20u64 {
        let k = format!("k{round}").into_bytes();
        s.set(key(&k), b"v", at(0), SetOptions::PLAIN).unwrap();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let s = Arc::clone(&s);
                let k = k.clone();
                std::thread::spawn(move || {
                    for i in 0..500u64 {
                        let deadline = at(1_000 + i * 4 + t);
                        let later =
                            |current: Option<Millis>| current.map_or(true, |c| deadline > c);
                        s.change_deadline(key(&k), at(0), Some(deadline), None, &later);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // The latest deadline any thread asked for: 1,000 + 499 * 4 + 3.
        assert_eq!(
            s.ttl(key(&k), at(0)),
            Ttl::Remaining(2_999),
            "round {round}"
        );
    }
}

/// A SET whose deadline has already passed removes the key in the same
/// step, and its condition and old value apply first, as in Redis.
#[test]
fn a_set_already_due_removes_the_key() {
    let s = store(1 << 20);
    s.set(key(b"k"), b"old", at(0), SetOptions::PLAIN).unwrap();
    let gone = SetOptions {
        expiry: Expiry::Gone,
        condition: Condition::IfPresent,
    };
    let mut old = Vec::new();
    let outcome = s.set_returning(key(b"k"), b"new", at(5), gone, Some(&mut old));
    assert_eq!(
        outcome,
        Ok(SetOutcome {
            stored: true,
            had_old: true
        })
    );
    assert_eq!(old, b"old");
    assert_eq!(get(&s, b"k"), None);
    assert_eq!(s.usage(), 0, "the refused bytes were refunded");
    let outcome = s.set_returning(key(b"k"), b"new", at(5), gone, None);
    assert_eq!(
        outcome,
        Ok(SetOutcome {
            stored: false,
            had_old: false
        })
    );
    assert_eq!(s.usage(), 0);
}

/// How often each of `names` (stored in database 0 of a store hashed
/// with `seed`) is drawn by `draws` RANDOMKEYs.
fn random_key_counts(seed: u64, names: &[&[u8]], draws: usize) -> Vec<usize> {
    let s = Store::new(StoreConfig {
        seed: Some(seed),
        ..StoreConfig::new(1 << 20, DEFAULT_SAMPLES)
    });
    for name in names {
        s.set(key(name), b"v", at(0), SetOptions::PLAIN).unwrap();
    }
    let mut counts = vec![0; names.len()];
    let mut out = Vec::new();
    for _ in 0..draws {
        assert!(s.random_key(0, at(0), &mut out));
        let i = names
            .iter()
            .position(|n| *n == &out[..])
            .expect("a stored key");
        counts[i] += 1;
    }
    counts
}

/// RANDOMKEY draws each of two keys about half the time, wherever their
/// hashes put them: next to each other on one stripe, or on neighbouring
/// stripes (Redis's own test draws 100 times and needs both).
#[test]
fn random_key_draws_two_keys_alike_under_every_seed() {
    for seed in 0..200 {
        let counts = random_key_counts(seed, &[b"foo", b"bar"], 400);
        assert!(
            counts.iter().all(|&c| (120..=280).contains(&c)),
            "seed {seed}: {counts:?}"
        );
    }
}

/// RANDOMKEY is uniform over many keys too, and over a database that
/// shares its tables with a larger one.
#[test]
fn random_key_is_uniform_within_a_database() {
    let names: Vec<Vec<u8>> = (0..10).map(|i| format!("key{i}").into_bytes()).collect();
    let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let counts = random_key_counts(3, &names, 4000);
    assert!(
        counts.iter().all(|&c| (250..=550).contains(&c)),
        "{counts:?}"
    );
    let s = store(1 << 24);
    for i in 0..5000 {
        let name = format!("other{i}");
        s.set(
            key(name.as_bytes()).in_db(1),
            b"v",
            at(0),
            SetOptions::PLAIN,
        )
        .unwrap();
    }
    for name in [&b"a"[..], b"b", b"c"] {
        s.set(key(name), b"v", at(0), SetOptions::PLAIN).unwrap();
    }
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for _ in 0..3000 {
        assert!(s.random_key(0, at(0), &mut out));
        *seen.entry(out.clone()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.values().all(|&c| (600..=1400).contains(&c)),
        "{seen:?}"
    );
}
