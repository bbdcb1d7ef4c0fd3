//! The server password, kept only as a keyed hash.
//!
//! At start-up the password is hashed twice with SipHash under two random
//! keys drawn for this process (128 bits in all), and the plain text (a
//! [`Secret`]) is overwritten. A candidate is hashed the same way and the
//! two digests are compared without branching on their contents, so the
//! time taken does not depend on how much of a guess was right. Nothing
//! here ever logs.

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
    pub fn new(plain: impl AsRef<[u8]>) -> Password {
        let plain = plain.as_ref();
        let keys = [RandomState::new(), RandomState::new()];
        let digest = [keys[0].hash_one(plain), keys[1].hash_one(plain)];
        Password { keys, digest }
    }

    /// Whether `candidate` is the password, in time independent of where
    /// a wrong candidate differs.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let a = self.keys[0].hash_one(candidate) ^ self.digest[0];
        let b = self.keys[1].hash_one(candidate) ^ self.digest[1];
        (a | b) == 0
    }
}

/// A password's plain text, as read from a file or the environment: the
/// server hashes it into a [`Password`], the client tools send it. Its
/// bytes never reach `Debug` output and are overwritten when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The first line of `path`, without its line ending.
    pub fn from_file(path: &Path) -> io::Result<Secret> {
        let file = std::fs::File::open(path)?;
        let mut line = Vec::new();
        io::BufReader::new(file).read_until(b'\n', &mut line)?;
        let end = line.len()
            - line
                .iter()
                .rev()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
        let secret = Secret(line[..end].to_vec());
        line.fill(0);
        std::hint::black_box(&line);
        Ok(secret)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
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
