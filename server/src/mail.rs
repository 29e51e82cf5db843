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

use crate::secret::Secret;

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

/// What the mailer needs to know: the `--smtp-*` and `--email-*` options, as
/// `Config::mail_settings` hands them down.
#[derive(Clone, Debug)]
pub struct MailSettings {
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
    pub fn new(cfg: &MailSettings) -> Result<Self, MailError> {
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
}
