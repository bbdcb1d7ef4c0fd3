//! The server password, kept only as a keyed hash.
//!
//! At start-up the password is hashed twice with SipHash under two random
//! keys drawn for this process (128 bits in all), and the plain text (a
//! [`Secret`]) is overwritten. A candidate is hashed the same way and the
//! two digests are compared without branching on their contents, so the
//! time taken does not depend on how much of a guess was right. Nothing
//! here ever logs.
//!
//! The plain text comes from a file's first line or from `BLINK_PASSWORD`
//! ([`password_text`]); an empty or blank one is refused, since it would
//! protect nothing. The file is read into one buffer of fixed size that is
//! overwritten afterwards, so no copy of the password is left in freed
//! memory. The variable's value also stays in the environment block the
//! kernel gave the process, readable in `/proc/PID/environ` by the same
//! user and root for the process's life: `--password-file` keeps the
//! password out of there.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Environment variable that may hold the password.
pub const PASSWORD_ENV: &str = "BLINK_PASSWORD";

/// Longest password, in bytes: the longest argument a client may send
/// before authenticating (Redis 7's 16 KiB), so every client can send it.
pub const MAX_PASSWORD_LEN: usize = 16 << 10;

/// Why no password could be read.
#[derive(Debug)]
pub enum PasswordError {
    Read(PathBuf, io::Error),
    /// The file's first line is empty or only blanks.
    EmptyFile(PathBuf),
    /// `BLINK_PASSWORD` is set but empty or only blanks.
    EmptyEnv,
    TooLong,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::Read(path, e) => {
                write!(f, "cannot read --password-file {}: {e}", path.display())
            }
            PasswordError::EmptyFile(path) => write!(
                f,
                "the password in --password-file {} is empty or blank; put the password on its \
                 first line",
                path.display()
            ),
            PasswordError::EmptyEnv => write!(
                f,
                "{PASSWORD_ENV} is set but the password is empty or blank; set a password or \
                 unset it"
            ),
            PasswordError::TooLong => {
                write!(f, "the password is longer than {MAX_PASSWORD_LEN} bytes")
            }
        }
    }
}

impl From<PasswordError> for String {
    fn from(e: PasswordError) -> String {
        e.to_string()
    }
}

/// A password's plain text: the first line of `file`, else
/// `BLINK_PASSWORD` when set, else none. The server hashes it; the tools
/// send it.
pub fn password_text(file: Option<&Path>) -> Result<Option<Secret>, PasswordError> {
    let secret = match file {
        Some(path) => Secret::from_file(path)?,
        None => match std::env::var_os(PASSWORD_ENV) {
            Some(plain) => Secret::new(crate::flags::os_bytes(plain)),
            None => return Ok(None),
        },
    };
    if secret.0.iter().all(u8::is_ascii_whitespace) {
        return Err(match file {
            Some(path) => PasswordError::EmptyFile(path.to_path_buf()),
            None => PasswordError::EmptyEnv,
        });
    }
    if secret.0.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    Ok(Some(secret))
}

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

    /// The first line of `path`, without its line ending. The file is
    /// read into one buffer, never grown, which is overwritten before it
    /// is freed.
    fn from_file(path: &Path) -> Result<Secret, PasswordError> {
        let failed = |e| PasswordError::Read(path.to_path_buf(), e);
        let mut file = std::fs::File::open(path).map_err(failed)?;
        // Room for the longest password, its line end, and one byte more
        // to tell a longer first line.
        let mut buf = vec![0u8; MAX_PASSWORD_LEN + 3];
        let mut len = 0;
        let result = loop {
            if buf[..len].contains(&b'\n') || len == buf.len() {
                break Ok(());
            }
            match file.read(&mut buf[len..]) {
                Ok(0) => break Ok(()),
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(failed(e)),
            }
        };
        let line = &buf[..len];
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let secret = result.map(|()| Secret(line.to_vec()));
        buf.fill(0);
        std::hint::black_box(&buf);
        let secret = secret?;
        if secret.0.len() > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong);
        }
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
    fn a_password_fits_in_what_a_client_may_send_before_authenticating() {
        assert_eq!(MAX_PASSWORD_LEN, crate::protocol::PRE_AUTH_MAX_BULK);
    }

    #[test]
    fn only_the_password_matches() {
        let p = Password::new("s3cret pass");
        assert!(p.matches(b"s3cret pass"));
        assert!(!p.matches(b"s3cret pas"));
        assert!(!p.matches(b""));
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
