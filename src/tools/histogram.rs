//! A log-linear latency histogram: constant memory, about 0.8 % precision.
//!
//! The benchmark records millions of latencies; keeping them all to sort
//! would cost memory and time in the very threads being measured. Instead
//! each value (in nanoseconds) is counted in a bucket, in the manner of
//! HdrHistogram: values below 2^[`SUB_BUCKET_BITS`] + 1 = 256 ns have a
//! bucket each; above that, every power of two is split into 128 equal
//! buckets, so a bucket is never wider than 1/128 of the values in it. A
//! percentile is read as the top of its bucket (never an underestimate)
//! and capped by the exact maximum, which is kept on the side.
//!
//! Values from 0 to [`MAX_NS`] (about 68.7 s) are counted; longer ones
//! are counted as [`MAX_NS`]. That takes [`BUCKETS`] counters, 30 KiB per
//! histogram. Each benchmark thread fills its own, and they are merged
//! when the run ends.

/// Sub-buckets per power of two, as a power of two: 2^7 = 128 buckets,
/// so a bucket spans at most 1/128 ≈ 0.78 % of its values.
const SUB_BUCKET_BITS: u32 = 7;

/// Buckets per power of two.
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;

/// Highest value counted as itself, in nanoseconds: 2^36 - 1 ≈ 68.7 s,
/// above the 60 s a benchmark latency could sensibly reach.
pub const MAX_NS: u64 = (1 << 36) - 1;

/// Counters needed to reach [`MAX_NS`]: 256 exact buckets for 0..256 ns,
/// then 128 for each power of two from 2^8 to 2^35.
pub const BUCKETS: usize = (36 - SUB_BUCKET_BITS as usize + 1) * SUB_BUCKETS;

/// Counts of latencies by bucket, plus their exact maximum.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    /// Counts `n` latencies of `ns` nanoseconds each.
    pub fn record_n(&mut self, ns: u64, n: u64) {
        let ns = ns.min(MAX_NS);
        self.counts[bucket(ns)] += n;
        self.total += n;
        self.max = self.max.max(ns);
    }

    /// Adds every count of `other` to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many latencies were counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The largest latency counted, in nanoseconds.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The latency, in nanoseconds, that `percent` % of the counted ones
    /// do not exceed (to within a bucket); 0 when nothing was counted.
    pub fn percentile(&self, percent: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((percent / 100.0) * self.total as f64).ceil() as u64;
        let rank = rank.clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest(index).min(self.max);
            }
        }
        self.max
    }
}

/// The bucket of `ns` (at most [`MAX_NS`]).
fn bucket(ns: u64) -> usize {
    if ns < SUB_BUCKETS as u64 {
        return ns as usize;
    }
    // The power-of-two group (1 for 2^7..2^8, 2 for 2^8..2^9 ...), then
    // the top eight bits of the value, whose leading one is dropped.
    let group = (63 - ns.leading_zeros()) - (SUB_BUCKET_BITS - 1);
    let top = ns >> (group - 1);
    ((group as usize) << SUB_BUCKET_BITS) | (top as usize & (SUB_BUCKETS - 1))
}

/// The highest value that falls in bucket `index`.
fn highest(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let group = (index >> SUB_BUCKET_BITS) as u32;
    let top = (index & (SUB_BUCKETS - 1)) as u64 | SUB_BUCKETS as u64;
    ((top + 1) << (group - 1)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lies_in_its_bucket_within_one_percent() {
        let mut ns = 0;
        while ns <= MAX_NS {
            let index = bucket(ns);
            assert!(index < BUCKETS, "{ns} ns in bucket {index}");
            let high = highest(index);
            assert!(high >= ns, "{ns} ns above its bucket's top {high}");
            assert!(
                (high - ns) as f64 <= ns as f64 / 100.0 + 1.0,
                "{ns} ns in a bucket up to {high}"
            );
            if index > 0 {
                assert!(
                    highest(index - 1) < ns,
                    "{ns} ns also fits the bucket below"
                );
            }
            ns = ns * 21 / 20 + 1;
        }
        assert_eq!(bucket(MAX_NS), BUCKETS - 1);
        assert_eq!(highest(BUCKETS - 1), MAX_NS);
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut histogram = Histogram::new();
        for us in 1..=1000 {
            histogram.record_n(us * 1000, 1);
        }
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 / 100.0;
        assert!(near(histogram.percentile(50.0), 500_000));
        assert!(near(histogram.percentile(99.0), 990_000));
        assert!(near(histogram.percentile(99.9), 999_000));
        assert_eq!(histogram.percentile(100.0), 1_000_000);
        assert_eq!(histogram.max(), 1_000_000);
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_n(10, 3);
        b.record_n(u64::MAX, 1);
        a.merge(&b);
        assert_eq!(a.total(), 4);
        assert_eq!(a.max(), MAX_NS);
        assert_eq!(a.percentile(50.0), 10);
        assert_eq!(Histogram::new().percentile(50.0), 0);
    }
}
