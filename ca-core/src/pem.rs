//! PEM as client software writes it (RFC 7468 §3's lax reading, as
//! OpenSSL reads it): any line length — 64, 76, or the whole body on one
//! line —, CRLF or LF, surrounding white space. The strict `der::pem`
//! decoder refuses all but 64-character lines (issue 9 defect 16).
//! Encapsulated headers (RFC 1421 `Proc-Type`, encrypted PEM) are refused:
//! nothing a client sends us is encrypted.

use base64ct::{Base64, Encoding};

/// The label and the decoded bytes of the first PEM block in `input`.
pub fn decode(input: &[u8]) -> Result<(String, Vec<u8>), String> {
    let text = std::str::from_utf8(input).map_err(|_| "PEM is not text".to_string())?;
    let start = text
        .find("-----BEGIN ")
        .ok_or_else(|| "no -----BEGIN line".to_string())?;
    let after = &text[start + "-----BEGIN ".len()..];
    let label_end = after
        .find("-----")
        .ok_or_else(|| "unterminated BEGIN line".to_string())?;
    let label = &after[..label_end];
    if label.len() > 64
        || !label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
    {
        return Err("bad PEM label".into());
    }
    let body_and_end = &after[label_end + "-----".len()..];
    let end_line = format!("-----END {label}-----");
    let body_end = body_and_end
        .find(&end_line)
        .ok_or_else(|| format!("no {end_line} line"))?;
    let body = &body_and_end[..body_end];
    if body.contains(':') {
        return Err("PEM headers (encrypted PEM) are not accepted".into());
    }
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = Base64::decode_vec(&base64).map_err(|e| format!("bad base64: {e}"))?;
    if der.is_empty() {
        return Err("empty PEM body".into());
    }
    Ok((label.to_string(), der))
}

#[cfg(test)]
mod tests {
    use super::decode;
    use base64ct::{Base64, Encoding};

    fn wrapped(label: &str, der: &[u8], width: usize, eol: &str) -> String {
        let b64 = Base64::encode_string(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(width)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----{eol}{}{eol}-----END {label}-----{eol}",
            lines.join(eol)
        )
    }

    #[test]
    fn any_line_length_and_line_ending_decodes() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for width in [64, 76, 1000] {
            for eol in ["\n", "\r\n"] {
                let pem = wrapped("CMS", &der, width, eol);
                assert_eq!(
                    decode(pem.as_bytes()).unwrap(),
                    ("CMS".to_string(), der.clone()),
                    "{width} {eol:?}"
                );
            }
        }
        let padded = format!("\n  {}  \n", wrapped("PKCS7", &der, 64, "\n"));
        assert_eq!(decode(padded.as_bytes()).unwrap().1, der);
    }

    #[test]
    fn broken_pem_is_an_error() {
        for bad in [
            "hello",
            "-----BEGIN CMS-----\nAAAA\n",
            "-----BEGIN CMS-----\nA*AA\n-----END CMS-----\n",
            "-----BEGIN CMS-----\n-----END CMS-----\n",
            "-----BEGIN CMS-----\nAAAA\n-----END PKCS7-----\n",
            "-----BEGIN CMS-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END CMS-----\n",
            "-----BEGIN cms-----\nAAAA\n-----END cms-----\n",
        ] {
            assert!(decode(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(decode(&[0xff, 0xfe]).is_err());
    }
}
