//! Text helpers of the panes: ages, durations, counts.
use maestro_common::Timestamp;
use ratatui::text::Span;

use super::Theme;
use crate::model::Counts;

/// `t` relative to `now`: `12s`, `5m`, `3h`, `2d` (ago), or `in 5m` for the future.
pub fn age(now: Timestamp, t: Timestamp) -> String {
    let secs = (now.millis() - t.millis()) / 1000;
    let (future, secs) = if secs < 0 {
        (true, -secs)
    } else {
        (false, secs)
    };
    let s = short_duration(secs);
    if future { format!("in {s}") } else { s }
}

/// Seconds as `12s`, `5m`, `3h`, `2d`.
pub fn short_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `✓12 ✗3 !1 ●5` with each count in its status colour; zero counts are left out.
pub fn counts_spans(c: &Counts, theme: Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for (status, n) in c.entries() {
        if n > 0 {
            if !spans.is_empty() {
                spans.push(Span::raw(" "));
            }
            spans.push(Span::styled(
                format!("{}{n}", status.glyph()),
                theme.status(status),
            ));
        }
    }
    spans
}

/// Cuts `s` to `width` characters, with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_short() {
        let now = Timestamp::from_millis(10_000_000).unwrap();
        let at = |ms: i64| Timestamp::from_millis(ms).unwrap();
        assert_eq!(age(now, at(10_000_000 - 12_000)), "12s");
        assert_eq!(age(now, at(10_000_000 - 7_200_000)), "2h");
        assert_eq!(age(now, at(10_000_000 + 300_000)), "in 5m");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
