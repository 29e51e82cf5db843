//! Helpers of the invite and password tests: requests with headers and a peer address,
//! JWT claims, a minimal in-process SMTP server and a log capture.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use http_body_util::BodyExt;
use maestro_server::app;
use maestro_server::mail::{MailSettings, Mailer, SmtpTls};
use maestro_server::state::Onboarding;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::harness::{Resp, TestApp};

/// A request with extra headers and, optionally, the peer address a real server records.
pub(crate) async fn request(
    app_: &TestApp,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
    peer: Option<&str>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(p) = peer {
        req = req.extension(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let resp = app(app_.state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        content_type,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn post_anon(app: &TestApp, uri: &str, body: Value) -> Resp {
    app.send("POST", uri, None, Some(&body.to_string())).await
}

pub(crate) async fn login(app: &TestApp, username: &str, password: &str) -> Resp {
    let form = format!("username={username}&password={password}");
    app.send("POST", "/latest/user/login", None, Some(&form))
        .await
}

/// The claims of a JWT, unverified.
pub(crate) fn claims(token: &str) -> Value {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let payload = token.split('.').nth(1).unwrap();
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0);
    for c in payload.bytes() {
        buf = (buf << 6) | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    serde_json::from_slice(&out).unwrap()
}

pub(crate) fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

pub(crate) fn with_mail(app: &mut TestApp, port: u16) {
    let mailer = Mailer::new(&MailSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        sender: "KernelCI <bot@kernelci.example>".into(),
        password: None,
    })
    .unwrap();
    app.state.onboarding = Arc::new(Onboarding {
        mailer: Some(mailer),
        ..Onboarding::default()
    });
}

/// A message the SMTP sink received: envelope recipients and the raw DATA.
pub(crate) struct Mail {
    pub(crate) rcpt: Vec<String>,
    pub(crate) data: String,
}

impl Mail {
    pub(crate) fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
    }

    /// The body with quoted-printable soft line breaks joined.
    pub(crate) fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").unwrap().1;
        body.replace("=\r\n", "")
    }

    /// The first whitespace-delimited word after `marker` in the body.
    pub(crate) fn word_after(&self, marker: &str) -> String {
        let body = self.body();
        let rest = &body[body.find(marker).unwrap_or_else(|| panic!("{marker}")) + marker.len()..];
        rest.split_whitespace().next().unwrap().to_owned()
    }
}

/// A minimal SMTP server: enough of RFC 5321 for lettre to deliver plain messages.
pub(crate) async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(smtp_session(stream, tx.clone()));
        }
    });
    (port, rx)
}

pub(crate) async fn smtp_session(stream: tokio::net::TcpStream, tx: mpsc::UnboundedSender<Mail>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
            "RCPT" => {
                rcpt.push(line[8..].trim().to_owned());
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await.unwrap();
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l).await.unwrap_or(0) == 0 || l == ".\r\n" {
                        break;
                    }
                    data.push_str(&l);
                }
                let _ = tx.send(Mail {
                    rcpt: std::mem::take(&mut rcpt),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await.unwrap();
    }
}

/// Everything logged at any level while the guard lives, on this thread.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub(crate) fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Tests on other threads, with no subscriber, may have registered a callsite while
        // this one was being set: its cached interest ("never") would hide its lines here.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
