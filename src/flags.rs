//! Values of command-line flags, for the server and the tools alike: byte
//! sizes, seconds, bounded numbers, and the one usage error every
//! subcommand reports.
//!
//! Sizes accept a plain byte count or a suffix, the way Redis reads
//! `maxmemory`: `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` and
//! `kib`/`mib`/`gib` are powers of 1024, in any case.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

/// A command line that cannot be obeyed: one line for stderr, pointing to
/// the help that explains it. The process then exits with status 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    message: String,
    /// The subcommand whose `--help` the message points to; `None` for
    /// the program's own.
    command: Option<&'static str>,
}

impl UsageError {
    /// An error about the command line as a whole, until
    /// [`UsageError::about`] names the subcommand.
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            command: None,
        }
    }

    /// The same error, pointing to `command`'s help.
    pub fn about(self, command: &'static str) -> UsageError {
        UsageError {
            command: Some(command),
            ..self
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.command {
            Some(command) => write!(f, "{} (see 'blink-store {command} --help')", self.message),
            None => write!(f, "{} (see 'blink-store --help')", self.message),
        }
    }
}

impl std::error::Error for UsageError {}

impl From<pico_args::Error> for UsageError {
    fn from(e: pico_args::Error) -> Self {
        UsageError::new(e.to_string())
    }
}

/// The value of `flag`, if given, parsed by `parse`; an error names the
/// flag.
pub fn opt_value<T>(
    args: &mut pico_args::Arguments,
    flag: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, UsageError> {
    args.opt_value_from_fn(flag, parse).map_err(named(flag))
}

/// The value of `flag`, if given, read with its type's `FromStr`; an
/// error names the flag.
pub fn opt_number<T>(
    args: &mut pico_args::Arguments,
    flag: &'static str,
) -> Result<Option<T>, UsageError>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    args.opt_value_from_str(flag).map_err(named(flag))
}

/// Words a flag's parse error so that it names the flag.
fn named(flag: &'static str) -> impl Fn(pico_args::Error) -> UsageError {
    move |e| match e {
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. } => {
            UsageError::new(format!("{flag}: {cause}"))
        }
        other => other.into(),
    }
}

/// The bytes of a command-line word or environment value: as they are on
/// Unix; elsewhere, where the system's strings are not bytes, their UTF-8
/// (lossily, for the rare unpaired surrogate).
pub fn os_bytes(s: OsString) -> Vec<u8> {
    #[cfg(unix)]
    {
        std::os::unix::ffi::OsStringExt::into_vec(s)
    }
    #[cfg(not(unix))]
    {
        s.into_string()
            .unwrap_or_else(|s| s.to_string_lossy().into_owned())
            .into_bytes()
    }
}

/// Refuses the first of `rest`, the arguments no flag took.
pub fn no_more(rest: &[OsString]) -> Result<(), UsageError> {
    match rest.first() {
        Some(arg) if arg.to_string_lossy().starts_with('-') => Err(UsageError::new(format!(
            "unknown flag '{}'",
            arg.to_string_lossy()
        ))),
        Some(arg) => Err(UsageError::new(format!(
            "unexpected argument '{}'",
            arg.to_string_lossy()
        ))),
        None => Ok(()),
    }
}

/// `value`, or `default` when absent, refused outside `min..=max`.
pub fn within<T: PartialOrd + fmt::Display + Copy>(
    flag: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, UsageError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(UsageError::new(format!(
            "{flag} must be between {min} and {max}"
        )));
    }
    Ok(value)
}

/// A flag's value that must be text, such as an address.
pub fn text_value(flag: &str, value: &OsString) -> Result<String, UsageError> {
    value
        .to_str()
        .map(str::to_string)
        .ok_or_else(|| UsageError::new(format!("{flag} must be text")))
}

/// Refuses a zero duration for `flag`.
pub fn positive(flag: &str, value: Option<Duration>) -> Result<Option<Duration>, UsageError> {
    match value {
        Some(d) if d.is_zero() => Err(UsageError::new(format!("{flag} must be greater than 0"))),
        other => Ok(other),
    }
}

/// Parses seconds, whole or fractional: `300`, `0.5`.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("'{s}' is not a number of seconds"))
}

/// Parses a byte size: `1048576`, `512kb`, `64mb`, `1GiB`, `10m`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit.trim_start() {
        "" | "b" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "'{s}' is not a size (try 1048576, 512kb, 64mb, 1gb)"
            ))
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 1048576, 512kb, 64mb, 1gb)"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// `1048576` → `1mb`, for help text.
pub fn size_text(bytes: u64) -> String {
    if bytes % (1 << 20) == 0 {
        format!("{}mb", bytes >> 20)
    } else {
        bytes.to_string()
    }
}

/// The value of the word `s` names among `choices`, in any case; the
/// error lists every word: `'x' is not a, b or c`.
pub fn parse_choice<T: Copy>(s: &str, choices: &[(&str, T)]) -> Result<T, String> {
    if let Some(&(_, value)) = choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
    {
        return Ok(value);
    }
    let names: Vec<&str> = choices.iter().map(|&(name, _)| name).collect();
    let listed = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(format!("'{s}' is not {listed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_is_read_in_any_case_and_a_wrong_one_lists_them_all() {
        let choices = [("always", 1), ("everysec", 2), ("no", 3)];
        assert_eq!(parse_choice("EverySec", &choices), Ok(2));
        assert_eq!(parse_choice("no", &choices), Ok(3));
        assert_eq!(
            parse_choice("never", &choices),
            Err("'never' is not always, everysec or no".to_string())
        );
        assert_eq!(
            parse_choice("", &[("yes", true)]),
            Err("'' is not yes".to_string())
        );
    }

    #[test]
    fn sizes_accept_plain_bytes_and_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("10k"), Ok(10_000));
        assert!(parse_size("mb").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999gb").is_err());
        assert!(parse_size("18446744073709551615gb").is_err());
    }

    #[test]
    fn usage_errors_point_to_the_help() {
        assert_eq!(
            UsageError::new("unknown flag '-x'").to_string(),
            "unknown flag '-x' (see 'blink-store --help')"
        );
        assert_eq!(
            UsageError::new("bad").about("bench").to_string(),
            "bad (see 'blink-store bench --help')"
        );
    }
}
