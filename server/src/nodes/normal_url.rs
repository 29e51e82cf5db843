//! URLs in node bodies as the `url` crate normalises them (pydantic's `AnyUrl` and
//! `AnyHttpUrl` use the same parser), without parsing the usual artifact URL at all: a parse
//! costs ~11,000 instructions a URL, a fifth of a typical node's write.
//!
//! The fast check is conservative: it accepts only a subset of the URLs that parse to their
//! own text, and anything else goes to [`url::Url::parse`]. Accepted: `http://` or
//! `https://`, a lower-case host of letters, digits, `-` and `.` whose last label starts with
//! a letter (no IPv4 parsing) and with no punycode label, no user, port or fragment, then a
//! path and an optional query of characters that are never percent-encoded, or valid `%XX`
//! escapes, with no path segment starting with `.` or `%` (so no dot segments, `%2e` ones
//! included).

/// A URL that parses.
pub struct NormalUrl {
    /// Its normal text when that differs from the text given (else the given text is it).
    pub changed: Option<String>,
    /// Whether it is an http or https URL with a host (pydantic's `AnyHttpUrl`).
    pub http_with_host: bool,
}

/// `s` as the `url` crate normalises it, or `None` when it does not parse.
pub fn normalise(s: &str) -> Option<NormalUrl> {
    if is_normal_http_url(s) {
        return Some(NormalUrl {
            changed: None,
            http_with_host: true,
        });
    }
    let u = url::Url::parse(s).ok()?;
    Some(NormalUrl {
        http_with_host: matches!(u.scheme(), "http" | "https") && u.has_host(),
        changed: (u.as_str() != s).then(|| u.into()),
    })
}

/// Whether `s` is an http(s) URL that `url::Url::parse` keeps as it is.
fn is_normal_http_url(s: &str) -> bool {
    let rest = if let Some(r) = s.strip_prefix("https://") {
        r
    } else if let Some(r) = s.strip_prefix("http://") {
        r
    } else {
        return false;
    };
    let bytes = rest.as_bytes();
    // Without a path the parser adds `/`.
    let Some(host_end) = bytes.iter().position(|&b| b == b'/') else {
        return false;
    };
    is_plain_host(&bytes[..host_end]) && is_plain_path_and_query(&bytes[host_end..])
}

/// One pass over `/path...[?query]`: each byte allowed where it is, or a `%XX` escape, and
/// no path segment starting with `.` or `%`.
fn is_plain_path_and_query(bytes: &[u8]) -> bool {
    let mut allowed = &PATH_BYTES;
    let mut in_path = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_path && b == b'/' {
            if matches!(bytes.get(i + 1), Some(b'.' | b'%')) {
                return false;
            }
            i += 1;
        } else if in_path && b == b'?' {
            in_path = false;
            allowed = &QUERY_BYTES;
            i += 1;
        } else if allowed[usize::from(b)] {
            i += 1;
        } else if b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            i += 3;
        } else {
            return false;
        }
    }
    true
}

/// Labels of `a-z`, `0-9` and `-`, none empty, none punycode (`xn--`, which the parser
/// decodes and may refuse), the last starting with a letter.
fn is_plain_host(host: &[u8]) -> bool {
    let mut last: &[u8] = &[];
    for label in host.split(|&b| b == b'.') {
        if label.is_empty()
            || label.starts_with(b"xn--")
            || !label
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return false;
        }
        last = label;
    }
    last.first().is_some_and(u8::is_ascii_lowercase)
}

/// A table of the bytes that are ASCII letters or digits or in `extra`.
const fn byte_table(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// Unreserved and sub-delimiter characters, `:` and `@`: never encoded in a path.
const PATH_BYTES: [bool; 256] = byte_table(b"-._~!$&()*+,;=:@");

/// As in a path, and `/` and `?` (the special-query set encodes `'`, which is left out).
const QUERY_BYTES: [bool; 256] = byte_table(b"-._~!$&()*+,;=:@/?");

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// What the fast check stands for: the parser keeps the text and sees an http(s) host.
    fn parser_keeps(s: &str) -> bool {
        url::Url::parse(s).is_ok_and(|u| {
            u.as_str() == s && matches!(u.scheme(), "http" | "https") && u.has_host()
        })
    }

    #[test]
    fn the_usual_artifact_urls_pass() {
        for s in [
            "https://files.kernelci.org/mainline/master/v6.13/x86_64/defconfig/gcc-12/log.txt.gz",
            "http://storage.kernelci.org/a/b/?x=1&y=2;z=3",
            "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
            "https://example.org/",
            "https://a-b.example9.org/x%20y/test_log_1.txt?aaa=%2F",
        ] {
            assert!(is_normal_http_url(s), "{s}");
            assert!(parser_keeps(s), "{s}");
        }
    }

    #[test]
    fn urls_the_parser_changes_or_refuses_go_to_it() {
        for s in [
            "https://example.org",
            "HTTPS://example.org/",
            "https://Example.org/",
            "https://example.org:443/",
            "https://user@example.org/",
            "https://127.0.0.1/",
            "https://0x7f.1/",
            "https://example.org/a/../b",
            "https://example.org/a/%2e%2E/b",
            "https://example.org/a/./b",
            "https://example.org/a b",
            "https://example.org/a\\b",
            "https://example.org/a#frag",
            "https://example.org/a?b='c'",
            "https://example.org/%zz",
            "https://example.org/caf\u{e9}",
            "https://ex..ample.org/",
            "https://example.org./",
            "https://xn--zz.org/",
            "ftp://example.org/",
            " https://example.org/",
        ] {
            assert!(!is_normal_http_url(s), "{s}");
        }
    }

    #[test]
    fn normalise_gives_the_parsers_text_and_scheme() {
        let n = normalise("https://example.org/a").unwrap();
        assert!(n.changed.is_none() && n.http_with_host);
        let n = normalise("HTTPS://Example.org:443").unwrap();
        assert_eq!(n.changed.as_deref(), Some("https://example.org/"));
        assert!(n.http_with_host);
        let n = normalise("ftp://example.org/x").unwrap();
        assert!(n.changed.is_none() && !n.http_with_host);
        assert!(normalise("not a url").is_none());
    }

    /// Differential check against the parser over random URL-like strings: the fast check
    /// never accepts a URL the parser would change or refuse.
    #[test]
    fn never_accepts_what_the_parser_changes() {
        const ALPHABET: &[u8] = b"abcXYZ019-._~!$&'()*+,;=:@/?#%[]\\ \t\"<>^`{}|e2E";
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut accepted = 0;
        for _ in 0..200_000 {
            let scheme = ["http://", "https://"][rng.gen_range(0..2)];
            let len = rng.gen_range(0..24);
            let tail: String = (0..len)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            let hosts = [
                "example.org",
                "a.b9",
                "x-1.c",
                "9.9",
                "h",
                "xn--a.b",
                "ab--c.d",
                "-x-",
            ];
            let host = hosts[rng.gen_range(0..hosts.len())];
            let s = format!("{scheme}{host}/{tail}");
            if is_normal_http_url(&s) {
                accepted += 1;
                assert!(parser_keeps(&s), "accepted but changed: {s:?}");
            }
        }
        // The check is not vacuous: a good share of the strings pass it.
        assert!(accepted > 1_000, "{accepted}");
    }
}
