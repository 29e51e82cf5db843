//! The OpenAPI document: served under every prefix, OpenAPI 3.1, and listing every route
//! the routers register. The routes are read from the server's sources (axum cannot list a
//! router's routes): each `.route("path", get(..).post(..))` call under `server/src`, so a
//! route added without its `#[utoipa::path]` (and its module's `Docs`) fails here.
use std::collections::BTreeSet;
use std::path::Path;

use axum::http::StatusCode;

use crate::harness::TestApp;

/// Routes that are not API operations: the handler answering an unsupported `/vN` (its
/// path is made with `format!`).
const INTERNAL: [&str; 1] = ["UNSUPPORTED_VERSION_PATH"];

/// Every `(METHOD, /latest path)` registered with `.route(...)` in the sources under `dir`.
fn routes_in_sources(dir: &Path, out: &mut BTreeSet<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            routes_in_sources(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        for (start, _) in src.match_indices(".route(") {
            let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
            if src[line_start..start].trim_start().starts_with("//") {
                continue;
            }
            let call = balanced(&src[start + ".route".len()..]);
            if INTERNAL.iter().any(|name| call.contains(name)) {
                continue;
            }
            let route = call.split('"').nth(1).unwrap_or_else(|| {
                panic!("{}: a route whose path is not a literal", path.display())
            });
            let methods: Vec<&str> = ["get", "post", "put", "patch", "delete", "any"]
                .into_iter()
                .filter(|m| {
                    call.contains(&format!("({m}("))
                        || call.contains(&format!(".{m}("))
                        || call.contains(&format!("::{m}("))
                        || call.contains(&format!(" {m}("))
                })
                .collect();
            assert!(
                !methods.is_empty(),
                "{}: no method in {call}",
                path.display()
            );
            let full = if route == "/" {
                "/latest".to_owned()
            } else {
                format!("/latest{route}")
            };
            for m in methods {
                out.insert((m.to_uppercase(), full.clone()));
            }
        }
    }
}

/// The text from `(` to its matching `)`.
fn balanced(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..=i];
                }
            }
            _ => {}
        }
    }
    s
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_is_routed() {
    let app = TestApp::new().await;
    let r = app.get("/latest/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("application/json"));
    let doc = r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

    let mut routed = BTreeSet::new();
    routes_in_sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut routed,
    );
    assert!(routed.len() > 50, "too few routes found: {routed:?}");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented operations with no route: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_operation_has_responses_and_named_security() {
    let app = TestApp::new().await;
    let doc = app.get("/latest/openapi.json").await.body;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}: no responses");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}: no tag"
            );
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().unwrap().keys() {
                    assert!(
                        schemes.contains_key(name),
                        "{method} {path}: unknown scheme {name}"
                    );
                }
            }
            // An operation that needs a token documents the 401 it answers without one.
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Node",
        "NodePage",
        "UserRead",
        "Error",
        "ValidationError",
        "Hierarchy",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
}

#[tokio::test]
async fn the_document_is_served_under_every_prefix() {
    let app = TestApp::new().await;
    let latest = app.get("/latest/openapi.json").await;
    for uri in ["/openapi.json", "/v0/openapi.json"] {
        let r = app.get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.body, latest.body, "{uri}");
    }
}

/// utoipa documents a `String` or integer body as `text/plain` unless told otherwise, but
/// the handlers answer those as JSON (`"OK"`, `0`): only these operations write plain text.
#[tokio::test]
async fn only_the_plain_text_answers_are_documented_as_text_plain() {
    let app = TestApp::new().await;
    let doc = app.get("/latest/openapi.json").await.body;
    let mut plain = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let types = response["content"].as_object().into_iter().flatten();
                if types.into_iter().any(|(t, _)| t == "text/plain") {
                    plain.insert(format!("{} {path} {status}", method.to_uppercase()));
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "GET /latest/metrics 200",
        "GET /latest/ws 400",
        "GET /latest/ws 426",
        "GET /latest/ws 503",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(plain, expected);
}
