//! Repetitive and sequential passwords (NIST SP 800-63B 3.1.1.2: "repetitive or sequential
//! characters (e.g. 'aaaaaa', '1234abcd')"): what a guesser tries right after the lists.
//!
//! Both judge the whole password, lowercased: a password is refused only when all of it is
//! such a pattern, never for holding one ("my 1234 cats" is fine). Any character outside the
//! sequences below, a space for one, breaks every run, so ordinary passphrases always pass.

/// Runs shorter than this do not count: "abc" or "aaa" alone is not much of a pattern, and a
/// password made of such runs ("abcdefgh") is still made of runs of at least this length.
const MIN_RUN: usize = 3;

/// Sequences a run may follow, forwards or backwards: the alphabet, the digits (with 0 after
/// 9, as on a keyboard) and the rows of QWERTY, QWERTZ and AZERTY keyboards, shifted or not.
const SEQUENCES: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The same character again: "aaaa".
    Same,
    /// The next one in a sequence: "1234", "abcd", "qwer".
    Up,
    /// The one before in a sequence: "4321", "dcba", "rewq".
    Down,
}

impl Step {
    fn joins(self, from: char, to: char) -> bool {
        let follows = |a: char, b: char| {
            SEQUENCES.iter().any(|sequence| {
                sequence
                    .chars()
                    .zip(sequence.chars().skip(1))
                    .any(|pair| pair == (a, b))
            })
        };
        match self {
            Step::Same => from == to,
            Step::Up => follows(from, to),
            Step::Down => follows(to, from),
        }
    }
}

/// One character over and over ("aaaaaaaa"), one short pattern over and over ("abcabcabc",
/// "ab12ab12"), blocks of repeats ("aaaabbbbcccc") or hardly more than two different
/// characters ("aaaaaaab").
pub fn is_repetitive(lowercased: &str) -> bool {
    has_fewer_than_three_characters(lowercased) || is_periodic(lowercased) || covered_by_runs(lowercased, &[Step::Same])
}

/// Made entirely of runs along the alphabet, the digits or a keyboard row, either way, and
/// repeats: "12345678", "87654321", "abcdefgh", "qwertyuiop", "1234abcd", "aaaa1234".
pub fn is_sequential(lowercased: &str) -> bool {
    covered_by_runs(lowercased, &[Step::Same, Step::Up, Step::Down])
}

fn has_fewer_than_three_characters(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return true };
    let mut others = chars.filter(|&c| c != first);
    match others.next() {
        None => true,
        Some(second) => others.all(|c| c == second),
    }
}

/// Whether the text repeats itself after a shift of at most half its length: it is then one
/// unit said at least twice (the last time possibly cut short). Comparing bytes is enough: a
/// shift that maps the text onto itself starts on a character boundary.
fn is_periodic(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=bytes.len() / 2).any(|shift| bytes[shift..] == bytes[..bytes.len() - shift])
}

/// Whether every character lies in a run of at least [`MIN_RUN`] characters whose steps are
/// all of one of `kinds` (runs may share their end characters: "12344321").
fn covered_by_runs(text: &str, kinds: &[Step]) -> bool {
    let length = text.chars().count();
    if length < MIN_RUN {
        return false;
    }
    let mut covered = vec![false; length];
    for &kind in kinds {
        let mut start = 0;
        let mut previous = None;
        for (index, c) in text.chars().enumerate() {
            if previous.is_some_and(|p| !kind.joins(p, c)) {
                mark(&mut covered, start, index);
                start = index;
            }
            previous = Some(c);
        }
        mark(&mut covered, start, length);
    }
    covered.iter().all(|&c| c)
}

fn mark(covered: &mut [bool], start: usize, end: usize) {
    if end - start >= MIN_RUN {
        covered[start..end].fill(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_of_a_character_or_a_pattern_are_repetitive() {
        for password in [
            "aaaaaaaa",
            "11111111",
            "abababab",
            "abcabcabc",
            "ab12ab12ab12",
            "abcdabcda",
            "passwordpassword",
            "aaaabbbbcccc",
            "aaaaaaab",
            "zzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            assert!(is_repetitive(password), "{password}");
        }
    }

    #[test]
    fn runs_along_the_alphabet_digits_or_keyboard_are_sequential() {
        for password in [
            "12345678",
            "1234567890",
            "87654321",
            "0987654321",
            "abcdefgh",
            "zyxwvuts",
            "qwertyuiop",
            "poiuytrewq",
            "asdfghjkl",
            "azertyuiop",
            "qwertzuiop",
            "1234abcd",
            "abcd1234",
            "qwerasdf",
            "12344321",
            "aaaa1234",
            "!@#$%^&*",
            "abc123xyz",
        ] {
            assert!(is_sequential(password), "{password}");
        }
    }

    #[test]
    fn passwords_with_some_pattern_in_them_are_neither() {
        for password in [
            "correct horse battery staple",
            "my 1234 cats",
            "abcdefgh!",
            "12345678x",
            "1q2w3e4r",
            "mississippi",
            "planned journey",
            "qwerty uiop",
            "tr0ub4dor&3",
            "ça va très bien",
        ] {
            assert!(!is_sequential(password), "sequential? {password}");
            assert!(!is_repetitive(password), "repetitive? {password}");
        }
        assert!(!is_sequential(""));
        assert!(!is_sequential("ab"));
    }

    #[test]
    fn steps_follow_each_sequence_both_ways() {
        assert!(Step::Up.joins('9', '0') && Step::Down.joins('0', '9'));
        assert!(Step::Up.joins('q', 'w') && Step::Down.joins('w', 'q'));
        assert!(!Step::Up.joins('w', 'q') && !Step::Up.joins('a', 'c') && !Step::Same.joins('a', 'b'));
    }
}
