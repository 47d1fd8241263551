//! BER to DER, for client software that emits indefinite-length CMS
//! (Windows CryptoAPI, CryptoPro; SPEC §7 "Encodings").
//!
//! The conversion is the explicit step SPEC §7 asks for: indefinite lengths
//! become definite, non-minimal lengths become minimal, and constructed
//! universal string types (OCTET STRING, BIT STRING, the character strings)
//! are flattened into their primitive form. Content bytes are never changed, so
//! anything that was signed as DER (certificates, signed attributes) keeps its
//! exact bytes. Everything else DER demands (SET OF order, minimal INTEGERs) is
//! left for the strict DER decoder to judge.

use crate::error::{Error, Reason, Result};

/// Deepest nesting accepted; real CMS requests stay well under 20 levels.
const MAX_DEPTH: usize = 64;

/// Universal tag numbers whose constructed (BER) form is flattened.
const STRING_TAGS: &[u32] = &[3, 4, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30];
const BIT_STRING: u32 = 3;

/// True when `input` uses BER-only forms (indefinite or non-minimal lengths,
/// constructed strings) anywhere, so it must go through [`to_der`] first.
pub fn needs_conversion(input: &[u8]) -> bool {
    match to_der(input) {
        Ok(der) => der != input,
        Err(_) => false,
    }
}

/// Converts one BER-encoded value (and nothing after it) to DER.
pub fn to_der(input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut parser = Parser { input, pos: 0 };
    let value = parser.value(0)?;
    if parser.pos != input.len() {
        return Err(unsupported("trailing bytes after the outer value"));
    }
    value.write(&mut out);
    Ok(out)
}

fn unsupported(detail: &str) -> Error {
    Error::reason(
        Reason::UnsupportedEncoding,
        format!("cannot convert BER to DER: {detail}"),
    )
}

/// A decoded value, ready to be written as DER.
enum Value {
    Primitive { tag: Vec<u8>, content: Vec<u8> },
    Constructed { tag: Vec<u8>, children: Vec<Value> },
}

impl Value {
    fn content_len(&self) -> usize {
        match self {
            Value::Primitive { content, .. } => content.len(),
            Value::Constructed { children, .. } => children.iter().map(Value::encoded_len).sum(),
        }
    }

    fn encoded_len(&self) -> usize {
        let (tag, len) = match self {
            Value::Primitive { tag, .. } | Value::Constructed { tag, .. } => {
                (tag.len(), self.content_len())
            }
        };
        tag + length_octets(len) + len
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Primitive { tag, content } => {
                out.extend_from_slice(tag);
                write_length(out, content.len());
                out.extend_from_slice(content);
            }
            Value::Constructed { tag, children } => {
                out.extend_from_slice(tag);
                write_length(out, self.content_len());
                for child in children {
                    child.write(out);
                }
            }
        }
    }
}

fn length_octets(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - len.leading_zeros() as usize / 8)
    }
}

fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

struct Identifier {
    bytes: Vec<u8>,
    constructed: bool,
    universal_number: Option<u32>,
}

impl Parser<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or_else(|| Error::reason(Reason::MalformedCms, "truncated encoding"))?;
        self.pos += 1;
        Ok(b)
    }

    fn identifier(&mut self) -> Result<Identifier> {
        let start = self.pos;
        let first = self.byte()?;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            loop {
                let b = self.byte()?;
                if number > (u32::MAX >> 7) {
                    return Err(unsupported("tag number too large"));
                }
                number = (number << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok(Identifier {
            bytes: self.input[start..self.pos].to_vec(),
            constructed: first & 0x20 != 0,
            universal_number: (first & 0xc0 == 0).then_some(number),
        })
    }

    /// `None` is the indefinite form.
    fn length(&mut self) -> Result<Option<usize>> {
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Ok(None);
        } else {
            let count = usize::from(first & 0x7f);
            if count > 4 {
                return Err(unsupported("length field longer than 4 octets"));
            }
            let mut len = 0usize;
            for _ in 0..count {
                len = (len << 8) | usize::from(self.byte()?);
            }
            len
        };
        if len > self.input.len() - self.pos {
            return Err(Error::reason(
                Reason::MalformedCms,
                "a length runs past the end of the input",
            ));
        }
        Ok(Some(len))
    }

    fn at_end_of_contents(&self) -> bool {
        self.input.get(self.pos..self.pos + 2) == Some(&[0, 0])
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(unsupported("nesting too deep"));
        }
        let id = self.identifier()?;
        let length = self.length()?;
        if !id.constructed {
            let len = length.ok_or_else(|| unsupported("indefinite length on a primitive"))?;
            let content = self.input[self.pos..self.pos + len].to_vec();
            self.pos += len;
            return Ok(Value::Primitive {
                tag: id.bytes,
                content,
            });
        }
        let mut children = Vec::new();
        match length {
            Some(len) => {
                let end = self.pos + len;
                while self.pos < end {
                    children.push(self.value(depth + 1)?);
                }
                if self.pos != end {
                    return Err(Error::reason(
                        Reason::MalformedCms,
                        "a value overruns its parent",
                    ));
                }
            }
            None => {
                while !self.at_end_of_contents() {
                    if self.pos >= self.input.len() {
                        return Err(Error::reason(
                            Reason::MalformedCms,
                            "missing end-of-contents",
                        ));
                    }
                    children.push(self.value(depth + 1)?);
                }
                self.pos += 2;
            }
        }
        match id.universal_number {
            Some(n) if STRING_TAGS.contains(&n) => flatten_string(id.bytes[0], n, children),
            _ => Ok(Value::Constructed {
                tag: id.bytes,
                children,
            }),
        }
    }
}

/// Joins the segments of a constructed string into its primitive form.
fn flatten_string(first_tag_byte: u8, number: u32, children: Vec<Value>) -> Result<Value> {
    let mut content = Vec::new();
    let count = children.len();
    let mut unused_bits = 0u8;
    for (i, child) in children.into_iter().enumerate() {
        let segment = match child {
            // Segments are themselves strings of the same type; after
            // conversion a nested constructed segment is already primitive.
            Value::Primitive { tag, content } if tag == [first_tag_byte & !0x20] => content,
            _ => return Err(unsupported("constructed string with a foreign segment")),
        };
        if number == BIT_STRING {
            let (&bits, data) = segment
                .split_first()
                .ok_or_else(|| unsupported("empty BIT STRING segment"))?;
            if bits != 0 && i + 1 != count {
                return Err(unsupported("unused bits in a middle BIT STRING segment"));
            }
            unused_bits = bits;
            content.extend_from_slice(data);
        } else {
            content.extend_from_slice(&segment);
        }
    }
    if number == BIT_STRING {
        content.insert(0, unused_bits);
    }
    Ok(Value::Primitive {
        tag: vec![first_tag_byte & !0x20],
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_passes_through_unchanged() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(to_der(&der).unwrap(), der);
        assert!(!needs_conversion(&der));
    }

    #[test]
    fn indefinite_lengths_and_constructed_octet_strings_are_flattened() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x00,
            0x00,
        ];
        assert_eq!(
            to_der(&ber).unwrap(),
            [0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']
        );
        assert!(needs_conversion(&ber));
    }

    #[test]
    fn non_minimal_lengths_are_shortened_and_long_lengths_written() {
        let ber = [0x04, 0x81, 0x01, 0x7f];
        assert_eq!(to_der(&ber).unwrap(), [0x04, 0x01, 0x7f]);
        let mut big = vec![0x04, 0x82, 0x01, 0x00];
        big.extend(std::iter::repeat_n(7u8, 256));
        assert_eq!(to_der(&big).unwrap(), big);
    }

    #[test]
    fn constructed_bit_string_keeps_last_unused_bits() {
        let ber = [
            0x23, 0x80, 0x03, 0x02, 0x00, 0xff, 0x03, 0x02, 0x04, 0xf0, 0x00, 0x00,
        ];
        assert_eq!(to_der(&ber).unwrap(), [0x03, 0x03, 0x04, 0xff, 0xf0]);
    }

    #[test]
    fn broken_input_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x80, 0x04, 0x01],
            &[0x04, 0x85, 1, 0, 0, 0, 0],
            &[0x04, 0x80, 0x00, 0x00],
            &[0x30, 0x03, 0x04, 0x05, 0x00],
            &[0x30, 0x00, 0x00],
            &[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00],
        ] {
            assert!(to_der(bad).is_err(), "{bad:02x?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(to_der(&deep).is_err());
    }
}
