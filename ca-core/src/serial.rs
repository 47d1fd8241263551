//! Certificate serial numbers (SPEC §7; RFC 5280 §4.1.2.2).

use x509_cert::serial_number::SerialNumber;

use crate::error::{Error, Result};

/// Octets in a serial we generate: 16 octets, the first in 0x40..=0x7f, so the
/// DER INTEGER is always positive, always 16 octets long (no sign padding, no
/// leading zero) and carries 126 bits from the CSPRNG (RFC 5280 asks for at
/// most 20 octets; CA/B BR 7.1 asks for at least 64 random bits).
const SERIAL_LEN: usize = 16;

/// A fresh random serial number.
pub fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; SERIAL_LEN];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::internal("the system CSPRNG failed"))?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    SerialNumber::new(&bytes).map_err(|e| Error::internal(format!("serial: {e}")))
}

/// The serial as the API writes it: lowercase hex, no separators, no leading
/// zero octets (SPEC §4).
pub fn serial_hex(serial: &SerialNumber) -> String {
    hex::encode(serial.as_bytes())
}

/// Parses the API form back. `None` for anything that is not 1–20 octets of hex.
pub fn parse_serial_hex(text: &str) -> Option<SerialNumber> {
    if text.is_empty() || text.len() > 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    let bytes = hex::decode(padded.to_ascii_lowercase()).ok()?;
    SerialNumber::new(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    #[test]
    fn serials_are_positive_sixteen_octets_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = random_serial().unwrap();
            let der = s.to_der().unwrap();
            assert_eq!(der[1] as usize, SERIAL_LEN, "INTEGER length");
            assert!(der[2] & 0x80 == 0 && der[2] != 0);
            assert!(seen.insert(serial_hex(&s)));
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let s = random_serial().unwrap();
        let text = serial_hex(&s);
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.len(), 32);
        assert_eq!(parse_serial_hex(&text).unwrap(), s);
        assert!(parse_serial_hex("").is_none());
        assert!(parse_serial_hex("xyz").is_none());
        assert!(parse_serial_hex(&"a".repeat(42)).is_none());
    }
}
