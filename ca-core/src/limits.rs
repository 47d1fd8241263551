//! The bounds of every free-text field (SPEC §4: "every free-text field has
//! a documented maximum length"; issue 9 defects 8 and 9). Text from outside
//! is checked here before it reaches the database or the audit trail: a
//! clear 400 instead of a trail grown by megabytes, and no NUL or other
//! control character that PostgreSQL refuses with a 500 or a terminal
//! obeys.

use crate::error::{Error, Result};

/// Names: organisation, person, position.
pub const NAME: usize = 256;
/// Document numbers: applications, powers of attorney, agreements, orders.
pub const DOCUMENT: usize = 256;
/// An operator's comment on a rejection (several lines allowed).
pub const COMMENT: usize = 2000;
/// An e-mail address (RFC 5321 path limit).
pub const EMAIL: usize = 254;
/// A webhook URL.
pub const URL: usize = 2048;
/// An operator's user name (also `[A-Za-z0-9._-]`).
pub const USERNAME: usize = 64;
/// A password or PIN: long passphrases are welcome, megabytes to hash are not.
pub const PASSWORD: usize = 256;

/// `field` is 1 to `max` characters of one line with no control character.
pub fn line(field: &str, value: &str, max: usize) -> Result<()> {
    check(field, value, max, false)
}

/// `field` is at most `max` characters; line breaks and tabs allowed, other
/// control characters not. Empty is allowed (optional text).
pub fn text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    check(field, value, max, true)
}

fn check(field: &str, value: &str, max: usize, multiline: bool) -> Result<()> {
    let count = value.chars().count();
    if value.trim().is_empty() || count > max {
        return Err(Error::invalid(format!(
            "{field} must be 1 to {max} characters (got {count})"
        )));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(Error::invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// `value` with control characters written as `\u{..}` escapes, for text
/// from outside that is stored as it came (the audit trail's actor).
pub fn escape_controls(value: &str) -> String {
    if !value.chars().any(char::is_control) {
        return value.to_string();
    }
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{{{:04x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A user name: 1 to [`USERNAME`] of `A-Z a-z 0-9 . _ -`.
pub fn is_username(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= USERNAME
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn bounds_and_control_characters() {
        assert!(line("name", "ООО «Ромашка»", NAME).is_ok());
        assert!(line("name", &"я".repeat(NAME), NAME).is_ok());
        for bad in ["", "   ", "a\0b", "a\u{1b}[2J", "a\nb", "a\u{9b}b"] {
            let e = line("name", bad, NAME).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{bad:?}");
        }
        let e = line("name", &"я".repeat(NAME + 1), NAME).unwrap_err();
        assert!(e.message().contains("1 to 256"), "{}", e.message());
        assert!(text("comment", "", COMMENT).is_ok());
        assert!(text("comment", "строка 1\nстрока 2\tконец", COMMENT).is_ok());
        assert!(text("comment", "a\0", COMMENT).is_err());
        assert!(text("comment", &"x".repeat(COMMENT + 1), COMMENT).is_err());
        assert_eq!(escape_controls("ad\0min\u{1b}"), "ad\\u{0000}min\\u{001b}");
        assert_eq!(escape_controls("Иванов"), "Иванов");
        assert!(is_username("clerk.2_a-b"));
        for bad in ["", "a b", "a\0", "Иван", &"a".repeat(65)] {
            assert!(!is_username(bad), "{bad:?}");
        }
    }
}
