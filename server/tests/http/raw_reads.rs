//! `GET /node/{id}`, `/nodes` and `/nodes/fast` serve the stored document text as it is
//! (`Store::get_node_json`): it must be, byte for byte, the parsed node serialised again,
//! also after a rename rewrote the stored `owner` inside SQLite.
use axum::http::StatusCode;
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn stored_documents_are_the_nodes_serialised() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &[]).await;
    let alice = app.user("alice", false, &[]).await;
    let mut node = crate::harness::checkout("c\u{e9}\"\\\t\u{1F600}");
    node["data"]["kernel_revision"]["describe"] = json!("v6.1 \u{2028} \u{7f} </script>");
    node["debug"] = json!({"f": 1.5, "e": 1e300, "n": -0.0, "i": -12, "big": 18446744073709551615u64,
                           "nested": [{"z": 1, "a": [null, true]}]});
    let id = app.create(&alice, node).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let check = |when: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            let stored = app.stored(&id).await.unwrap();
            let expected = serde_json::to_string(&stored).unwrap();
            let r = app.get(&format!("/latest/node/{id}")).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.content_type, "application/json");
            assert_eq!(r.text, expected, "{when}");
            let r = app.get("/latest/nodes/fast?kind=checkout").await;
            assert_eq!(r.text, format!("[{expected}]"), "{when}");
            let r = app.get("/latest/nodes?kind=checkout").await;
            assert_eq!(
                r.text,
                format!(r#"{{"items":[{expected}],"total":1,"limit":50,"offset":0}}"#),
                "{when}"
            );
        }
    };
    check("as written").await;
    let alice_id = app.stored_user("alice").await.id;
    let r = app
        .patch(
            &format!("/latest/user/{alice_id}"),
            &root,
            &json!({"username": "alice2"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    check("after a rename").await;
    let r = app.get("/latest/node/6526448e7d140ee220971a0e").await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "null"));
    let r = app.get("/latest/nodes/fast?kind=nothing").await;
    assert_eq!(r.text, "[]");
}
