//! The rest of the Python server's surface over real HTTP against the real binary: the
//! root's hello (JSON for clients, HTML for browsers).
use maestro_e2e::{Backend, Server};

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
