//! Outgoing email over SMTP (lettre): the invite, welcome and password-reset messages.
//!
//! Connection security follows KernelCI: port 465 means implicit TLS, any other port
//! STARTTLS (refusing to go on without it), then a login when a password is set.
//! `--smtp-tls none` allows a plain local relay or a test server.
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{Config, Secret};

/// How long one SMTP command may take before sending gives up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The port whose connections are TLS from the first byte (SMTPS).
const IMPLICIT_TLS_PORT: u16 = 465;

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// Plain text, for a local relay or a test server only.
    None,
    /// A plain connection upgraded with STARTTLS; sending fails if the server cannot.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl SmtpTls {
    /// KernelCI's rule when nothing is configured: 465 is implicit TLS, others STARTTLS.
    pub fn for_port(port: u16) -> Self {
        if port == IMPLICIT_TLS_PORT {
            Self::Tls
        } else {
            Self::Starttls
        }
    }
}

/// What the mailer needs to know; see the `--smtp-*` and `--email-*` options.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// SMTP server name (also the name its TLS certificate must have).
    pub host: String,
    /// SMTP server port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// The `From` address, also the login name.
    pub sender: String,
    /// Login password; no login when `None`.
    pub password: Option<Secret>,
}

impl MailConfig {
    /// The mail settings of `cfg`, or `None` when no SMTP host is set (email disabled).
    /// A host without a sender address is a configuration error.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Option<Self>> {
        let Some(host) = cfg.smtp_host.clone().filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let sender = cfg
            .email_sender
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--smtp-host needs --email-sender (EMAIL_SENDER)"))?;
        Ok(Some(Self {
            host,
            port: cfg.smtp_port,
            tls: cfg
                .smtp_tls
                .unwrap_or_else(|| SmtpTls::for_port(cfg.smtp_port)),
            sender,
            password: cfg.email_password.clone().filter(|p| !p.0.is_empty()),
        }))
    }
}

/// Why an email was not sent. The text never holds the message body.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient or sender is not a usable address.
    #[error("bad address {0:?}: {1}")]
    Address(String, String),
    /// The message could not be built.
    #[error("building the message: {0}")]
    Build(String),
    /// The SMTP exchange failed (connection, TLS, login, refusal, timeout).
    #[error("SMTP: {0}")]
    Smtp(String),
}

/// Sends plain-text emails through one SMTP server; cheap to share.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for `cfg`. Nothing is contacted until the first message.
    pub fn new(cfg: &MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = cfg
            .sender
            .parse()
            .map_err(|e| MailError::Address(cfg.sender.clone(), format!("{e}")))?;
        let smtp = |e: lettre::transport::smtp::Error| MailError::Smtp(e.to_string());
        let builder = match cfg.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host).map_err(smtp)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(smtp)?,
        };
        let mut builder = builder.port(cfg.port).timeout(Some(SMTP_TIMEOUT));
        if let Some(password) = &cfg.password {
            builder = builder.credentials(Credentials::new(cfg.sender.clone(), password.0.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Address(to.to_owned(), format!("{e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| MailError::Smtp(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_defaults_from_the_port_as_kernelci() {
        assert_eq!(SmtpTls::for_port(465), SmtpTls::Tls);
        assert_eq!(SmtpTls::for_port(587), SmtpTls::Starttls);
        assert_eq!(SmtpTls::for_port(25), SmtpTls::Starttls);
    }

    #[test]
    fn mail_is_off_without_a_host_and_needs_a_sender_with_one() {
        let mut cfg = Config::embedded("unused".into());
        assert!(MailConfig::from_config(&cfg).unwrap().is_none());
        cfg.smtp_host = Some("smtp.example.org".into());
        assert!(MailConfig::from_config(&cfg).is_err());
        cfg.email_sender = Some("bot@example.org".into());
        let mail = MailConfig::from_config(&cfg).unwrap().unwrap();
        assert_eq!((mail.port, mail.tls), (587, SmtpTls::Starttls));
        assert!(mail.password.is_none());
        cfg.smtp_port = 465;
        assert_eq!(
            MailConfig::from_config(&cfg).unwrap().unwrap().tls,
            SmtpTls::Tls
        );
        cfg.smtp_tls = Some(SmtpTls::None);
        assert_eq!(
            MailConfig::from_config(&cfg).unwrap().unwrap().tls,
            SmtpTls::None
        );
        assert!(Mailer::new(&MailConfig::from_config(&cfg).unwrap().unwrap()).is_ok());
    }
}
