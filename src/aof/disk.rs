//! Where the log's bytes go: the three operations the writer needs of a
//! file, as a trait, so that a test can stand in for the disk and decide
//! what survives a power loss or when a write fails.
//!
//! The server's [`FileDisk`] is a file opened for appending. The writer
//! and the `everysec` sync thread share one through an `Arc`; a compaction
//! replaces it with the new file (see [`super::rewrite`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// A file the log is appended to.
pub trait Disk: Send + Sync {
    /// Appends all of `bytes` at the end.
    fn append(&self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far survive a power loss.
    fn sync(&self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes: what a failed append left.
    fn truncate(&self, len: u64) -> io::Result<()>;
}

/// A file on disk, opened for appending.
pub struct FileDisk(File);

impl FileDisk {
    /// Opens `path` for appending, creating it if it is missing.
    pub fn open(path: &Path) -> io::Result<FileDisk> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(FileDisk(file))
    }

    /// The file's length.
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Disk for FileDisk {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        (&self.0).write_all(bytes)
    }

    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

#[cfg(test)]
pub mod memory {
    //! A disk in memory that remembers how much of it was synced, and can
    //! be told to fail.

    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};

    use parking_lot::{Condvar, Mutex};

    use super::Disk;

    #[derive(Default)]
    struct Bytes {
        written: Vec<u8>,
        /// The prefix of `written` that a sync covered.
        synced: usize,
    }

    /// A disk whose contents after a power loss are what was synced.
    #[derive(Default)]
    pub struct MemoryDisk {
        bytes: Mutex<Bytes>,
        /// Appends and syncs fail while this is set (a full device).
        full: AtomicBool,
        /// While set, a sync waits until it is cleared (a device that
        /// stopped answering); and whether a sync waits now.
        stuck: Mutex<(bool, bool)>,
        unstuck: Condvar,
    }

    impl MemoryDisk {
        /// What a power loss now would leave on the disk.
        pub fn after_power_loss(&self) -> Vec<u8> {
            let bytes = self.bytes.lock();
            bytes.written[..bytes.synced].to_vec()
        }

        /// Everything written, synced or not: what a process crash leaves.
        pub fn written(&self) -> Vec<u8> {
            self.bytes.lock().written.clone()
        }

        /// Makes appends and syncs fail (`true`) or succeed again.
        pub fn set_full(&self, full: bool) {
            self.full.store(full, Ordering::SeqCst);
        }

        /// Makes syncs wait (`true`) until called again with `false`.
        pub fn set_stuck(&self, stuck: bool) {
            self.stuck.lock().0 = stuck;
            self.unstuck.notify_all();
        }

        /// Whether a sync is waiting on a stuck device.
        pub fn is_syncing(&self) -> bool {
            self.stuck.lock().1
        }

        fn check(&self) -> io::Result<()> {
            if self.full.load(Ordering::SeqCst) {
                Err(io::Error::from_raw_os_error(28)) // ENOSPC
            } else {
                Ok(())
            }
        }
    }

    impl Disk for MemoryDisk {
        fn append(&self, bytes: &[u8]) -> io::Result<()> {
            let mut disk = self.bytes.lock();
            if self.full.load(Ordering::SeqCst) {
                // A full device takes part of a write, then refuses.
                let part = bytes.len() / 2;
                disk.written.extend_from_slice(&bytes[..part]);
                return self.check();
            }
            disk.written.extend_from_slice(bytes);
            Ok(())
        }

        fn sync(&self) -> io::Result<()> {
            let mut stuck = self.stuck.lock();
            while stuck.0 {
                stuck.1 = true;
                self.unstuck.wait(&mut stuck);
            }
            stuck.1 = false;
            drop(stuck);
            self.check()?;
            let mut disk = self.bytes.lock();
            disk.synced = disk.written.len();
            Ok(())
        }

        fn truncate(&self, len: u64) -> io::Result<()> {
            let mut disk = self.bytes.lock();
            let len = len as usize;
            disk.written.truncate(len);
            disk.synced = disk.synced.min(len);
            Ok(())
        }
    }
}
