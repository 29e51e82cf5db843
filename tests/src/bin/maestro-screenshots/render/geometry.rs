//! Geometry of the screenshot renderer: the canvas, cell metrics, and box-drawing and
//! block characters drawn as lines and rectangles so that borders join with no gaps.
use ab_glyph::PxScale;

use super::Rgb;

/// Box-drawing arms for U+2500..=U+257F as "up right down left", 0 none, 1 light, 2 heavy, 3 double.
pub(super) const BOX_ARMS: &str = "\
0101 0202 1010 2020 0101 0202 1010 2020 0101 0202 1010 2020 0110 0210 0120 0220 \
0011 0012 0021 0022 1100 1200 2100 2200 1001 1002 2001 2002 1110 1210 2110 1120 \
2120 2210 1220 2220 1011 1012 2011 1021 2021 2012 1022 2022 0111 0112 0211 0212 \
0121 0122 0221 0222 1101 1102 1201 1202 2101 2102 2201 2202 1111 1112 1211 1212 \
2111 1121 2121 2112 2211 1122 1221 2212 1222 2122 2221 2222 0101 0202 1010 2020 \
0303 3030 0310 0130 0330 0013 0031 0033 1300 3100 3300 1003 3001 3003 1310 3130 \
3330 1013 3031 3033 0313 0131 0333 1303 3101 3303 1313 3131 3333 0110 0011 1001 \
1100 0000 0000 0000 0001 1000 0100 0010 0002 2000 0200 0020 0201 1020 0102 2010";

/// Cell geometry for one font size.
pub(super) struct Metrics {
    pub(super) scale: PxScale,
    pub(super) cw: i32,
    pub(super) ch: i32,
    pub(super) baseline: i32,
    pub(super) t1: i32,
}

/// RGBA pixel canvas with clipped drawing.
pub(super) struct Canvas {
    pub(super) w: i32,
    pub(super) h: i32,
    pub(super) px: Vec<u8>,
}

impl Canvas {
    pub(super) fn blend(&mut self, x: i32, y: i32, c: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= self.w || y >= self.h || a <= 0.0 {
            return;
        }
        let i = ((y * self.w + x) * 4) as usize;
        let a = a.min(1.0);
        for (p, &c) in self.px[i..i + 3].iter_mut().zip(&c) {
            *p = (f32::from(*p) + (f32::from(c) - f32::from(*p)) * a).round() as u8;
        }
    }
    pub(super) fn rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, c: Rgb, a: f32) {
        for y in y0.max(0)..y1.min(self.h) {
            for x in x0.max(0)..x1.min(self.w) {
                self.blend(x, y, c, a);
            }
        }
    }
    /// Blends a rasterised glyph in colour `c`.
    pub(super) fn glyph(&mut self, og: &ab_glyph::OutlinedGlyph, c: Rgb) {
        let b = og.px_bounds();
        og.draw(|x, y, cov| {
            self.blend(b.min.x as i32 + x as i32, b.min.y as i32 + y as i32, c, cov)
        });
    }
    /// Anti-aliased stroke of width `t` around the curve whose distance function is `dist`.
    pub(super) fn stroke(
        &mut self,
        (x, y, w, h): (i32, i32, i32, i32),
        t: f32,
        c: Rgb,
        dist: impl Fn(f32, f32) -> f32,
    ) {
        for py in y..y + h {
            for px in x..x + w {
                let d = dist(px as f32 + 0.5, py as f32 + 0.5);
                self.blend(px, py, c, (t / 2.0 + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }
}

/// Draws box-drawing and block-element characters from cell geometry; false if `c` is neither.
pub(super) fn draw_geometric(
    cv: &mut Canvas,
    m: &Metrics,
    c: char,
    x: i32,
    y: i32,
    fg: Rgb,
) -> bool {
    let (cw, ch, t1) = (m.cw, m.ch, m.t1);
    let code = c as u32;
    match code {
        0x2500..=0x257f => {
            let arms = BOX_ARMS
                .split_ascii_whitespace()
                .nth((code - 0x2500) as usize)
                .unwrap_or("0000");
            let a: Vec<u8> = arms.bytes().map(|b| b - b'0').collect();
            let th = |k: u8| [0, t1, 2 * t1, 3 * t1][usize::from(k & 3)];
            let (mx, my) = (
                x as f32 + ((cw - t1) / 2) as f32 + t1 as f32 / 2.0,
                y as f32 + ((ch - t1) / 2) as f32 + t1 as f32 / 2.0,
            );
            let dashes = match code {
                0x2504..=0x2507 => 3,
                0x2508..=0x250b => 4,
                0x254c..=0x254f => 2,
                _ => 0,
            };
            if (0x256d..=0x2570).contains(&code) {
                // Rounded corner: quarter circle joining the two half-lines.
                let (sx, sy) = (
                    if a[1] > 0 { 1.0 } else { -1.0 },
                    if a[2] > 0 { 1.0 } else { -1.0 },
                );
                let r = (mx - x as f32).min(my - y as f32).min((x + cw) as f32 - mx);
                let (ax, ay) = (mx + sx * r, my + sy * r);
                cv.stroke((x, y, cw, ch), t1 as f32, fg, |px, py| {
                    let (dx, dy) = ((px - ax) * sx, (py - ay) * sy);
                    match (dx > 0.0, dy > 0.0) {
                        (true, _) => (py - my).abs(),
                        (_, true) => (px - mx).abs(),
                        _ => ((px - ax).hypot(py - ay) - r).abs(),
                    }
                });
            } else if (0x2571..=0x2573).contains(&code) {
                let (w, h) = (cw as f32, ch as f32);
                let len = w.hypot(h);
                let (x0, y0) = (x as f32, y as f32);
                let fwd = |px: f32, py: f32| ((px - x0) * h + (py - y0) * w - w * h).abs() / len;
                let back = |px: f32, py: f32| ((px - x0) * h - (py - y0) * w).abs() / len;
                cv.stroke((x, y, cw, ch), t1 as f32, fg, |px, py| match code {
                    0x2571 => fwd(px, py),
                    0x2572 => back(px, py),
                    _ => fwd(px, py).min(back(px, py)),
                });
            } else if dashes > 0 {
                let (horiz, t) = (a[1] > 0, th(a[0].max(a[1])));
                let (o, len) = if horiz { (x, cw) } else { (y, ch) };
                let gap = (len / dashes / 3).max(1);
                for i in 0..dashes {
                    let (s, e) = (
                        o + i * len / dashes + gap / 2,
                        o + (i + 1) * len / dashes - (gap - gap / 2),
                    );
                    if horiz {
                        cv.rect(s, y + (ch - t) / 2, e, y + (ch - t) / 2 + t, fg, 1.0);
                    } else {
                        cv.rect(x + (cw - t) / 2, s, x + (cw - t) / 2 + t, e, fg, 1.0);
                    }
                }
            } else {
                let (u, r, d, l) = (a[0], a[1], a[2], a[3]);
                // Horizontal arms (perpendiculars up/down), then vertical arms (perpendiculars left/right).
                for (horiz, a0, a1, p0, p1) in [(true, l, r, u, d), (false, u, d, l, r)] {
                    let (oa, oc, la, lc) = if horiz {
                        (x, y, cw, ch)
                    } else {
                        (y, x, ch, cw)
                    };
                    let tp = th(p0).max(th(p1));
                    let pdouble = p0 == 3 || p1 == 3;
                    for (k, first) in [(a0, true), (a1, false)] {
                        if k == 0 {
                            continue;
                        }
                        let e = if tp > 0 { tp } else { th(k) };
                        let pb = oa + (la - e) / 2;
                        let c0 = oc + (lc - th(k)) / 2;
                        let lines = if k == 3 {
                            vec![(c0, pdouble && p0 > 0), (c0 + 2 * t1, pdouble && p1 > 0)]
                        } else {
                            vec![(c0, false)]
                        };
                        let t = if k == 3 { t1 } else { th(k) };
                        for (c0, short) in lines {
                            let (s, f) = match (first, short) {
                                (true, true) => (oa, pb + t1),
                                (true, false) => (oa, pb + e),
                                (false, true) => (pb + e - t1, oa + la),
                                (false, false) => (pb, oa + la),
                            };
                            if horiz {
                                cv.rect(s, c0, f, c0 + t, fg, 1.0);
                            } else {
                                cv.rect(c0, s, c0 + t, f, fg, 1.0);
                            }
                        }
                    }
                }
            }
        }
        0x2580..=0x259f => {
            let frac = |len: i32, n: i32| (len as f32 * n as f32 / 8.0).round() as i32;
            let (hx, hy) = (cw / 2, ch / 2);
            let (x1, y1) = (x + cw, y + ch);
            match code {
                0x2580 => cv.rect(x, y, x1, y + hy, fg, 1.0),
                0x2581..=0x2588 => {
                    cv.rect(x, y1 - frac(ch, (code - 0x2580) as i32), x1, y1, fg, 1.0)
                }
                0x2589..=0x258f => cv.rect(x, y, x + frac(cw, (0x2590 - code) as i32), y1, fg, 1.0),
                0x2590 => cv.rect(x + hx, y, x1, y1, fg, 1.0),
                0x2591..=0x2593 => cv.rect(x, y, x1, y1, fg, (code - 0x2590) as f32 * 0.25),
                0x2594 => cv.rect(x, y, x1, y + frac(ch, 1), fg, 1.0),
                0x2595 => cv.rect(x1 - frac(cw, 1), y, x1, y1, fg, 1.0),
                _ => {
                    // Quadrants: bit 1 upper-left, 2 upper-right, 4 lower-left, 8 lower-right.
                    let bits = [4, 8, 1, 13, 9, 7, 11, 2, 6, 14][(code - 0x2596) as usize];
                    let quads = [
                        (x, y, x + hx, y + hy),
                        (x + hx, y, x1, y + hy),
                        (x, y + hy, x + hx, y1),
                        (x + hx, y + hy, x1, y1),
                    ];
                    for (i, (a, b, c, d)) in quads.into_iter().enumerate() {
                        if bits & (1 << i) != 0 {
                            cv.rect(a, b, c, d, fg, 1.0);
                        }
                    }
                }
            }
        }
        _ => return false,
    }
    true
}
