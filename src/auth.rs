//! The server password, kept only as a keyed hash.
//!
//! At start-up the password is hashed twice with SipHash under two random
//! keys drawn for this process (128 bits in all), and the plain text is
//! overwritten. A candidate is hashed the same way and the two digests are
//! compared without branching on their contents, so the time taken does not
//! depend on how much of a guess was right. Nothing here ever logs.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{self, BufRead};
use std::path::Path;

/// A password to check candidates against.
#[derive(Clone)]
pub struct Password {
    keys: [RandomState; 2],
    digest: [u64; 2],
}

impl Password {
    /// Hashes `plain`. The caller should drop its own copy promptly.
    pub fn new(plain: &str) -> Password {
        let keys = [RandomState::new(), RandomState::new()];
        let digest = [
            keys[0].hash_one(plain.as_bytes()),
            keys[1].hash_one(plain.as_bytes()),
        ];
        Password { keys, digest }
    }

    /// Reads the first line of `path` (without its line ending) and hashes
    /// it, overwriting the bytes read.
    pub fn from_file(path: &Path) -> io::Result<Password> {
        let file = std::fs::File::open(path)?;
        let mut line = String::new();
        io::BufReader::new(file).read_line(&mut line)?;
        let password = Password::new(line.trim_end_matches(['\n', '\r']));
        wipe(line);
        Ok(password)
    }

    /// Whether `candidate` is the password, in time independent of where
    /// a wrong candidate differs.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let a = self.keys[0].hash_one(candidate) ^ self.digest[0];
        let b = self.keys[1].hash_one(candidate) ^ self.digest[1];
        (a | b) == 0
    }
}

/// Overwrites a string's bytes before freeing it.
pub fn wipe(text: String) {
    let mut bytes = text.into_bytes();
    bytes.fill(0);
    std::hint::black_box(&bytes);
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

impl PartialEq for Password {
    /// Two passwords are equal only if they are the same hash under the
    /// same keys, that is, clones of one another.
    fn eq(&self, other: &Password) -> bool {
        self.digest == other.digest && self.keys[0].hash_one(0u8) == other.keys[0].hash_one(0u8)
    }
}

impl Eq for Password {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_password_matches() {
        let p = Password::new("s3cret pass");
        assert!(p.matches(b"s3cret pass"));
        assert!(!p.matches(b"s3cret pas"));
        assert!(!p.matches(b""));
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
