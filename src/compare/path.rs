//! JSON Pointer paths (RFC 6901) and the wildcard patterns rules are written in.
//!
//! Owns: the segment type the JSON walk keeps on its stack, formatting a stack as a pointer
//! (`~` → `~0`, `/` → `~1`), and [`PathPattern`] (`*` = one segment, `**` = any number).
//! Matching is iterative (no recursion on the path), so deep paths cannot overflow the stack.
//! Never allocates while matching.

use std::fmt::Write as _;

/// One step into a JSON value: an object key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Render a path as a JSON Pointer (`""` for the root).
///
/// Pointers longer than [`MAX_POINTER_BYTES`] (very long keys, deep paths) are cut there
/// and end with `…`: a difference's path stays bounded whatever the body's keys.
pub fn pointer(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        if out.len() > MAX_POINTER_BYTES {
            break;
        }
        out.push('/');
        match seg {
            Seg::Key(k) => escape_into(k, &mut out),
            Seg::Index(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
    if out.len() > MAX_POINTER_BYTES {
        let mut end = MAX_POINTER_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// Rendered JSON Pointers are cut past this many bytes.
pub const MAX_POINTER_BYTES: usize = 1024;

/// Append `key` escaped for a JSON Pointer (at most [`MAX_POINTER_BYTES`] of it and a
/// character: [`pointer`] cuts the rest).
pub fn escape_into(key: &str, out: &mut String) {
    for c in key.chars() {
        if out.len() > MAX_POINTER_BYTES {
            break;
        }
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Split a JSON Pointer into unescaped segments. `None` when an escape is invalid.
pub fn unescape(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|raw| {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return None,
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatSeg {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: zero or more segments.
    Any,
}

/// A compiled path pattern such as `/**/created_at` or `/items/*/id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    /// As written, for reasons and error messages.
    pub source: String,
    segs: Vec<PatSeg>,
}

impl PathPattern {
    /// Compile a pattern; the error says what is wrong with it.
    pub fn parse(source: &str) -> Result<PathPattern, String> {
        if source == "/" {
            return Ok(PathPattern {
                source: source.to_string(),
                segs: Vec::new(),
            });
        }
        if !source.is_empty() && !source.starts_with('/') {
            return Err("a path is a JSON Pointer and starts with `/` (e.g. `/user/id`)".into());
        }
        let parts = unescape(source)
            .ok_or_else(|| "invalid escape: `~` must be followed by 0 or 1".to_string())?;
        let mut segs = Vec::with_capacity(parts.len());
        for part in parts {
            let seg = match part.as_str() {
                "*" => PatSeg::One,
                "**" => PatSeg::Any,
                p if p.contains('*') => {
                    return Err(format!(
                        "wildcards match whole segments only (`*` or `**`), got segment {p:?}"
                    ));
                }
                _ => PatSeg::Literal(part),
            };
            segs.push(seg);
        }
        Ok(PathPattern {
            source: source.to_string(),
            segs,
        })
    }

    /// Does the pattern match exactly this path?
    pub fn matches(&self, path: &[Seg<'_>]) -> bool {
        glob(&self.segs, path, false)
    }

    /// Does the pattern match this path or one of its ancestors (the path lies in a subtree
    /// the pattern names)?
    pub fn covers(&self, path: &[Seg<'_>]) -> bool {
        glob(&self.segs, path, true)
    }
}

fn seg_eq(lit: &str, seg: &Seg<'_>) -> bool {
    match seg {
        Seg::Key(k) => *k == lit,
        Seg::Index(i) => lit.parse::<usize>().is_ok_and(|l| l == *i) && !lit.starts_with('+'),
    }
}

/// Greedy wildcard matching with backtracking to the last `**` (O(n·m), no recursion).
/// `prefix`: behave as if the pattern ended with `/**`.
fn glob(pat: &[PatSeg], path: &[Seg<'_>], prefix: bool) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        match pat.get(p) {
            Some(PatSeg::Any) => {
                star = Some((p, s));
                p += 1;
                continue;
            }
            Some(PatSeg::One) => {
                p += 1;
                s += 1;
                continue;
            }
            Some(PatSeg::Literal(l)) if seg_eq(l, &path[s]) => {
                p += 1;
                s += 1;
                continue;
            }
            None if prefix => return true,
            _ => {}
        }
        match star {
            Some((sp, ss)) => {
                p = sp + 1;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|x| *x == PatSeg::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn pointer_escapes_tilde_and_slash() {
        let path = [Seg::Key("a/b"), Seg::Key("m~n"), Seg::Index(3)];
        assert_eq!(pointer(&path), "/a~1b/m~0n/3");
        assert_eq!(pointer(&[]), "");
        assert_eq!(
            unescape("/a~1b/m~0n/3"),
            Some(vec!["a/b".into(), "m~n".into(), "3".into()])
        );
        assert_eq!(unescape("/bad~2"), None);
    }

    #[test]
    fn wildcards_match_segments() {
        let created = [Seg::Key("items"), Seg::Index(4), Seg::Key("created_at")];
        assert!(pat("/**/created_at").matches(&created));
        assert!(pat("/**/created_at").matches(&[Seg::Key("created_at")]));
        assert!(pat("/items/*/created_at").matches(&created));
        assert!(!pat("/items/*/id").matches(&created));
        assert!(!pat("/*/created_at").matches(&created));
        assert!(pat("/items/4/created_at").matches(&created));
        assert!(pat("/**").matches(&created));
        assert!(pat("/").matches(&[]));
        assert!(!pat("/items").matches(&created));
        assert!(pat("/items").covers(&created));
        assert!(pat("/items/*").covers(&created));
        assert!(!pat("/user").covers(&created));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(PathPattern::parse("items/id").is_err());
        assert!(PathPattern::parse("/items/id*").is_err());
        assert!(PathPattern::parse("/a~3").is_err());
    }

    #[test]
    fn matching_deep_paths_does_not_recurse() {
        let mut path = vec![Seg::Key("a"); 20_000];
        path.push(Seg::Key("created_at"));
        assert!(pat("/**/created_at").matches(&path));
        assert!(!pat("/**/b/**/created_at").matches(&path));
    }
}
