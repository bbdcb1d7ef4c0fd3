//! Writes recycle memory without calling the global allocator.
//!
//! This test binary, and only this one, installs a global allocator that
//! counts the calls made by the current thread, so that a test can assert
//! that a stretch of store operations made none. The crate itself forbids
//! `unsafe`; an allocator cannot be written without it, so it lives here,
//! delegating every call to the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use blink_store::store::{Key, Millis, SetOptions, Store, StoreConfig};

/// The system allocator, counting this thread's allocations.
struct Counting;

thread_local! {
    /// Allocations (and reallocations) made by this thread.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no counter left, and an
    // allocator must not panic.
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

// SAFETY: every call is passed to `System` with its arguments unchanged,
// so this allocator upholds exactly the contract `System` does.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations this thread makes while running `work`.
fn allocations(work: impl FnOnce()) -> u64 {
    let before = CALLS.with(Cell::get);
    work();
    CALLS.with(Cell::get) - before
}

fn store() -> Store {
    Store::new(StoreConfig::new(64 << 20, 5))
}

/// Overwriting a key with values of its record's size class, and reading
/// it back into a reused buffer, calls the allocator not once.
#[test]
fn overwrites_in_the_same_size_class_allocate_nothing() {
    let store = store();
    let keys: Vec<Vec<u8>> = (0..1_000)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let values: Vec<Vec<u8>> = (0..8).map(|i| vec![b'a' + i; 32]).collect();
    for key in &keys {
        let key = Key::new(key).unwrap();
        store
            .set(key, &values[0], Millis(1), SetOptions::PLAIN)
            .unwrap();
    }
    let mut out = Vec::with_capacity(64);
    let calls = allocations(|| {
        for round in 0..10 {
            for key in &keys {
                let key = Key::new(key).unwrap();
                // 16-byte keys with 30- to 32-byte values: all one class.
                let value = &values[round % 8][..30 + round % 3];
                assert_eq!(
                    store.set(key, value, Millis(2), SetOptions::PLAIN),
                    Ok(true)
                );
                assert!(store.get_into(key, Millis(2), &mut out));
                assert_eq!(out, value);
            }
        }
    });
    assert_eq!(calls, 0, "overwrites called the allocator");
}

/// At steady state a cache replaces keys: once every stripe has held as
/// many entries as it now does, deleting a key and setting a new one of
/// the same size takes the freed record and calls the allocator not once.
/// The store is seeded, so the stripes' populations are the same every
/// run: a stripe whose population crosses its table's growth or shrink
/// threshold reallocates its slots, which is not what this test is about.
#[test]
fn replacing_keys_at_steady_state_allocates_nothing() {
    let store = Store::new(StoreConfig {
        seed: Some(7),
        ..StoreConfig::new(64 << 20, 5)
    });
    let keys: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let fresh: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("new:{i:012}").into_bytes())
        .collect();
    // Warm up: both sets at once, so every stripe has had room for both.
    for key in keys.iter().chain(&fresh) {
        store
            .set(
                Key::new(key).unwrap(),
                &[b'x'; 32],
                Millis(1),
                SetOptions::PLAIN,
            )
            .unwrap();
    }
    for key in &fresh {
        assert!(store.delete(Key::new(key).unwrap(), Millis(1)));
    }
    let calls = allocations(|| {
        for (old, new) in keys.iter().zip(&fresh) {
            assert!(store.delete(Key::new(old).unwrap(), Millis(2)));
            let stored = store.set(
                Key::new(new).unwrap(),
                &[b'y'; 32],
                Millis(2),
                SetOptions::PLAIN,
            );
            assert_eq!(stored, Ok(true));
        }
    });
    assert_eq!(calls, 0, "replacing keys called the allocator");
    assert_eq!(store.len(), 200);
}

/// The counter counts: a store's first write does allocate (its first
/// chunk of records), so the assertions above can fail.
#[test]
fn the_counter_sees_allocations() {
    let store = store();
    let calls = allocations(|| {
        store
            .set(Key::new(b"k").unwrap(), b"v", Millis(1), SetOptions::PLAIN)
            .unwrap();
    });
    assert!(calls > 0);
}
