//! Where entries' bytes live: one stripe's records, kept off the global
//! allocator.
//!
//! ## Why
//!
//! With a global allocator that serialises every call behind one lock (the
//! static musl build's), a SET that allocates its new entry and frees the
//! one it replaces makes every writer on every core queue on that lock. So
//! a stripe keeps its records itself, in size classes, and recycles them
//! under the stripe's write lock that a write already holds: an overwrite
//! whose record stays in its class rewrites it in place, and a new record
//! takes a freed one of its class, with no allocator call either way.
//!
//! ## Layout
//!
//! A record of up to [`MAX_SLAB_RECORD`] bytes lives in the smallest class
//! that holds it. Classes are multiples of 8 bytes up to 128, then eight
//! classes per doubling (136, 144, ... 256, 288, ... 512, ...), so a
//! record wastes at most 7 bytes below 128 and at most an eighth of its
//! size above, as jemalloc's classes do. A class's records sit back to back
//! in chunks of at most [`CHUNK_BYTES`] (finding one is a multiplication by
//! the reciprocal of the records per chunk: see [`RECIPROCAL_SHIFT`]),
//! allocated when the class has no free
//! record, one chunk per [`CHUNK_BYTES`] of the class's records. Freed
//! records go on their class's free list; when a class holds no record at
//! all its chunks but one are returned to the allocator (one is kept, so a
//! key that comes and goes does not allocate each time it comes). A record larger than
//! [`MAX_SLAB_RECORD`] gets an allocation of its own, freed with it: for
//! values that large the copy, not the allocator, is the cost.
//!
//! ## Costs and limits
//!
//! - Memory: a record's class rounding, plus at most one partly used chunk
//!   per class in use, plus the free records of a class whose population
//!   shrank (kept for reuse, as memcached keeps its slabs, until the class
//!   empties or the stripe is flushed).
//! - Every call runs under the owning stripe's write lock (or with the
//!   table owned outright); the slab knows nothing of locks.
//! - A location names a record while it is allocated; once freed, the same
//!   location may name a new record. Callers that find an entry again by
//!   location (eviction) also compare its hash.

use std::num::NonZeroU64;

/// Records longer than this get an allocation of their own.
pub const MAX_SLAB_RECORD: usize = 2048;

/// Most bytes of a chunk of records: small enough that a partly used chunk
/// per class and stripe costs little, large enough that chunks are
/// allocated rarely. A little under 4 KiB, so that the allocator's own
/// header still fits its 4 KiB size class: a chunk of exactly 4 KiB would
/// take the next class up in musl's allocator, wasting a seventh of it.
const CHUNK_BYTES: usize = 4096 - 64;

/// A record's chunk is its index times its class's reciprocal of the
/// records per chunk, `ceil(2^RECIPROCAL_SHIFT / per_chunk)`, shifted right
/// by this: a multiplication on every lookup where a division took tens of
/// cycles. Exact for every index below 2^32 (indices are `u32`) and every
/// `per_chunk` up to 2^12 (at most `CHUNK_BYTES / 8`), because the
/// reciprocal's rounding error, under `per_chunk`, times an index stays
/// under 2^(32 + 12) (Granlund and Montgomery's bound).
const RECIPROCAL_SHIFT: u32 = 32 + 12;

const _: () = assert!(CHUNK_BYTES / 8 <= 1 << (RECIPROCAL_SHIFT - 32));

/// Largest class that is a plain multiple of 8.
const LINEAR_LIMIT: usize = 128;

/// Classes per doubling above [`LINEAR_LIMIT`].
const CLASSES_PER_DOUBLING: usize = 8;

/// The class number meaning "an allocation of its own": the largest that
/// fits the location's top byte once offset by one.
const HUGE: u64 = 0xFE;

/// Bits of a location that hold the record's index.
const INDEX_BITS: u32 = 32;

/// Where one record is: its class (offset by one, so a location is never
/// zero) in the top byte, its index within the class in the low bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc(NonZeroU64);

impl Loc {
    fn new(class: u64, index: u32) -> Loc {
        // `class + 1` is at least 1 in the top byte, so the value is never
        // zero.
        let bits = ((class + 1) << 56) | u64::from(index);
        Loc(NonZeroU64::new(bits).unwrap_or(NonZeroU64::MIN))
    }

    fn class(self) -> u64 {
        (self.0.get() >> 56) - 1
    }

    fn index(self) -> usize {
        (self.0.get() & ((1 << INDEX_BITS) - 1)) as usize
    }

    /// A number naming this record while it is allocated (its tag
    /// included).
    pub fn id(self) -> usize {
        self.0.get() as usize
    }

    /// This location carrying `tag` in bits the slab never reads (between
    /// the index and the class): the owner's 16 bits, kept in the same 8
    /// bytes (the table keeps an entry's database there).
    pub fn tagged(self, tag: u16) -> Loc {
        let bits = self.0.get() & !TAG_MASK | u64::from(tag) << INDEX_BITS;
        Loc(NonZeroU64::new(bits).unwrap_or(self.0))
    }

    /// The tag given by [`Loc::tagged`] (0 when never tagged).
    pub fn tag(self) -> u16 {
        ((self.0.get() & TAG_MASK) >> INDEX_BITS) as u16
    }
}

/// The bits of a location that hold its owner's tag.
const TAG_MASK: u64 = 0xFFFF << INDEX_BITS;

/// The size of class `class`, in bytes.
fn class_size(class: usize) -> usize {
    let linear = LINEAR_LIMIT / 8;
    if class < linear {
        return (class + 1) * 8;
    }
    let above = class - linear;
    let doubling = above / CLASSES_PER_DOUBLING;
    let base = LINEAR_LIMIT << doubling;
    let step = base / CLASSES_PER_DOUBLING;
    base + (above % CLASSES_PER_DOUBLING + 1) * step
}

/// The smallest class holding `len` bytes (`1 <= len <= MAX_SLAB_RECORD`).
fn class_of(len: usize) -> usize {
    if len <= LINEAR_LIMIT {
        return len.max(1).div_ceil(8) - 1;
    }
    // `len` lies in (base, 2 * base] for a base that is 128 times a power
    // of two.
    let doubling = (usize::BITS - (len - 1).leading_zeros()) as usize - 8;
    let base = LINEAR_LIMIT << doubling;
    let step = base / CLASSES_PER_DOUBLING;
    LINEAR_LIMIT / 8 + doubling * CLASSES_PER_DOUBLING + (len - base).div_ceil(step) - 1
}

/// Number of classes.
fn class_count() -> usize {
    class_of(MAX_SLAB_RECORD) + 1
}

/// The records of one size.
#[derive(Debug)]
struct Class {
    /// Bytes per record.
    size: usize,
    /// Records per chunk.
    per_chunk: usize,
    /// `ceil(2^RECIPROCAL_SHIFT / per_chunk)`: see [`RECIPROCAL_SHIFT`].
    reciprocal: u64,
    chunks: Vec<Box<[u8]>>,
    /// Records freed and not yet reused.
    free: Vec<u32>,
    /// Records handed out from the chunks so far, freed ones included.
    handed_out: usize,
    /// Records allocated now.
    live: usize,
}

impl Class {
    fn new(size: usize) -> Class {
        let per_chunk = (CHUNK_BYTES / size).max(1);
        Class {
            size,
            per_chunk,
            reciprocal: (1u64 << RECIPROCAL_SHIFT).div_ceil(per_chunk as u64),
            chunks: Vec::new(),
            free: Vec::new(),
            handed_out: 0,
            live: 0,
        }
    }

    fn alloc(&mut self) -> u32 {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            return index;
        }
        if self.handed_out == self.chunks.len() * self.per_chunk {
            let chunk = vec![0u8; self.size * self.per_chunk];
            self.chunks.push(chunk.into_boxed_slice());
            // Room on the free list for every record there is, so that
            // freeing never allocates.
            self.free
                .reserve_exact(self.chunks.len() * self.per_chunk - self.free.len());
        }
        self.handed_out += 1;
        (self.handed_out - 1) as u32
    }

    fn free(&mut self, index: usize) {
        self.live -= 1;
        if self.live == 0 {
            // The class is empty: give its memory back, all but one chunk,
            // so that a stripe whose one key of this size comes and goes
            // does not allocate and free a chunk each time.
            self.chunks.truncate(1);
            self.free.clear();
            self.handed_out = 0;
        } else {
            self.free.push(index as u32);
        }
    }

    /// The chunk record `index` lies in, and its offset there: `index`
    /// divided by the records per chunk, with the remainder times the
    /// record size.
    fn place(&self, index: usize) -> (usize, usize) {
        debug_assert!(index <= u32::MAX as usize);
        let chunk = ((index as u128 * u128::from(self.reciprocal)) >> RECIPROCAL_SHIFT) as usize;
        (chunk, (index - chunk * self.per_chunk) * self.size)
    }

    fn bytes(&self, index: usize) -> &[u8] {
        let (chunk, start) = self.place(index);
        &self.chunks[chunk][start..start + self.size]
    }

    fn bytes_mut(&mut self, index: usize) -> &mut [u8] {
        let (chunk, start) = self.place(index);
        &mut self.chunks[chunk][start..start + self.size]
    }

    /// Bytes of records this class holds from the allocator.
    #[cfg(test)]
    fn footprint(&self) -> usize {
        self.chunks.len() * self.size * self.per_chunk
    }
}

/// One stripe's records. See the module documentation.
#[derive(Debug)]
pub struct Slab {
    classes: Vec<Class>,
    /// Records too large for a class, each in its own allocation.
    huge: Vec<Option<Box<[u8]>>>,
    huge_free: Vec<u32>,
}

impl Default for Slab {
    fn default() -> Self {
        Slab::new()
    }
}

impl Slab {
    pub fn new() -> Slab {
        Slab {
            classes: (0..class_count())
                .map(|c| Class::new(class_size(c)))
                .collect(),
            huge: Vec::new(),
            huge_free: Vec::new(),
        }
    }

    /// A record of at least `len` bytes, its contents unspecified. A
    /// record over [`MAX_SLAB_RECORD`] is better built by the caller
    /// outside the stripe lock and handed over with [`Slab::adopt`].
    pub fn alloc(&mut self, len: usize) -> Loc {
        if len > MAX_SLAB_RECORD {
            return self.adopt(vec![0u8; len].into_boxed_slice());
        }
        let class = class_of(len);
        Loc::new(class as u64, self.classes[class].alloc())
    }

    /// Takes in a record allocated by the caller, as it is.
    pub fn adopt(&mut self, record: Box<[u8]>) -> Loc {
        let index = match self.huge_free.pop() {
            Some(index) => {
                self.huge[index as usize] = Some(record);
                index
            }
            None => {
                self.huge.push(Some(record));
                (self.huge.len() - 1) as u32
            }
        };
        Loc::new(HUGE, index)
    }

    /// Whether the record at `loc` can hold `len` bytes and is the one
    /// [`Slab::alloc`] would choose for them: rewriting it in place then
    /// wastes nothing that a new record would not.
    pub fn fits(&self, loc: Loc, len: usize) -> bool {
        match loc.class() {
            HUGE => self.bytes(loc).len() == len,
            class => len <= MAX_SLAB_RECORD && class_of(len) as u64 == class,
        }
    }

    /// Frees the record at `loc`, which must be allocated. A record with
    /// an allocation of its own is handed back, for the caller to drop
    /// once it has released the stripe lock.
    #[must_use]
    pub fn free(&mut self, loc: Loc) -> Option<Box<[u8]>> {
        match loc.class() {
            HUGE => {
                let record = self.huge[loc.index()].take();
                if self.huge_free.len() + 1 == self.huge.len() {
                    self.huge = Vec::new();
                    self.huge_free = Vec::new();
                } else {
                    self.huge_free.push(loc.index() as u32);
                }
                record
            }
            class => {
                self.classes[class as usize].free(loc.index());
                None
            }
        }
    }

    /// The whole record at `loc` (its class's size, or its own).
    pub fn bytes(&self, loc: Loc) -> &[u8] {
        match loc.class() {
            HUGE => self.huge[loc.index()].as_deref().unwrap_or_default(),
            class => self.classes[class as usize].bytes(loc.index()),
        }
    }

    pub fn bytes_mut(&mut self, loc: Loc) -> &mut [u8] {
        match loc.class() {
            HUGE => self.huge[loc.index()].as_deref_mut().unwrap_or_default(),
            class => self.classes[class as usize].bytes_mut(loc.index()),
        }
    }

    /// Bytes of records the slab holds from the allocator.
    #[cfg(test)]
    pub fn footprint(&self) -> usize {
        let classes: usize = self.classes.iter().map(Class::footprint).sum();
        let huge: usize = self.huge.iter().flatten().map(|r| r.len()).sum();
        classes + huge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_place_is_its_index_divided_by_the_records_per_chunk() {
        for class in 0..class_count() {
            let class = Class::new(class_size(class));
            let low = 0..100_000usize;
            let high = (u32::MAX as usize - 100_000)..=u32::MAX as usize;
            for index in low.chain(high) {
                assert_eq!(
                    class.place(index),
                    (
                        index / class.per_chunk,
                        index % class.per_chunk * class.size
                    ),
                    "size {}, index {index}",
                    class.size
                );
            }
        }
    }

    #[test]
    fn classes_are_the_smallest_that_fit_and_waste_at_most_an_eighth() {
        for len in 1..=MAX_SLAB_RECORD {
            let class = class_of(len);
            let size = class_size(class);
            assert!(size >= len, "class {class} of {size} bytes for {len}");
            assert!(class == 0 || class_size(class - 1) < len, "{len}");
            assert!(
                size - len < 8 || (size - len) * 8 <= size,
                "{len} in {size}"
            );
        }
        assert_eq!(class_size(class_of(MAX_SLAB_RECORD)), MAX_SLAB_RECORD);
        assert_eq!((class_of(56), class_of(57)), (6, 7));
        assert_eq!((class_size(16), class_size(17)), (144, 160));
    }

    #[test]
    fn freed_records_are_reused_and_an_empty_class_gives_its_memory_back() {
        let mut slab = Slab::new();
        let a = slab.alloc(50);
        let b = slab.alloc(56);
        slab.bytes_mut(a)[..3].copy_from_slice(b"abc");
        assert_eq!(&slab.bytes(a)[..3], b"abc");
        assert_eq!(slab.bytes(a).len(), 56);
        let _ = slab.free(a);
        let footprint = slab.footprint();
        let c = slab.alloc(49);
        assert_eq!(c, a, "a freed record is reused");
        assert_eq!(slab.footprint(), footprint, "without allocating");
        let _ = slab.free(b);
        let _ = slab.free(c);
        assert_eq!(slab.footprint(), 56 * 72, "one chunk is kept");
    }

    #[test]
    fn huge_records_get_their_own_allocation() {
        let mut slab = Slab::new();
        let big = slab.alloc(MAX_SLAB_RECORD + 1);
        assert_eq!(slab.bytes(big).len(), MAX_SLAB_RECORD + 1);
        assert!(slab.fits(big, MAX_SLAB_RECORD + 1));
        assert!(!slab.fits(big, MAX_SLAB_RECORD + 2));
        let small = slab.alloc(10);
        assert!(slab.fits(small, 16));
        assert!(!slab.fits(small, 17));
        assert!(slab.free(big).is_some());
        assert!(slab.free(small).is_none());
        assert_eq!(slab.footprint(), 16 * 252, "only the kept chunk is left");
    }

    #[test]
    fn many_records_span_chunks_without_overlapping() {
        let mut slab = Slab::new();
        let locs: Vec<Loc> = (0..1000u32).map(|_| slab.alloc(24)).collect();
        for (i, &loc) in locs.iter().enumerate() {
            slab.bytes_mut(loc)[..4].copy_from_slice(&(i as u32).to_le_bytes());
        }
        for (i, &loc) in locs.iter().enumerate() {
            assert_eq!(slab.bytes(loc)[..4], (i as u32).to_le_bytes());
        }
    }
}
