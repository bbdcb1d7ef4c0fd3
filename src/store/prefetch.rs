//! Prefetch: the cache misses of a pipelined batch's lookups, taken
//! together before the batch runs.
//!
//! A lookup misses the cache twice on a large store: once for the key's
//! slot, once for its record in the slab, which the slot points to. Run one
//! request at a time, each miss is waited for in turn: the probe branches
//! on the slot it loaded and the key comparison on the record, and the
//! stripe lock taken between two requests is a locked instruction, which
//! lets no later load start before the earlier ones are done. In a profile
//! of 50 clients pipelining 16 GETs or SETs on one core, `Table::position`
//! took 28 to 30 % of the server's CPU, half of it waiting for the slot and
//! half for the record.
//!
//! [`Store::prefetch`] takes the keys of the requests one read brought (the
//! connection loop finds them with [`crate::protocol::framer::keys_ahead`]),
//! read-locks their stripes together, in ascending index order as MGET
//! does, and loads in two passes: first every key's home slot, then, with
//! the slots in cache, the first and last byte of each record whose slot
//! holds the key's hash (a record may straddle two cache lines). No load
//! of a pass waits for another's, and neither pass branches on what it
//! loads, so the misses of the whole batch are in flight at once. The
//! locks are then released and the requests run as always, one at a
//! time, finding their slots and records in cache. On that load the
//! lookup's share fell to 4 to 8 %, the prefetch itself took 8 to 11 %,
//! and the server's CPU per request fell by 8 to 12 % for GETs and 12 to
//! 18 % for SETs (both builds; the static one gains more).
//!
//! It takes only the stripes it can lock at once (`try_read`): a key whose
//! stripe is being written is not prefetched, and a prefetch never waits,
//! so it adds no wait to the lock order. It still makes writers wait: with
//! several CPUs at work, a writer on another CPU that finds one of the
//! held stripes spins, then yields its CPU, and 50 clients pipelining SETs
//! on two CPUs lost a fifth to a third of their rate. Hence `--prefetch
//! auto` ([`crate::config::Prefetch`]) turns it on only when the server
//! may use one CPU, where no other thread runs while the stripes are held.
//!
//! It is only a hint: nothing is read out, nothing changes, and a key that
//! moves or vanishes in between costs a miss, not a wrong answer. Each key
//! is hashed twice (here and by its request), which costs less than the
//! misses it saves. A batch of one request is not prefetched: there is
//! nothing to overlap.

use parking_lot::RwLockReadGuard;

use super::Store;
use crate::store::table::Table;

/// Most keys one prefetch loads; more are ignored. A core keeps only so
/// many misses in flight (about a dozen on current x86 cores), so a larger
/// batch gains little, and it would hold more stripes at once. Sixteen is
/// the pipeline depth the measurements above used.
pub const PREFETCH_KEYS: usize = 16;

impl Store {
    /// Brings into cache the slots and records of the keys named `names`
    /// (in any database: the hash does not depend on it), so that the
    /// requests that follow find them there. Reads and changes nothing.
    pub fn prefetch(&self, names: &[&[u8]]) {
        let n = names.len().min(PREFETCH_KEYS);
        if n < 2 {
            return;
        }
        let mut places = [(0usize, 0u32); PREFETCH_KEYS];
        for (place, name) in places.iter_mut().zip(names) {
            *place = self.place_of_name(name);
        }
        let places = &mut places[..n];
        places.sort_unstable_by_key(|&(index, _)| index);
        // One guard per distinct stripe, in ascending index order, and the
        // guard each place reads through.
        let mut guards: [Option<RwLockReadGuard<'_, Table>>; PREFETCH_KEYS] = Default::default();
        let mut guard_of = [0usize; PREFETCH_KEYS];
        let mut held = 0;
        for (i, &(index, _)) in places.iter().enumerate() {
            if i == 0 || index != places[i - 1].0 {
                guards[held] = self.stripes[index].table.try_read();
                held += 1;
            }
            guard_of[i] = held - 1;
        }
        let mut folded = 0u32;
        for (&(_, hash), &g) in places.iter().zip(&guard_of) {
            if let Some(table) = guards[g].as_deref() {
                folded = folded.wrapping_add(table.load_home(hash));
            }
        }
        for (&(_, hash), &g) in places.iter().zip(&guard_of) {
            if let Some(table) = guards[g].as_deref() {
                folded = folded.wrapping_add(table.load_record(hash));
            }
        }
        // Keeps the loads: their results are otherwise unused.
        std::hint::black_box(folded);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::store::tests::TestRng;
    use crate::store::{Key, Millis, SetOptions, StoreConfig, DEFAULT_SAMPLES};

    fn names(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("key:{i}").into_bytes())
            .collect()
    }

    /// A prefetch reads nothing out and changes nothing: every value,
    /// the byte count and the key count are as before, whatever names it
    /// is given (absent, repeated, empty, more than it loads, one only).
    #[test]
    fn prefetch_changes_nothing() {
        let store = Store::new(StoreConfig::new(1 << 30, DEFAULT_SAMPLES));
        let keys = names(2_000);
        for (i, key) in keys.iter().enumerate() {
            let value = vec![b'v'; i % 300];
            let key = Key::new(key).unwrap().in_db((i % 3) as u16);
            store
                .set(key, &value, Millis(0), SetOptions::PLAIN)
                .unwrap();
        }
        let usage = store.usage();
        let mut rng = TestRng(7);
        for round in 0..500 {
            let count = round % (PREFETCH_KEYS + 4);
            let batch: Vec<Vec<u8>> = (0..count)
                .map(|_| match rng.below(4) {
                    0 => b"absent".to_vec(),
                    1 => Vec::new(),
                    _ => keys[rng.below(keys.len() as u64) as usize].clone(),
                })
                .collect();
            let batch: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            store.prefetch(&batch);
        }
        assert_eq!(store.usage(), usage);
        let mut out = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let key = Key::new(key).unwrap().in_db((i % 3) as u16);
            assert!(store.get_into(key, Millis(0), &mut out), "key {i}");
            assert_eq!(out, vec![b'v'; i % 300], "key {i}");
        }
    }

    /// Prefetches beside writers that lock many stripes at once (MSET,
    /// in ascending order) and one at a time: every thread finishes, and
    /// the writes all land.
    #[test]
    fn prefetch_beside_writers_on_many_stripes_finishes() {
        let store = Arc::new(Store::new(StoreConfig::new(1 << 30, DEFAULT_SAMPLES)));
        let keys = Arc::new(names(512));
        let (done, finished) = mpsc::channel();
        for worker in 0..4u64 {
            let (store, keys, done) = (Arc::clone(&store), Arc::clone(&keys), done.clone());
            thread::spawn(move || {
                let mut rng = TestRng(worker);
                for _ in 0..2_000 {
                    let pick: Vec<&[u8]> = (0..PREFETCH_KEYS)
                        .map(|_| keys[rng.below(keys.len() as u64) as usize].as_slice())
                        .collect();
                    match worker {
                        0 | 1 => store.prefetch(&pick),
                        2 => {
                            let pairs: Vec<(Key<'_>, &[u8])> = pick
                                .iter()
                                .map(|k| (Key::new(k).unwrap(), &b"m"[..]))
                                .collect();
                            store.set_many(&pairs, Millis(0), false).unwrap();
                        }
                        _ => {
                            for key in pick {
                                let key = Key::new(key).unwrap();
                                store.set(key, b"s", Millis(0), SetOptions::PLAIN).unwrap();
                            }
                        }
                    }
                }
                done.send(worker).unwrap();
            });
        }
        for _ in 0..4 {
            finished
                .recv_timeout(Duration::from_secs(60))
                .expect("a thread did not finish within a minute");
        }
        let mut out = Vec::new();
        for key in keys.iter() {
            let key = Key::new(key).unwrap();
            if store.get_into(key, Millis(0), &mut out) {
                assert!(out == b"m" || out == b"s", "{out:?}");
            }
        }
        assert!(store.usage() > 0);
    }
}
