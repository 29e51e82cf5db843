//! Renders a ratatui [`Buffer`] as a PNG terminal-window screenshot: fonts, palette, cells, frame.
//!
//! Text is drawn with DejaVu Sans Mono (bold for [`Modifier::BOLD`]), falling back to DejaVu Sans
//! for glyphs the mono font lacks. Box-drawing (U+2500–U+257F) and block elements
//! (U+2580–U+259F) are drawn geometrically so borders join seamlessly. The 16 named colours use
//! the Catppuccin Mocha terminal palette; `Indexed` uses the xterm 256-colour cube and grey ramp.
//! Output is deterministic: the same buffer and options give identical PNG bytes.

use std::fmt;
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

mod geometry;
use geometry::{Canvas, Metrics, draw_geometric};

/// Environment variable naming a directory that replaces the system DejaVu font directory.
pub const FONT_DIR_ENV: &str = "MAESTRO_SCREENSHOT_FONT_DIR";
const DEFAULT_FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";
const FONT_FILES: [&str; 4] = [
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
];
const ITALIC_FILES: [&str; 2] = [
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
];

type Rgb = [u8; 3];
/// Default foreground (Reset) and background (Reset): Catppuccin Mocha "text" and "base".
const DEFAULT_FG: Rgb = [0xcd, 0xd6, 0xf4];
const DEFAULT_BG: Rgb = [0x1e, 0x1e, 0x2e];
const TITLE_BAR: Rgb = [0x2b, 0x2c, 0x3f];
const TITLE_FG: Rgb = [0xa6, 0xad, 0xc8];
/// ANSI colours 0–15, Catppuccin Mocha terminal palette.
const ANSI: [u32; 16] = [
    0x45475a, 0xf38ba8, 0xa6e3a1, 0xf9e2af, 0x89b4fa, 0xf5c2e7, 0x94e2d5, 0xa6adc8, //
    0x585b70, 0xf37799, 0x89d88b, 0xebd391, 0x74a8fc, 0xf2aede, 0x6bd7ca, 0xbac2de,
];

/// Rendering options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Font size (em height) in pixels; the cell is about `0.6 * font_px` wide.
    pub font_px: f32,
    /// Window title shown centred in the title bar (empty for none).
    pub title: String,
    /// Space in pixels between the window edge and the terminal grid.
    pub padding: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            font_px: 16.0,
            title: String::new(),
            padding: 12,
        }
    }
}

/// Errors from loading fonts or producing the PNG.
#[derive(Debug)]
pub enum ScreenshotError {
    /// A required font file does not exist.
    FontMissing(PathBuf),
    /// A font file exists but could not be parsed.
    FontInvalid(PathBuf),
    /// Reading a font or writing the PNG failed.
    Io(PathBuf, std::io::Error),
    /// The options cannot produce an image (bad font size, image too large).
    InvalidOptions(String),
    /// PNG encoding failed.
    Encode(String),
}

impl fmt::Display for ScreenshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FontMissing(p) => write!(
                f,
                "font file {} not found: install the DejaVu fonts (Debian/Ubuntu: `apt-get install \
                 fonts-dejavu-core`) or set {FONT_DIR_ENV} to a directory holding {}",
                p.display(),
                FONT_FILES.join(", ")
            ),
            Self::FontInvalid(p) => {
                write!(f, "font file {} is not a valid TrueType font", p.display())
            }
            Self::Io(p, e) => write!(f, "I/O error on {}: {e}", p.display()),
            Self::InvalidOptions(m) => write!(f, "invalid screenshot options: {m}"),
            Self::Encode(m) => write!(f, "PNG encoding failed: {m}"),
        }
    }
}

impl std::error::Error for ScreenshotError {}

/// Buffer-to-PNG renderer; holds the fonts, loaded once.
pub struct Renderer {
    /// Mono regular, mono bold, sans regular, sans bold.
    fonts: [FontVec; 4],
    /// Optional mono oblique and bold oblique (fonts-dejavu-extra); italic is ignored without them.
    italic: [Option<FontVec>; 2],
}

fn rgb(hex: u32) -> Rgb {
    [(hex >> 16) as u8, (hex >> 8) as u8, hex as u8]
}

/// Maps a ratatui colour to RGB; `fg` selects the meaning of [`Color::Reset`].
pub fn color_rgb(color: Color, fg: bool) -> [u8; 3] {
    use Color::*;
    let named = [
        Black,
        Red,
        Green,
        Yellow,
        Blue,
        Magenta,
        Cyan,
        Gray,
        DarkGray,
        LightRed,
        LightGreen,
        LightYellow,
        LightBlue,
        LightMagenta,
        LightCyan,
        White,
    ];
    match color {
        Reset if fg => DEFAULT_FG,
        Reset => DEFAULT_BG,
        Rgb(r, g, b) => [r, g, b],
        Indexed(n @ 0..=15) => rgb(ANSI[usize::from(n)]),
        Indexed(n @ 16..=231) => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let n = n - 16;
            [level(n / 36), level(n / 6 % 6), level(n % 6)]
        }
        Indexed(n) => [8 + 10 * (n - 232); 3],
        named_colour => rgb(ANSI[named.iter().position(|&c| c == named_colour).unwrap_or(7)]),
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    let m = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
    [m(a[0], b[0]), m(a[1], b[1]), m(a[2], b[2])]
}

fn load_font(dir: &Path, name: &str) -> Result<FontVec, ScreenshotError> {
    let path = dir.join(name);
    let data = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ScreenshotError::FontMissing(path.clone()),
        _ => ScreenshotError::Io(path.clone(), e),
    })?;
    FontVec::try_from_vec(data).map_err(|_| ScreenshotError::FontInvalid(path))
}

impl Renderer {
    /// Loads the DejaVu fonts from `$MAESTRO_SCREENSHOT_FONT_DIR` or `/usr/share/fonts/truetype/dejavu`.
    ///
    /// # Errors
    /// [`ScreenshotError::FontMissing`] (naming the Debian package) if a required font is absent.
    pub fn from_system_fonts() -> Result<Self, ScreenshotError> {
        let dir = std::env::var_os(FONT_DIR_ENV)
            .map_or_else(|| PathBuf::from(DEFAULT_FONT_DIR), PathBuf::from);
        Self::from_font_dir(&dir)
    }

    /// Loads the DejaVu font files from `dir` (the oblique variants are optional).
    ///
    /// # Errors
    /// As [`Renderer::from_system_fonts`].
    pub fn from_font_dir(dir: &Path) -> Result<Self, ScreenshotError> {
        let [a, b, c, d] = FONT_FILES;
        let fonts = [
            load_font(dir, a)?,
            load_font(dir, b)?,
            load_font(dir, c)?,
            load_font(dir, d)?,
        ];
        let italic = ITALIC_FILES.map(|n| load_font(dir, n).ok());
        Ok(Self { fonts, italic })
    }

    fn metrics(&self, font_px: f32) -> Result<Metrics, ScreenshotError> {
        if !font_px.is_finite() || !(4.0..=256.0).contains(&font_px) {
            return Err(ScreenshotError::InvalidOptions(format!(
                "font_px {font_px} not in 4..=256"
            )));
        }
        let mono = &self.fonts[0];
        let upem = mono.units_per_em().unwrap_or(2048.0);
        let scale = PxScale::from(font_px * mono.height_unscaled() / upem);
        let sf = mono.as_scaled(scale);
        let cw = sf.h_advance(mono.glyph_id('M')).round().max(1.0) as i32;
        let ch = (sf.height() + sf.line_gap()).ceil().max(1.0) as i32;
        let baseline = ((ch as f32 - sf.height()) / 2.0 + sf.ascent()).round() as i32;
        Ok(Metrics {
            scale,
            cw,
            ch,
            baseline,
            t1: (font_px / 12.0).round().max(1.0) as i32,
        })
    }

    /// Renders `buffer` as PNG bytes.
    ///
    /// # Errors
    /// [`ScreenshotError::InvalidOptions`] for a bad `font_px` or an oversized image.
    pub fn render(&self, buffer: &Buffer, opts: &Options) -> Result<Vec<u8>, ScreenshotError> {
        let canvas = self.paint(buffer, opts)?.0;
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, canvas.w as u32, canvas.h as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let enc_err = |e: png::EncodingError| ScreenshotError::Encode(e.to_string());
        let mut writer = enc.write_header().map_err(enc_err)?;
        writer.write_image_data(&canvas.px).map_err(enc_err)?;
        writer.finish().map_err(enc_err)?;
        Ok(out)
    }

    /// Renders `buffer` and writes the PNG to `path`.
    ///
    /// # Errors
    /// As [`Renderer::render`], plus [`ScreenshotError::Io`] if the file cannot be written.
    pub fn write_png(
        &self,
        buffer: &Buffer,
        opts: &Options,
        path: &Path,
    ) -> Result<(), ScreenshotError> {
        let bytes = self.render(buffer, opts)?;
        std::fs::write(path, bytes).map_err(|e| ScreenshotError::Io(path.to_path_buf(), e))
    }

    /// Paints the window; returns the canvas, the grid origin and the metrics.
    fn paint(
        &self,
        buffer: &Buffer,
        opts: &Options,
    ) -> Result<(Canvas, (i32, i32), Metrics), ScreenshotError> {
        let m = self.metrics(opts.font_px)?;
        let (cols, rows) = (i32::from(buffer.area.width), i32::from(buffer.area.height));
        let pad = i32::try_from(opts.padding).unwrap_or(i32::MAX).min(4096);
        let bar = (m.ch as f32 * 1.7).round() as i32;
        let (w, h) = (cols * m.cw + 2 * pad, bar + rows * m.ch + 2 * pad);
        if w > 32768 || h > 32768 {
            return Err(ScreenshotError::InvalidOptions(format!(
                "image {w}x{h} too large"
            )));
        }
        let mut cv = Canvas {
            w,
            h,
            px: [DEFAULT_BG[0], DEFAULT_BG[1], DEFAULT_BG[2], 255].repeat((w * h) as usize),
        };
        let origin = (pad, bar + pad);
        // Resolve styles and cell spans first, then paint all backgrounds before any glyph so
        // that glyphs overhanging their cell are not covered by the neighbour's background.
        let mut cells = Vec::new();
        for row in 0..rows {
            let mut col = 0;
            while col < cols {
                let pos = (buffer.area.x + col as u16, buffer.area.y + row as u16);
                let cell = &buffer[pos];
                let span = (cell.symbol().width() as i32).clamp(1, 2).min(cols - col);
                let (mut fg, mut bg) = (color_rgb(cell.fg, true), color_rgb(cell.bg, false));
                if cell.modifier.contains(Modifier::REVERSED) {
                    std::mem::swap(&mut fg, &mut bg);
                }
                if cell.modifier.contains(Modifier::DIM) {
                    fg = mix(fg, bg, 0.45);
                }
                let (x, y) = (origin.0 + col * m.cw, origin.1 + row * m.ch);
                cv.rect(x, y, x + span * m.cw, y + m.ch, bg, 1.0);
                cells.push((x, y, span, cell, fg));
                col += span;
            }
        }
        for (x, y, span, cell, fg) in cells {
            let md = cell.modifier;
            if md.contains(Modifier::HIDDEN) {
                continue;
            }
            for c in cell
                .symbol()
                .chars()
                .filter(|&c| c != '\u{200d}' && !('\u{fe00}'..='\u{fe0f}').contains(&c))
            {
                if !draw_geometric(&mut cv, &m, c, x, y, fg) && c != ' ' {
                    self.draw_glyph(&mut cv, &m, c, (x, y, span), md, fg);
                }
            }
            let line_at = |dy: i32| (y + dy, y + dy + m.t1);
            let mut lines = Vec::new();
            if md.contains(Modifier::UNDERLINED) {
                lines.push(line_at(
                    (m.baseline + (opts.font_px / 8.0).round() as i32).min(m.ch - m.t1),
                ));
            }
            if md.contains(Modifier::CROSSED_OUT) {
                lines.push(line_at(m.baseline - (opts.font_px * 0.3).round() as i32));
            }
            for (y0, y1) in lines {
                cv.rect(x, y0, x + span * m.cw, y1, fg, 1.0);
            }
        }
        self.frame(&mut cv, &m, bar, &opts.title);
        Ok((cv, origin, m))
    }

    /// Draws one character from the first font in the fallback chain that has it.
    fn draw_glyph(
        &self,
        cv: &mut Canvas,
        m: &Metrics,
        c: char,
        (x, y, span): (i32, i32, i32),
        md: Modifier,
        fg: Rgb,
    ) {
        let bold = usize::from(md.contains(Modifier::BOLD));
        let italic = self.italic[bold]
            .as_ref()
            .filter(|_| md.contains(Modifier::ITALIC));
        let chain = [
            italic,
            Some(&self.fonts[bold]),
            Some(&self.fonts[2 + bold]),
            Some(&self.fonts[0]),
            Some(&self.fonts[2]),
        ];
        let avail = (span * m.cw) as f32;
        let Some((font, id)) = chain
            .into_iter()
            .flatten()
            .map(|f| (f, f.glyph_id(c)))
            .find(|(_, id)| id.0 != 0)
        else {
            // No font has it: draw a "tofu" box.
            let (hw, hh) = ((span * m.cw - 3 * m.t1) as f32 / 2.0, m.ch as f32 * 0.35);
            let (cx, cy) = (
                x as f32 + hw + 1.5 * m.t1 as f32,
                (y + m.baseline) as f32 - hh,
            );
            cv.stroke((x, y, span * m.cw, m.ch), m.t1 as f32, fg, |px, py| {
                ((px - cx).abs() - hw).max((py - cy).abs() - hh).abs()
            });
            return;
        };
        // Same em size in every font: scale by each font's own height/em ratio.
        let mono = &self.fonts[0];
        let em = m.scale.y * mono.units_per_em().unwrap_or(2048.0) / mono.height_unscaled();
        let mut scale =
            PxScale::from(em * font.height_unscaled() / font.units_per_em().unwrap_or(2048.0));
        let mut adv = font.as_scaled(scale).h_advance(id);
        if adv > avail * 1.05 {
            scale = PxScale::from(scale.y * avail / adv);
            adv = avail;
        }
        let pos = point(x as f32 + (avail - adv) / 2.0, (y + m.baseline) as f32);
        if let Some(og) = font.outline_glyph(id.with_scale_and_position(scale, pos)) {
            cv.glyph(&og, fg);
        }
    }

    /// Draws the title bar: three window buttons and the centred title.
    fn frame(&self, cv: &mut Canvas, m: &Metrics, bar: i32, title: &str) {
        cv.rect(0, 0, cv.w, bar, TITLE_BAR, 1.0);
        cv.rect(0, bar - 1, cv.w, bar, [0x11, 0x11, 0x1b], 1.0);
        let r = bar as f32 * 0.2;
        for (i, c) in [0xff5f57, 0xfebc2e, 0x28c840].into_iter().enumerate() {
            let (cx, cy) = (bar as f32 * 0.6 + i as f32 * r * 3.2, bar as f32 / 2.0);
            cv.stroke((0, 0, bar * 3, bar), 2.0 * r, rgb(c), |px, py| {
                (px - cx).hypot(py - cy)
            });
        }
        let font = &self.fonts[2];
        let sf = font.as_scaled(PxScale::from(m.scale.y * 0.95));
        let ids: Vec<_> = title.chars().map(|c| font.glyph_id(c)).collect();
        let width: f32 = ids.iter().map(|&id| sf.h_advance(id)).sum();
        let mut x = ((cv.w as f32 - width) / 2.0).max(bar as f32 * 2.5).round();
        let base = ((bar as f32 + sf.ascent() + sf.descent()) / 2.0).round();
        let mut prev = None;
        for id in ids {
            x += prev.map_or(0.0, |p| sf.kern(p, id));
            if let Some(og) =
                sf.outline_glyph(id.with_scale_and_position(sf.scale(), point(x, base)))
            {
                cv.glyph(&og, TITLE_FG);
            }
            x += sf.h_advance(id);
            prev = Some(id);
        }
        // Rounded window corners: fade alpha outside a quarter circle.
        let (rad, (w, h)) = ((bar as f32 * 0.35).round(), (cv.w as f32, cv.h as f32));
        for (i, a) in cv.px.iter_mut().skip(3).step_by(4).enumerate() {
            let (x, y) = (
                (i as i32 % cv.w) as f32 + 0.5,
                (i as i32 / cv.w) as f32 + 0.5,
            );
            let d = (x - x.clamp(rad, w - rad)).hypot(y - y.clamp(rad, h - rad));
            *a = (f32::from(*a) * (rad + 0.5 - d).clamp(0.0, 1.0)).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;
    use ratatui::widgets::{Block, BorderType, Widget};

    fn renderer() -> Renderer {
        Renderer::from_system_fonts().expect("DejaVu fonts installed (fonts-dejavu-core)")
    }

    fn pixel(cv: &Canvas, x: i32, y: i32) -> Rgb {
        let i = ((y * cv.w + x) * 4) as usize;
        [cv.px[i], cv.px[i + 1], cv.px[i + 2]]
    }

    #[test]
    fn output_is_deterministic_png() -> Result<(), ScreenshotError> {
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 4));
        buf.set_string(
            0,
            0,
            "héllo ✓ ✗ ● … ◌ ∅ ▸ 世界",
            Style::default().fg(Color::Green),
        );
        let (r, opts) = (
            renderer(),
            Options {
                title: "t".into(),
                ..Options::default()
            },
        );
        let a = r.render(&buf, &opts)?;
        assert_eq!(a, r.render(&buf, &opts)?);
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
        Ok(())
    }

    #[test]
    fn bordered_block_has_continuous_border() -> Result<(), ScreenshotError> {
        for (border, k) in [
            (BorderType::Plain, 1),
            (BorderType::Thick, 2),
            (BorderType::Double, 3),
        ] {
            let mut buf = Buffer::empty(Rect::new(0, 0, 10, 5));
            Block::bordered()
                .border_type(border)
                .render(buf.area, &mut buf);
            let (cv, (ox, oy), m) = renderer().paint(&buf, &Options::default())?;
            // Outermost line of the border stroke (the only line for plain and thick borders).
            let (hy, vx) = (oy + (m.ch - k * m.t1) / 2, ox + (m.cw - k * m.t1) / 2);
            // Top edge from the middle of the first cell to the middle of the last one, and left edge.
            for x in vx..ox + 9 * m.cw + m.cw / 2 {
                assert_eq!(pixel(&cv, x, hy), DEFAULT_FG, "gap at x={x} ({border:?})");
            }
            for y in hy..oy + 4 * m.ch + m.ch / 2 {
                assert_eq!(pixel(&cv, vx, y), DEFAULT_FG, "gap at y={y} ({border:?})");
            }
        }
        Ok(())
    }

    #[test]
    fn bold_differs_from_regular() -> Result<(), ScreenshotError> {
        let r = renderer();
        let lit = |bold: bool| -> Result<(Vec<u8>, usize), ScreenshotError> {
            let mut buf = Buffer::empty(Rect::new(0, 0, 4, 1));
            let style = if bold {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            buf.set_string(0, 0, "Abc", style);
            let cv = r.paint(&buf, &Options::default())?.0;
            let n = cv.px.chunks(4).filter(|p| p[0] > 128).count();
            Ok((cv.px, n))
        };
        let ((reg, n_reg), (bold, n_bold)) = (lit(false)?, lit(true)?);
        assert_ne!(reg, bold);
        assert!(n_bold > n_reg, "bold {n_bold} <= regular {n_reg}");
        Ok(())
    }

    #[test]
    fn reversed_swaps_fg_and_bg() -> Result<(), ScreenshotError> {
        let mut buf = Buffer::empty(Rect::new(0, 0, 2, 1));
        buf.set_string(
            0,
            0,
            " ",
            Style::default()
                .fg(Color::Red)
                .bg(Color::Blue)
                .add_modifier(Modifier::REVERSED),
        );
        buf.set_string(1, 0, " ", Style::default().add_modifier(Modifier::REVERSED));
        let (cv, (ox, oy), m) = renderer().paint(&buf, &Options::default())?;
        assert_eq!(pixel(&cv, ox + 1, oy + 1), color_rgb(Color::Red, true));
        assert_eq!(pixel(&cv, ox + m.cw + 1, oy + 1), DEFAULT_FG);
        Ok(())
    }

    #[test]
    fn colour_mapping() {
        assert_eq!(color_rgb(Color::Reset, true), DEFAULT_FG);
        assert_eq!(color_rgb(Color::Reset, false), DEFAULT_BG);
        assert_eq!(color_rgb(Color::Rgb(1, 2, 3), true), [1, 2, 3]);
        assert_eq!(
            color_rgb(Color::Indexed(1), true),
            color_rgb(Color::Red, true)
        );
        assert_eq!(color_rgb(Color::Indexed(16), true), [0, 0, 0]);
        assert_eq!(color_rgb(Color::Indexed(196), true), [255, 0, 0]);
        assert_eq!(color_rgb(Color::Indexed(110), true), [135, 175, 215]);
        assert_eq!(color_rgb(Color::Indexed(232), true), [8, 8, 8]);
        assert_eq!(color_rgb(Color::Indexed(255), true), [238, 238, 238]);
        assert_eq!(color_rgb(Color::Green, true), [0xa6, 0xe3, 0xa1]);
    }

    #[test]
    fn missing_font_dir_names_the_package() {
        let err = Renderer::from_font_dir(Path::new("/nonexistent/fonts"))
            .err()
            .expect("must fail");
        assert!(matches!(err, ScreenshotError::FontMissing(_)));
        let msg = err.to_string();
        assert!(
            msg.contains("fonts-dejavu-core") && msg.contains("DejaVuSansMono.ttf"),
            "{msg}"
        );
    }
}
