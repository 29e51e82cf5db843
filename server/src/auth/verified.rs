//! `VerifiedTokens`: the access tokens that verified, with the users they name, so that a
//! client's every request does not check the same signature again (decoding and verifying
//! an HS256 token was 7% of the instructions of a `POST /node`).
//!
//! Only tokens that verified are kept, until their `exp`; a token that fails is checked
//! again every time (a flood of bad tokens costs what it cost before, and no memory).
use std::collections::HashMap;
use std::sync::Mutex;

use maestro_common::node::ObjectIdHex;

/// Tokens kept at most; past it the cache starts again empty.
const MAX_TOKENS: usize = 4_096;

/// What a verified token names: the user under each accepted secret, in the order to try
/// them, and when it expires (seconds since the epoch; never without `exp`).
#[derive(Clone)]
pub(super) struct Verified {
    pub(super) subjects: Vec<ObjectIdHex>,
    pub(super) exp: Option<u64>,
}

#[derive(Default)]
pub(super) struct VerifiedTokens {
    tokens: Mutex<HashMap<Box<str>, Verified>>,
}

impl VerifiedTokens {
    /// The users `token` names if it verified before and has not expired at `now`.
    pub(super) fn get(&self, token: &str, now: u64) -> Option<Vec<ObjectIdHex>> {
        let mut tokens = self.tokens.lock().ok()?;
        let v = tokens.get(token)?;
        // As the signature check: expired once `exp` is past (no leeway).
        if v.exp.is_some_and(|exp| exp < now) {
            tokens.remove(token);
            return None;
        }
        Some(v.subjects.clone())
    }

    /// Keeps `verified` for `token`.
    pub(super) fn insert(&self, token: &str, verified: Verified) {
        let Ok(mut tokens) = self.tokens.lock() else {
            return;
        };
        if tokens.len() >= MAX_TOKENS {
            tokens.clear();
        }
        tokens.insert(token.into(), verified);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectIdHex {
        ObjectIdHex::parse(&format!("{n:024x}")).expect("an id")
    }

    #[test]
    fn a_kept_token_is_given_back_until_it_expires() {
        let cache = VerifiedTokens::default();
        let v = Verified {
            subjects: vec![id(1)],
            exp: Some(100),
        };
        cache.insert("t", v);
        assert_eq!(cache.get("t", 100), Some(vec![id(1)]));
        assert_eq!(cache.get("t", 101), None);
        // Gone, not only refused.
        assert_eq!(cache.get("t", 50), None);
        assert_eq!(cache.get("other", 50), None);
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = VerifiedTokens::default();
        for n in 0..=MAX_TOKENS {
            let v = Verified {
                subjects: vec![id(1)],
                exp: None,
            };
            cache.insert(&n.to_string(), v);
        }
        assert_eq!(cache.get("0", 0), None);
        assert_eq!(cache.get(&MAX_TOKENS.to_string(), 0), Some(vec![id(1)]));
    }
}
