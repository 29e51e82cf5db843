//! Checks of regular expressions that Rust's `regex` accepts but MongoDB's PCRE refuses, so
//! that both stores answer such a pattern with the same 400 instead of one of them a 500.
//!
//! PCRE refuses a repetition of a repetition (`a**`, `a{2}*`, `a*??`): after a quantifier
//! only one `?` (lazy) or `+` (possessive) may follow. Rust reads `a**` as `(a*)*`.

/// `Err` with PCRE's reason when `pattern` repeats a repetition.
pub fn check_pcre_compatible(pattern: &str) -> Result<(), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    // What the previous token was: a quantifier, a quantifier and its modifier, else none.
    let mut after = After::Other;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            // An escape is one atom (its argument, as in `\p{Greek}`, included below).
            i += 2;
            if chars
                .get(i - 1)
                .is_some_and(|e| matches!(e, 'p' | 'P' | 'x'))
                && chars.get(i) == Some(&'{')
            {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            }
            after = After::Other;
            continue;
        }
        if in_class {
            in_class = c != ']';
            i += 1;
            continue;
        }
        let quantifier_len = match c {
            '*' | '+' | '?' => Some(1),
            '{' => repetition_len(&chars[i..]),
            _ => None,
        };
        match (quantifier_len, after) {
            (Some(_), After::Modified) => return Err(nothing_to_repeat(i)),
            (Some(1), After::Quantifier) if c == '?' || c == '+' => {
                after = After::Modified;
                i += 1;
                continue;
            }
            (Some(_), After::Quantifier) => return Err(nothing_to_repeat(i)),
            (Some(n), After::Other) => {
                // `(?` opens a group, it repeats nothing.
                let group = c == '?' && i > 0 && chars[i - 1] == '(';
                after = if group {
                    After::Other
                } else {
                    After::Quantifier
                };
                i += n;
                continue;
            }
            (None, _) => {}
        }
        if c == '[' {
            in_class = true;
            // `[]...]` and `[^]...]`: a leading `]` is a member.
            if chars.get(i + 1) == Some(&'^') {
                i += 1;
            }
            if chars.get(i + 1) == Some(&']') {
                i += 1;
            }
        }
        after = After::Other;
        i += 1;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum After {
    Other,
    Quantifier,
    Modified,
}

fn nothing_to_repeat(at: usize) -> String {
    format!("nothing to repeat at offset {at} (a quantifier cannot follow a quantifier)")
}

/// The length of `{m}`, `{m,}` or `{m,n}` at the start of `s`, if it is one (else `{` is a
/// literal, for PCRE as for Rust).
fn repetition_len(s: &[char]) -> Option<usize> {
    let end = s.iter().position(|&c| c == '}')?;
    let inner: String = s[1..end].iter().collect();
    let (lo, hi) = inner.split_once(',').unwrap_or((&inner, "0"));
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    (!lo.is_empty() && digits(lo) && digits(hi)).then_some(end + 1)
}

#[cfg(test)]
mod tests {
    use super::check_pcre_compatible as check;

    #[test]
    fn repeated_quantifiers_are_refused_and_the_rest_accepted() {
        for bad in ["a**", "a+*", "a{2}*", "a*??", "a?+*", "(a)*{3}", "x{1,2}+?"] {
            assert!(check(bad).is_err(), "{bad}");
        }
        for good in [
            "a*",
            "a*?",
            "a*+",
            "a{2}?",
            "(?P<x>a)",
            "(?i)abc",
            "(a+)+$",
            "[*+]+",
            "\\*\\*",
            "a{,2}*",
            "[]*]*",
            "\\p{Greek}*",
            "^kernel-.*$",
            "(?:a|b)*",
        ] {
            assert!(check(good).is_ok(), "{good}");
        }
    }
}
