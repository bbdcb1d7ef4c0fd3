//! Store tests: the accounting invariants against a model, under threads,
//! and the quality of sampled eviction. Time is injected as ticks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

fn store(limit: u64) -> Store {
    Store::new(StoreConfig {
        memory_limit: limit,
        eviction_samples: DEFAULT_SAMPLES,
    })
}

fn key(k: &[u8]) -> Key<'_> {
    Key::new(k).unwrap()
}

fn get(s: &Store, k: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    s.get_into(key(k), 0, &mut out).then_some(out)
}

/// A deterministic generator for test workloads (splitmix64).
struct TestRng(u64);

impl TestRng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// USAGE is key plus value bytes, exact through overwrite and delete.
#[test]
fn usage_counts_key_and_value_bytes() {
    let s = store(1 << 20);
    s.set(key(b"user"), b"alice", 0).unwrap();
    assert_eq!(s.usage(), 9);
    s.set(key(b"user"), b"al", 0).unwrap();
    assert_eq!(s.usage(), 6);
    assert!(s.delete(key(b"user")));
    assert!(!s.delete(key(b"user")));
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
                s.set(key(&k), &v, step).unwrap();
                model.insert(k, v);
            }
            1 => assert_eq!(get(&s, &k), model.get(&k).cloned(), "step {step}"),
            _ => assert_eq!(s.delete(key(&k)), model.remove(&k).is_some(), "step {step}"),
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
    for step in 0..30_000u32 {
        let k = format!("key{}", rng.below(300)).into_bytes();
        if rng.below(4) == 0 {
            s.delete(key(&k));
        } else {
            let v = vec![b'v'; rng.below(100) as usize];
            s.set(key(&k), &v, step).unwrap();
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
    s.set(key(b"k"), b"0123456789012345678", 0).unwrap();
    assert_eq!(s.usage(), 20);
    s.set(key(b"k"), b"abcdefghijklmnopqr", 1).unwrap();
    assert_eq!(s.usage(), 19);
    assert_eq!(get(&s, b"k").as_deref(), Some(&b"abcdefghijklmnopqr"[..]));
    assert_eq!(s.evictions(), 1);
}

/// An entry larger than the limit is refused and evicts nothing.
#[test]
fn entry_larger_than_the_limit_is_refused() {
    let s = store(10);
    s.set(key(b"a"), b"1", 0).unwrap();
    assert_eq!(
        s.set(key(b"a"), b"0123456789", 1),
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
                for i in 0..20_000u32 {
                    let k = format!("t{t}-{}", rng.below(5_000));
                    let v = vec![b'x'; 10 + rng.below(90) as usize];
                    s.set(key(k.as_bytes()), &v, i).unwrap();
                    if i % 7 == 0 {
                        s.delete(key(k.as_bytes()));
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
        s.set(key(name(i).as_bytes()), &value, tick).unwrap();
    }
    assert_eq!(s.evictions(), 0);
    // 2,000 new keys (20% overflow), touching the hot set between them.
    let mut out = Vec::new();
    for i in KEYS..KEYS + KEYS / 5 {
        tick += 1;
        if i % 10 == 0 {
            for h in 0..HOT {
                s.get_into(key(name(h).as_bytes()), tick, &mut out);
            }
        }
        s.set(key(name(i).as_bytes()), &value, tick).unwrap();
    }
    assert!(s.evictions() >= u64::from(KEYS / 5));
    let survivors = (0..HOT)
        .filter(|&h| s.get_into(key(name(h).as_bytes()), tick, &mut out))
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
        s.set(key(format!("{i}").as_bytes()), b"value", 0).unwrap();
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
        s.set(key(&i.to_le_bytes()), b"", 0).unwrap();
    }
    let before: Vec<usize> = s.stripes.iter().map(|st| st.table.read().len()).collect();
    for _ in 0..640 {
        assert!(matches!(s.evict_one(1), evict::Eviction::Freed));
    }
    let touched = s
        .stripes
        .iter()
        .zip(&before)
        .filter(|(st, &b)| st.table.read().len() < b)
        .count();
    assert!(touched >= 48, "evictions hit only {touched} of 64 stripes");
}
