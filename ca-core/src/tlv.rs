//! A minimal walker over DER that has already been validated by the `der`
//! decoder, for the few places where the exact signed bytes are needed
//! (RFC 5652 §5.4: the signature covers the signed attributes as encoded).

/// One TLV split off the front of some input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The whole TLV.
    pub whole: &'a [u8],
    /// Its contents.
    pub content: &'a [u8],
    /// What follows it.
    pub rest: &'a [u8],
}

/// Splits one TLV off `input`. Only single-octet tags, which is all the CMS,
/// PKCS#10 and X.509 structures use. `None` on anything out of bounds.
pub(crate) fn split(input: &[u8]) -> Option<Tlv<'_>> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..count {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some(Tlv {
        tag,
        whole: &input[..end],
        content: &input[header..end],
        rest: &input[end..],
    })
}

/// One DER TLV of `tag` around `content` (shortest length form).
pub(crate) fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_short_and_long_forms_and_refuses_overruns() {
        let t = split(&[0x04, 0x01, 0xaa, 0x05, 0x00]).unwrap();
        assert_eq!(
            (t.tag, t.whole, t.content, t.rest),
            (4, &[4, 1, 0xaa][..], &[0xaa][..], &[5, 0][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([1u8; 0x80]);
        assert_eq!(split(&long).unwrap().content.len(), 0x80);
        assert!(split(&[0x04, 0x02, 0xaa]).is_none());
        assert!(split(&[0x04, 0x80]).is_none());
        assert!(split(&[]).is_none());
    }
}
