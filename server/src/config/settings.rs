//! The plain settings of the server's parts, built from the options: the mailer's, the
//! life-cycle sweeps' and the node purge's. The parts never read a `Config` themselves.
use std::time::Duration;

use super::Config;
use crate::lifecycle::LifecycleConfig;
use crate::mail::{MailSettings, SmtpTls};
use crate::nodes::purge::{NodePurgeConfig, PurgeBatches};

impl Config {
    /// The mail settings, or `None` when no SMTP host is set (email disabled). A host
    /// without a sender address is a configuration error.
    pub fn mail_settings(&self) -> anyhow::Result<Option<MailSettings>> {
        let Some(host) = self.smtp_host.clone().filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let sender = self
            .email_sender
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--smtp-host needs --email-sender (EMAIL_SENDER)"))?;
        Ok(Some(MailSettings {
            host,
            port: self.smtp_port,
            tls: self
                .smtp_tls
                .unwrap_or_else(|| SmtpTls::for_port(self.smtp_port)),
            sender,
            password: self.email_password.clone().filter(|p| !p.0.is_empty()),
        }))
    }

    /// How often each life-cycle rule is swept; `None` with `--no-lifecycle`.
    pub fn lifecycle(&self) -> Option<LifecycleConfig> {
        // 0 would make a busy loop: one second at least.
        let secs = |s: u64| Duration::from_secs(s.max(1));
        (!self.no_lifecycle).then(|| LifecycleConfig {
            timeout_every: secs(self.lifecycle_timeout_interval_secs),
            holdoff_every: secs(self.lifecycle_holdoff_interval_secs),
            closing_every: secs(self.lifecycle_closing_interval_secs),
        })
    }

    /// How the node purge deletes (for the background purge and `purge-nodes`).
    pub fn purge_batches(&self) -> PurgeBatches {
        PurgeBatches {
            size: self.node_purge_batch.max(1),
            pause: Duration::from_millis(self.node_purge_pause_ms),
        }
    }

    /// When the background node purge runs; `None` with `--node-purge-age-days 0`.
    pub fn node_purge(&self) -> Option<NodePurgeConfig> {
        // A period of 0 would make a busy loop: one second at least.
        let period = Duration::from_secs(self.node_purge_interval_secs.max(1));
        (self.node_purge_age_days > 0).then(|| NodePurgeConfig {
            age_days: self.node_purge_age_days,
            first_delay: Duration::from_secs(self.node_purge_first_delay_secs),
            period,
            retry: Duration::from_secs(super::defaults::NODE_PURGE_RETRY_SECS),
            batches: self.purge_batches(),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::mail::Mailer;

    #[test]
    fn mail_is_off_without_a_host_and_needs_a_sender_with_one() {
        let mut cfg = Config::embedded("unused".into());
        assert!(cfg.mail_settings().unwrap().is_none());
        cfg.smtp_host = Some("smtp.example.org".into());
        assert!(cfg.mail_settings().is_err());
        cfg.email_sender = Some("bot@example.org".into());
        let mail = cfg.mail_settings().unwrap().unwrap();
        assert_eq!((mail.port, mail.tls), (587, SmtpTls::Starttls));
        assert!(mail.password.is_none());
        cfg.smtp_port = 465;
        assert_eq!(cfg.mail_settings().unwrap().unwrap().tls, SmtpTls::Tls);
        cfg.smtp_tls = Some(SmtpTls::None);
        assert_eq!(cfg.mail_settings().unwrap().unwrap().tls, SmtpTls::None);
        assert!(Mailer::new(&cfg.mail_settings().unwrap().unwrap()).is_ok());
    }

    #[test]
    fn lifecycle_is_on_by_default_and_no_lifecycle_turns_it_off() {
        let cfg = Config::parse_from(["maestro-server"]);
        let five = Duration::from_secs(5);
        assert_eq!(
            cfg.lifecycle(),
            Some(LifecycleConfig {
                timeout_every: five,
                holdoff_every: five,
                closing_every: five,
            })
        );
        let off = Config::parse_from(["maestro-server", "--no-lifecycle"]);
        assert!(off.no_lifecycle);
        assert_eq!(off.lifecycle(), None);
        let tuned = Config::parse_from([
            "maestro-server",
            "--lifecycle-timeout-interval-secs",
            "7",
            "--lifecycle-holdoff-interval-secs",
            "0",
            "--lifecycle-closing-interval-secs",
            "30",
        ]);
        let tuned = tuned.lifecycle().unwrap();
        assert_eq!(tuned.timeout_every, Duration::from_secs(7));
        // 0 would make a busy loop: one second at least.
        assert_eq!(tuned.holdoff_every, Duration::from_secs(1));
        assert_eq!(tuned.closing_every, Duration::from_secs(30));
        let mut huge = Config::parse_from(["maestro-server"]);
        huge.lifecycle_closing_interval_secs = 100_000;
        assert!(
            huge.validate()
                .unwrap_err()
                .contains("--lifecycle-closing-interval-secs")
        );
    }

    #[test]
    fn node_purge_defaults_are_the_python_servers_and_age_0_turns_it_off() {
        let cfg = Config::parse_from(["maestro-server"]);
        let purge = cfg.node_purge().unwrap();
        assert_eq!(purge.age_days, 180);
        assert_eq!(purge.first_delay, Duration::from_secs(600));
        assert_eq!(purge.period, Duration::from_secs(86_400));
        assert_eq!(purge.retry, Duration::from_secs(3_600));
        assert_eq!(
            purge.batches,
            PurgeBatches {
                size: 10_000,
                pause: Duration::from_secs(1)
            }
        );
        let off = Config::parse_from(["maestro-server", "--node-purge-age-days", "0"]);
        assert_eq!(off.node_purge(), None);
        let tuned = Config::parse_from([
            "maestro-server",
            "--node-purge-age-days",
            "30",
            "--node-purge-first-delay-secs",
            "0",
            "--node-purge-interval-secs",
            "60",
            "--node-purge-batch",
            "500",
            "--node-purge-pause-ms",
            "0",
        ]);
        let tuned = tuned.node_purge().unwrap();
        assert_eq!((tuned.age_days, tuned.first_delay), (30, Duration::ZERO));
        assert_eq!(tuned.period, Duration::from_secs(60));
        assert_eq!(tuned.batches.size, 500);
        assert_eq!(tuned.batches.pause, Duration::ZERO);
        let zero = Config::parse_from(["maestro-server", "--node-purge-batch", "0"]);
        assert!(zero.validate().unwrap_err().contains("--node-purge-batch"));
        let huge = Config::parse_from(["maestro-server", "--node-purge-batch", "1000000"]);
        assert!(huge.validate().unwrap_err().contains("--node-purge-batch"));
    }
}
