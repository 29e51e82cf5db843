//! The rest of the Python server's surface over real HTTP against the real binary: the
//! root's hello (JSON for clients, HTML for browsers); key/value pairs and telemetry
//! surviving a crash.
use maestro_e2e::{Backend, Client, Server};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn hello_is_json_for_clients_and_html_for_browsers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Backend::Sqlite);
    let http = reqwest::Client::new();
    for path in ["/latest/", "/latest", "/", "/v0/"] {
        // What `kci api hello` and the Python server's end-to-end suite send.
        let r = http
            .get(format!("{}{path}", server.client().base))
            .header("accept", "*/*")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["message"], "KernelCI API", "{path}");
        let r = http
            .get(format!("{}{path}", server.client().base))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ctype.starts_with("text/html"), "{path}: {ctype}");
        assert!(r.text().await.unwrap().contains("KernelCI API"), "{path}");
    }
}

async fn kv_and_telemetry_survive_a_crash(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), backend);
    let admin = server.admin().await;
    let uri = "/latest/kv/pipeline/last-checkout";
    let (s, v) = admin.call(Method::POST, uri, Some(&json!("abc123"))).await;
    assert_eq!((s, v), (200, json!("OK")));
    let events = json!([{"kind": "job_result", "runtime": "lava", "result": "pass"},
                        {"kind": "job_result", "runtime": "lava", "result": "fail"}]);
    let (s, v) = admin
        .call(Method::POST, "/latest/telemetry", Some(&events))
        .await;
    assert_eq!((s, v), (200, json!({"inserted": 2})));
    let server = server.crash_and_restart();
    // A new connection pool: the old one's keep-alive connection died with the server. The
    // token issued before the crash is kept.
    let admin = Client {
        http: reqwest::Client::new(),
        ..admin
    };
    let (s, v) = admin.call(Method::GET, uri, None).await;
    assert_eq!((s, v), (200, json!("abc123")));
    let (s, v) = server.client().call(Method::GET, uri, None).await;
    assert_eq!((s, v), (401, json!({"detail": "Unauthorized"})));
    let stats = server
        .client()
        .get("/latest/telemetry/stats?group_by=lab")
        .await;
    assert_eq!(
        stats,
        json!([{"lab": "lava", "total": 2, "pass": 1, "fail": 1, "incomplete": 0,
                "skip": 0, "infra_error": 0}])
    );
}

#[tokio::test]
async fn sqlite_kv_and_telemetry_survive_a_crash() {
    kv_and_telemetry_survive_a_crash(Backend::Sqlite).await;
}

#[tokio::test]
async fn mongodb_kv_and_telemetry_survive_a_crash() {
    if let Some(b) = Backend::mongo("kv") {
        kv_and_telemetry_survive_a_crash(b).await;
    }
}
