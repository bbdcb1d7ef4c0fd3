//! How close sampled eviction comes to true LRU, on a cache workload.
//!
//! A seeded trace of 1,000,000 requests over 100,000 keys, drawn from a
//! Zipf distribution with exponent 0.99, is replayed through the real store
//! (no sockets) and through an exact LRU of the same capacity, 10 % of the
//! keys. Each request is a GET; a miss is followed by a SET of the key, as
//! a cache-aside client does. Both hit ratios are printed, with the curve
//! for sample sizes 1, 3, 5 and 10, and the default sample size must reach
//! at least 0.97 of exact LRU's hit ratio. The store is seeded too, so
//! every run replays exactly the same evictions.
//!
//! `scripts/test.sh` runs this test with its output shown.

mod common;

use std::collections::{BTreeMap, HashMap};

use blink_store::store::{Key, Millis, SetOptions, Store, StoreConfig, DEFAULT_SAMPLES};
use common::Rng;

const KEYS: usize = 100_000;
const REQUESTS: usize = 1_000_000;
const EXPONENT: f64 = 0.99;
/// Cache capacity, in entries: 10 % of the keys.
const CAPACITY: usize = KEYS / 10;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 32;
/// The hit ratio the default sample size must reach, relative to LRU.
const REQUIRED: f64 = 0.97;

/// The key ids of the trace: Zipf ranks, mapped through a random
/// permutation so that popularity is unrelated to the key's name.
fn trace(seed: u64) -> Vec<u32> {
    let mut rng = Rng(seed);
    let mut cumulative = Vec::with_capacity(KEYS);
    let mut total = 0.0;
    for rank in 1..=KEYS {
        total += 1.0 / (rank as f64).powf(EXPONENT);
        cumulative.push(total);
    }
    let mut ids: Vec<u32> = (0..KEYS as u32).collect();
    for i in (1..KEYS).rev() {
        ids.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    (0..REQUESTS)
        .map(|_| {
            let u = rng.unit() * total;
            let rank = cumulative.partition_point(|&c| c < u).min(KEYS - 1);
            ids[rank]
        })
        .collect()
}

fn key_name(id: u32) -> [u8; KEY_LEN] {
    let mut name = [0u8; KEY_LEN];
    name.copy_from_slice(format!("key:{id:012}").as_bytes());
    name
}

/// Hit ratio of the real store with `samples` per eviction.
fn sampled_hit_ratio(trace: &[u32], samples: usize) -> f64 {
    let store = Store::new(StoreConfig {
        seed: Some(7),
        ..StoreConfig::new((CAPACITY * (KEY_LEN + VALUE_LEN)) as u64, samples)
    });
    let value = [b'v'; VALUE_LEN];
    let mut out = Vec::new();
    let mut hits = 0usize;
    for (tick, &id) in trace.iter().enumerate() {
        let name = key_name(id);
        let key = Key::new(&name).expect("short key");
        let now = Millis(tick as u64);
        if store.get_into(key, now, &mut out) {
            hits += 1;
        } else {
            store
                .set(key, &value, now, SetOptions::PLAIN)
                .expect("an entry fits");
        }
        assert!(store.usage() <= store.memory_limit());
    }
    hits as f64 / trace.len() as f64
}

/// Hit ratio of an exact LRU holding `CAPACITY` entries.
fn lru_hit_ratio(trace: &[u32]) -> f64 {
    let mut last_use: HashMap<u32, usize> = HashMap::with_capacity(CAPACITY + 1);
    let mut by_age: BTreeMap<usize, u32> = BTreeMap::new();
    let mut hits = 0usize;
    for (tick, &id) in trace.iter().enumerate() {
        match last_use.insert(id, tick) {
            Some(previous) => {
                hits += 1;
                by_age.remove(&previous);
            }
            None if last_use.len() > CAPACITY => {
                if let Some((_, oldest)) = by_age.pop_first() {
                    last_use.remove(&oldest);
                }
            }
            None => {}
        }
        by_age.insert(tick, id);
    }
    hits as f64 / trace.len() as f64
}

/// Sampled eviction with the default sample size keeps at least 97 % of
/// exact LRU's hit ratio on a Zipf(0.99) trace; prints the curve.
#[test]
fn sampled_eviction_comes_close_to_exact_lru() {
    let trace = trace(42);
    let lru = lru_hit_ratio(&trace);
    println!("Zipf({EXPONENT}) trace: {REQUESTS} requests over {KEYS} keys, room for {CAPACITY}");
    println!("exact LRU hit ratio: {lru:.4}");
    let mut default_ratio = None;
    for samples in [1, 3, 5, 10] {
        let ratio = sampled_hit_ratio(&trace, samples);
        println!(
            "sampled, {samples:>2} samples: hit ratio {ratio:.4} = {:.3} x LRU",
            ratio / lru
        );
        if samples == DEFAULT_SAMPLES {
            default_ratio = Some(ratio);
        }
    }
    let default_ratio = default_ratio.expect("the default sample size is on the curve");
    assert!(
        default_ratio >= REQUIRED * lru,
        "{DEFAULT_SAMPLES} samples: {default_ratio:.4} < {REQUIRED} x LRU {lru:.4}"
    );
}
