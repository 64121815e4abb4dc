//! What the token targets share: a fuzz input as a mutation of a real token (bytes
//! overwritten, inserted or cut), or as an arbitrary string.

/// The candidate `data` describes: with an even first byte, `valid` mutated at a place and
/// in a way the next bytes choose; otherwise `data` itself, as text.
pub fn candidate(valid: &str, data: &[u8]) -> String {
    match data.split_first() {
        Some((&mode, rest)) if mode % 2 == 0 && !rest.is_empty() => {
            let mut bytes = valid.as_bytes().to_vec();
            let at = rest[0] as usize * bytes.len() / 256;
            match mode % 6 {
                0 => bytes.truncate(at),
                2 => bytes.splice(at..at, rest[1..].iter().copied()).for_each(drop),
                _ => {
                    for (i, b) in rest[1..].iter().enumerate() {
                        if let Some(slot) = bytes.get_mut(at + i) {
                            *slot = *b;
                        }
                    }
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    }
}
