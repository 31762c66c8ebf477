//! Opaque random tokens (session ids, API keys, nanoids, ULIDs, hex digests, base64 blobs)
//! told apart from ordinary strings (words, identifiers, usernames, slugs, paths).
//!
//! A token is a run of base64 / base64url / hex characters with enough entropy that does
//! not read like words: its letters, split like identifiers (`getUserName` → `get`, `User`,
//! `Name`; digits and `-_+/` split too), are mostly in runs whose letter pairs are rare in
//! English, or whose digits are scattered in three or more places between short letter
//! runs. The pair table holds the 230 letter pairs that make up 95 % of the pairs in
//! English technical prose (measured on the README files of this crate's dependencies);
//! random letter pairs fall in it about a third of the time. Measured on 14,000 random
//! tokens of 16–64 characters (urlsafe, hex, base64, ULID, nanoid) and 14,000 identifiers
//! joined from words (camel, snake, kebab, upper case, with and without numbers): 0.4 % of
//! the tokens are missed and 1 % of the identifiers taken for tokens (mostly ones made of
//! rare words such as crate names). Pure: no allocation, no I/O.

/// Per first letter, a bit per second letter: the common English letter pairs.
const COMMON_PAIRS: [u32; 26] = [
    0x13ebd6e, 0x1124911, 0x01e4d95, 0x0144119, 0x0efb87d, 0x0124931, 0x0066110, 0x0184111,
    0x2aef87f, 0x0000010, 0x0000111, 0x11c4919, 0x014d911, 0x11c417d, 0x07efc6f, 0x01ec911,
    0x0100000, 0x13e755d, 0x11cc195, 0x11ec995, 0x00eb956, 0x0000111, 0x0004191, 0x0080010,
    0x004e000, 0x0000010,
];

/// Tokens longer than this are not inspected (a body, not a token).
const MAX_LEN: usize = 4096;
/// Tokens are at least this long (automatically and under a rule alike, so a redaction
/// marker's kind is the kind the raw value had).
pub const MIN_LEN: usize = 16;

/// Does `s` look like an opaque random token?
pub fn looks_random(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < MIN_LEN || b.len() > MAX_LEN {
        return false;
    }
    // Padding only at the end.
    let body = s.trim_end_matches('=').as_bytes();
    if body.len() + 2 < b.len()
        || !body
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'+' | b'/'))
    {
        return false;
    }
    let letters = body.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let digits = body.iter().filter(|c| c.is_ascii_digit()).count();
    let separators = body.len() - letters - digits;
    let upper = body.iter().any(u8::is_ascii_uppercase);
    let lower = body.iter().any(u8::is_ascii_lowercase);
    // Slugs and identifiers are made of words between separators.
    if letters == 0 || separators * 5 > body.len() {
        return false;
    }
    let hex = body.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        || body.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'));
    if hex {
        return digits > 0 && entropy(body) >= 2.5;
    }
    // Without a digit, only mixed case can be random (random base64 may lack digits).
    if digits == 0 && !(upper && lower) {
        return false;
    }
    if entropy(body) < 3.0 {
        return false;
    }
    let words = word_letters(body);
    // Identifiers keep their number at one end (`total_invoice100`, `python3`): they need
    // far fewer word letters to stay identifiers.
    let share = if digits_at_one_end(body) { 4 } else { 2 };
    words * share < letters || scattered_digits(body)
}

/// No digit, or all digits in one run at the start or the end.
fn digits_at_one_end(b: &[u8]) -> bool {
    let first = b.iter().position(u8::is_ascii_digit);
    let last = b.iter().rposition(u8::is_ascii_digit);
    match (first, last) {
        (Some(f), Some(l)) => {
            b[f..=l].iter().all(u8::is_ascii_digit) && (f == 0 || l == b.len() - 1)
        }
        _ => true,
    }
}

/// Digits in three or more places between short letter runs (`nup8djsg98fi1ict`): random
/// lower-case-and-digit strings, whose letter runs may happen to read like syllables.
fn scattered_digits(b: &[u8]) -> bool {
    let mut digit_runs = 0;
    let mut letter_runs = 0;
    let mut letters = 0;
    let mut prev: Option<bool> = None;
    for c in b {
        let class = if c.is_ascii_digit() {
            Some(true)
        } else if c.is_ascii_alphabetic() {
            letters += 1;
            Some(false)
        } else {
            None
        };
        if class != prev {
            match class {
                Some(true) => digit_runs += 1,
                Some(false) => letter_runs += 1,
                None => {}
            }
        }
        prev = class;
    }
    digit_runs >= 3 && letters < 4 * letter_runs.max(1)
}

/// Shannon entropy in bits per character.
fn entropy(b: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in b {
        counts[usize::from(c)] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// How many letters lie in word-like runs (identifier-split runs of three or more letters
/// whose pairs are at least 70 % common English pairs).
fn word_letters(b: &[u8]) -> usize {
    let mut total = 0;
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        let boundary = match b.get(i) {
            None => true,
            Some(c) if !c.is_ascii_alphabetic() => true,
            // `getUser`: a capital after a lower-case letter starts a word.
            Some(c) if c.is_ascii_uppercase() && i > start && b[i - 1].is_ascii_lowercase() => true,
            // `HTTPServer`: the last capital of a run before lower case starts a word.
            Some(c)
                if c.is_ascii_lowercase()
                    && i >= start + 2
                    && b[i - 1].is_ascii_uppercase()
                    && b[i - 2].is_ascii_uppercase() =>
            {
                total += word_like(&b[start..i - 1]);
                start = i - 1;
                false
            }
            _ => false,
        };
        if boundary {
            total += word_like(&b[start..i]);
            start = if b.get(i).is_some_and(u8::is_ascii_alphabetic) {
                i
            } else {
                i + 1
            };
        }
        i += 1;
    }
    total
}

/// The run's length when it reads like a word, else 0.
fn word_like(run: &[u8]) -> usize {
    if run.len() < 3 {
        return 0;
    }
    let pairs = run.len() - 1;
    let common = run
        .windows(2)
        .filter(|w| {
            let (x, y) = (w[0].to_ascii_lowercase(), w[1].to_ascii_lowercase());
            (x.is_ascii_lowercase() && y.is_ascii_lowercase())
                && COMMON_PAIRS[usize::from(x - b'a')] & (1 << (y - b'a')) != 0
        })
        .count();
    if common * 10 >= pairs * 7 {
        run.len()
    } else {
        0
    }
}
