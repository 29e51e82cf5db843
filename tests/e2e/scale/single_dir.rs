//! A second server on a data directory a server already serves from (SQLite) is refused at
//! start, with a message saying why; the probes of the running one answer.
use maestro_e2e::{Backend, Server};

#[tokio::test]
async fn a_second_server_on_one_sqlite_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), Backend::Sqlite);
    let (status, stderr) = Server::run_to_exit(first.data_dir(), &Backend::Sqlite, &[]);
    let status = status.expect("the second server exits");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("already serving the data directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("MongoDB"),
        "it says how to run several: {stderr}"
    );
    let c = first.client();
    for probe in [
        "/latest/health",
        "/healthz",
        "/readyz",
        "/latest/maestro/health",
    ] {
        let (s, body) = c.call(reqwest::Method::GET, probe, None).await;
        assert_eq!(s, 200, "{probe}: {body}");
        assert_eq!(body["status"], "ok", "{probe}: {body}");
    }
    // Killed, it leaves no lock behind: the next server starts.
    let first = first.crash_and_restart();
    let (s, _) = first
        .client()
        .call(reqwest::Method::GET, "/readyz", None)
        .await;
    assert_eq!(s, 200);
}
