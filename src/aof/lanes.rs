//! The records of one-key changes, queued per stripe until a round
//! gathers them, and the round numbers they wait for.
//!
//! ## Why a lane per stripe
//!
//! Every write of every connection hands the log a record, under its
//! stripe's lock. Appending them all to one buffer made that buffer's lock
//! and cache lines the one place every writer on every CPU met: on two
//! CPUs it cost more than encoding the record, and a writer waiting for it
//! held its stripe's lock meanwhile. A record only has to stay in order
//! with the other records of its key, and a key's records all come from
//! its stripe, under that stripe's lock: so each stripe appends to a lane
//! of its own ([`Lanes::append`]), which no other stripe's writer touches.
//! A change that may span stripes (a transaction, MSET, FLUSHALL) is the
//! exception: it is appended to the log's shared buffer, after the lanes
//! have been gathered into it ([`Lanes::gather`]), so it follows every
//! record before it and precedes every record after it.
//!
//! ## Gathering
//!
//! The log's shared buffer, under its lock, is the only way into the file:
//! a round, a change that spans stripes, and a compaction's mark first
//! gather the lanes into it, each lane's records in order, lanes in
//! ascending stripe order (any order would do). Only lanes that hold
//! records are visited: a lane that receives its first record sets its
//! bit in a mask (`dirty`), and gathering takes the mask. A record is
//! encoded without the `SELECT` of its database when it is its lane's
//! first, or when the record before it in the lane had the same one;
//! gathering writes the first's `SELECT` when the buffer before it left
//! another database selected.
//!
//! ## Round numbers
//!
//! A record's place in the file is only known once it is gathered, so a
//! connection does not wait for a byte position but for a *round*: rounds
//! are numbered 1, 2, ... in the order they write, and `epoch` is the
//! number of the round that will write a record appended now. Appending
//! reads it under the lane's lock (after setting the lane's bit); a round
//! advances it (while holding the shared buffer's lock) before it takes
//! the mask. So a record that read round `n` is gathered by round `n` at
//! the latest: had round `n` advanced the epoch before the record read it,
//! the record would have read `n + 1`; since it did not, round `n` takes a
//! mask with the lane's bit set (set before the read, or still set from
//! the lane's earlier records) and then waits for the lane's lock, which
//! the record holds until it is in the lane. Every access to `epoch` and
//! `dirty` is sequentially consistent, which this argument needs.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use parking_lot::Mutex;

use super::format::{self, Selected, WallClock};
use crate::store::{Alone, Change, STRIPES};

/// Capacity a lane keeps after it is gathered: one huge value does not pin
/// its copy (64 lanes keep at most 1 MiB in all), while a lane's records
/// between two rounds, a few hundred bytes under a pipelined load, reuse
/// their buffer.
const KEPT_LANE: usize = 16 << 10;

/// The records of one stripe not yet gathered.
#[derive(Default)]
struct Lane {
    records: Vec<u8>,
    /// The database of the first record, which is encoded without its
    /// `SELECT` (meaningless while `records` is empty).
    first: u16,
    /// The database the records leave selected.
    last: Selected,
}

/// Every stripe's lane. See the module documentation.
pub struct Lanes {
    /// Stripe `i`'s records, each lane on cache lines of its own.
    lanes: Box<[Alone<Mutex<Lane>>]>,
    /// Bit `i` is set when lane `i` may hold records.
    dirty: Alone<AtomicU64>,
    /// The round that will write a record appended now.
    epoch: Alone<AtomicU64>,
}

impl Lanes {
    pub fn new() -> Lanes {
        const _: () = assert!(STRIPES <= u64::BITS as usize, "a mask bit per lane");
        Lanes {
            lanes: (0..STRIPES).map(|_| Alone(Mutex::default())).collect(),
            dirty: Alone(AtomicU64::new(0)),
            epoch: Alone(AtomicU64::new(1)),
        }
    }

    /// Appends the record of `change` to stripe `stripe`'s lane, and
    /// returns the round that will write it; `None`, appending nothing, for
    /// a change that is not of one key (it goes to the shared buffer).
    pub fn append(&self, stripe: usize, change: &Change<'_>, wall: WallClock) -> Option<u64> {
        let db = format::key_db(change)?;
        let mut lane = self.lanes[stripe % STRIPES].lock();
        let lane = &mut *lane;
        if lane.records.is_empty() {
            self.dirty.fetch_or(1 << (stripe % STRIPES), SeqCst);
            // The lane's first record selects nothing: gathering does.
            lane.first = db;
            lane.last = Some(db);
        }
        let round = self.epoch.load(SeqCst);
        format::encode(change, wall, &mut lane.last, &mut lane.records);
        Some(round)
    }

    /// Moves every lane's records to the end of `out`, which leaves
    /// database `selected` selected (updated). Call it holding the lock of
    /// the buffer `out` is, so that gatherings do not interleave.
    pub fn gather(&self, selected: &mut Selected, out: &mut Vec<u8>) {
        let mut dirty = self.dirty.swap(0, SeqCst);
        while dirty != 0 {
            let stripe = dirty.trailing_zeros() as usize;
            dirty &= dirty - 1;
            let mut lane = self.lanes[stripe].lock();
            if lane.records.is_empty() {
                continue;
            }
            format::select(lane.first, selected, out);
            out.extend_from_slice(&lane.records);
            *selected = lane.last;
            lane.records.clear();
            if lane.records.capacity() > KEPT_LANE {
                lane.records = Vec::new();
            }
        }
    }

    /// Starts the next round: returns its number, so that records appended
    /// from now on wait for the one after it. Call it holding the shared
    /// buffer's lock, then [`Lanes::gather`] the round's records.
    pub fn advance(&self) -> u64 {
        self.epoch.fetch_add(1, SeqCst)
    }

    /// The round that will write a record appended now to the shared
    /// buffer; read it holding that buffer's lock.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// Whether no lane holds a record.
    pub fn is_empty(&self) -> bool {
        self.dirty.load(SeqCst) == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::thread;

    use parking_lot::Mutex;

    use super::*;
    use crate::aof::format::{Reader, Record};
    use crate::store::{Clock, Key};

    fn set(name: &[u8], db: u16) -> Change<'_> {
        Change::Set {
            key: Key::new(name).expect("a short key").in_db(db),
            value: b"v",
            deadline: None,
        }
    }

    fn records(bytes: &[u8]) -> Vec<Record> {
        let mut reader = Reader::new(bytes);
        let mut records = Vec::new();
        while let Some(record) = reader.next_record().expect("whole records") {
            records.push(record);
        }
        records
    }

    fn set_record(name: &[u8]) -> Record {
        Record::Set {
            key: name.to_vec(),
            value: b"v".to_vec(),
            at: None,
        }
    }

    /// Gathering keeps each lane's records in order, lanes in stripe order,
    /// and writes a `SELECT` exactly where the database changes: inside a
    /// lane, between lanes, and from one gathering to the next.
    #[test]
    fn gathered_lanes_select_each_records_database() {
        let wall = WallClock::of(&Clock::new());
        let lanes = Lanes::new();
        let del = Change::Del {
            key: Key::new(b"c").expect("a short key").in_db(1),
        };
        assert_eq!(lanes.append(7, &set(b"d", 2), wall), Some(1));
        assert_eq!(lanes.append(3, &set(b"a", 0), wall), Some(1));
        assert_eq!(lanes.append(3, &set(b"b", 1), wall), Some(1));
        assert_eq!(lanes.append(5, &del, wall), Some(1));
        assert_eq!(lanes.append(5, &Change::Flush, wall), None);
        let mut selected = Some(0);
        let mut out = Vec::new();
        assert_eq!(lanes.advance(), 1);
        lanes.gather(&mut selected, &mut out);
        assert_eq!(
            records(&out),
            [
                set_record(b"a"),
                Record::Select(1),
                set_record(b"b"),
                Record::Del(vec![b"c".to_vec()]),
                Record::Select(2),
                set_record(b"d"),
            ]
        );
        assert_eq!(selected, Some(2));
        assert!(lanes.is_empty());

        assert_eq!(lanes.append(9, &set(b"e", 2), wall), Some(2));
        assert_eq!(lanes.append(9, &set(b"f", 0), wall), Some(2));
        out.clear();
        lanes.gather(&mut selected, &mut out);
        assert_eq!(
            records(&out),
            [set_record(b"e"), Record::Select(0), set_record(b"f")]
        );
        assert_eq!(selected, Some(0));
        out.clear();
        lanes.gather(&mut selected, &mut out);
        assert!(out.is_empty(), "gathered twice");
    }

    /// Writers on several threads append while rounds advance and gather
    /// as fast as they can: every record is gathered once, by the round it
    /// was told or an earlier one, never a later one.
    #[test]
    fn a_record_is_gathered_by_the_round_it_was_told() {
        const WRITERS: usize = 4;
        const RECORDS: usize = 3_000;
        let wall = WallClock::of(&Clock::new());
        let lanes = Arc::new(Lanes::new());
        let shared = Arc::new(Mutex::new(Some(0)));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let lanes = Arc::clone(&lanes);
                thread::spawn(move || {
                    (0..RECORDS)
                        .map(|i| {
                            let name = format!("{w}-{i}").into_bytes();
                            let stripe = (i * 7 + w) % STRIPES;
                            let round = lanes.append(stripe, &set(&name, 0), wall);
                            (name, round.expect("a change of one key"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut gathered_by = HashMap::new();
        let mut gather = |last: bool| {
            let mut selected = shared.lock();
            let round = lanes.advance();
            let mut out = Vec::new();
            lanes.gather(&mut selected, &mut out);
            for record in records(&out) {
                let Record::Set { key, .. } = record else {
                    panic!("only SETs were appended: {record:?}");
                };
                assert!(gathered_by.insert(key, round).is_none(), "gathered twice");
            }
            assert!(!last || lanes.is_empty());
        };
        while !writers.iter().all(|w| w.is_finished()) {
            gather(false);
        }
        gather(true);
        let told: Vec<(Vec<u8>, u64)> = writers
            .into_iter()
            .flat_map(|w| w.join().expect("a writer"))
            .collect();
        assert_eq!(gathered_by.len(), WRITERS * RECORDS);
        for (name, round) in told {
            let by = gathered_by[&name];
            assert!(by <= round, "told round {round}, gathered by round {by}");
        }
    }
}
