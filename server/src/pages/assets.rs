//! The pages' files, embedded in the binary at build time (`assets/`), with their content
//! types and entity tags. Pages name their scripts and styles with `?v={{v}}`, which is
//! replaced by a digest of all the scripts and styles: a new release is a new URL, so an
//! hour-long cache never mixes an old script with a new page.
use std::sync::LazyLock;

use axum::body::Bytes;

/// One servable file.
pub(crate) struct Asset {
    /// Its name: the page name (`viewer`) or the file name (`viewer.js`).
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
    /// A strong entity tag of the body (quoted, as sent).
    pub(crate) etag: String,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const PNG: &str = "image/png";

/// The pages, by the name their route gives.
const PAGES: [(&str, &str); 7] = [
    ("viewer", include_str!("assets/viewer.html")),
    ("dashboard", include_str!("assets/dashboard.html")),
    ("stats", include_str!("assets/stats.html")),
    ("analytics", include_str!("assets/analytics.html")),
    ("manage", include_str!("assets/manage.html")),
    ("invite", include_str!("assets/invite.html")),
    ("accept-invite", include_str!("assets/accept-invite.html")),
];

const STYLES: [(&str, &str); 1] = [("maestro.css", include_str!("assets/maestro.css"))];

const SCRIPTS: [(&str, &str); 10] = [
    ("common.js", include_str!("assets/common.js")),
    ("live.js", include_str!("assets/live.js")),
    ("viewer.js", include_str!("assets/viewer.js")),
    ("trees.js", include_str!("assets/trees.js")),
    ("dashboard.js", include_str!("assets/dashboard.js")),
    ("stats.js", include_str!("assets/stats.js")),
    ("analytics.js", include_str!("assets/analytics.js")),
    ("manage.js", include_str!("assets/manage.js")),
    ("invite.js", include_str!("assets/invite.js")),
    ("accept-invite.js", include_str!("assets/accept-invite.js")),
];

/// The result icons the Python server serves (`/icons/ok.png`, ...).
const ICONS: [(&str, &[u8]); 3] = [
    ("ok.png", include_bytes!("assets/ok.png")),
    ("bad.png", include_bytes!("assets/bad.png")),
    ("warning.png", include_bytes!("assets/warning.png")),
];

/// The placeholder of the asset version in the pages.
const VERSION_MARK: &str = "{{v}}";

struct Table {
    pages: Vec<Asset>,
    styles: Vec<Asset>,
    scripts: Vec<Asset>,
    icons: Vec<Asset>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let version = {
        let mut all = Vec::new();
        for (name, body) in STYLES.iter().chain(SCRIPTS.iter()) {
            all.extend_from_slice(name.as_bytes());
            all.extend_from_slice(body.as_bytes());
        }
        format!("{:016x}", fnv1a(&all))
    };
    let text = |list: &[(&'static str, &'static str)], content_type| {
        list.iter()
            .map(|(name, body)| asset(name, content_type, body.replace(VERSION_MARK, &version)))
            .collect()
    };
    Table {
        pages: text(&PAGES, HTML),
        styles: text(&STYLES, CSS),
        scripts: text(&SCRIPTS, JS),
        icons: ICONS
            .iter()
            .map(|(name, body)| asset(name, PNG, *body))
            .collect(),
    }
});

fn asset(name: &'static str, content_type: &'static str, body: impl Into<Bytes>) -> Asset {
    let body = body.into();
    Asset {
        name,
        content_type,
        etag: format!("\"{:016x}\"", fnv1a(&body)),
        body,
    }
}

/// 64-bit FNV-1a: a fast digest that is stable across builds and platforms (the std hasher
/// promises neither), plenty to tell two versions of a file apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn find(list: &'static [Asset], name: &str) -> Option<&'static Asset> {
    list.iter().find(|a| a.name == name)
}

/// The page `name` (`viewer`, `accept-invite`, ...).
pub(crate) fn page(name: &str) -> Option<&'static Asset> {
    find(&TABLE.pages, name)
}

/// The stylesheet `name` (`maestro.css`).
pub(crate) fn css(name: &str) -> Option<&'static Asset> {
    find(&TABLE.styles, name)
}

/// The script `name` (`viewer.js`).
pub(crate) fn js(name: &str) -> Option<&'static Asset> {
    find(&TABLE.scripts, name)
}

/// The icon `name` (`ok.png`).
pub(crate) fn icon(name: &str) -> Option<&'static Asset> {
    find(&TABLE.icons, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a page refers to with `attr="..."`, relative paths only.
    fn refs<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
        html.split(&format!("{attr}=\""))
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn every_page_names_only_embedded_assets_of_this_version() {
        for (name, _) in PAGES {
            let page = page(name).expect("page");
            let html = std::str::from_utf8(&page.body).expect("utf-8");
            assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
            assert!(!html.contains(VERSION_MARK), "{name}");
            assert!(
                !html.contains("<script>"),
                "{name}: inline script (the CSP forbids it)"
            );
            assert!(
                !html.contains(" style=\""),
                "{name}: inline style (the CSP forbids it)"
            );
            let mut seen = 0;
            for r in refs(html, "src").into_iter().chain(refs(html, "href")) {
                let Some((path, query)) = r.split_once('?') else {
                    continue;
                };
                let file = path.rsplit('/').next().unwrap_or_default();
                let found = if path.contains("static/js/") {
                    js(file)
                } else {
                    css(file)
                };
                assert!(found.is_some(), "{name}: {r} is not embedded");
                assert!(query.starts_with("v=") && query.len() == 18, "{name}: {r}");
                seen += 1;
            }
            assert!(seen >= 3, "{name}: css, common.js and its own script");
        }
    }

    #[test]
    fn tags_differ_with_the_body() {
        assert_ne!(
            js("viewer.js").map(|a| &a.etag),
            js("stats.js").map(|a| &a.etag)
        );
        assert!(icon("ok.png").is_some_and(|a| a.body.starts_with(b"\x89PNG")));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
