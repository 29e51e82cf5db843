//! `maestro-server purge-nodes`: one node purge now, through the store as the server's
//! background purge does (`crate::nodes::purge`), with its progress on stderr.
use anyhow::{Context, bail};
use maestro_common::{Filter, Timestamp};

use super::{Console, PurgeNodes};
use crate::config::Config;
use crate::nodes::purge::{PurgeReport, cutoff, purge_before};
use crate::store::Store;
use crate::store::purge::KEPT_KIND;

pub(super) async fn purge_nodes(
    store: &dyn Store,
    cfg: &Config,
    args: &PurgeNodes,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    let days = match (args.older_than_days, cfg.node_purge_age_days) {
        (Some(0), _) => bail!(
            "--older-than-days must be 1 or more: 0 would delete every node but the checkouts"
        ),
        (Some(days), _) => days,
        (None, 0) => bail!(
            "the node purge is off (--node-purge-age-days 0): give --older-than-days for this run"
        ),
        (None, days) => days,
    };
    if days > 36_600 {
        bail!("--older-than-days is {days}; at most 36600 (100 years) is accepted");
    }
    let before = cutoff(Timestamp::now(), days);
    if args.dry_run {
        let old = Filter::from_params([
            ("created__lt", before.to_string().as_str()),
            ("kind__ne", KEPT_KIND),
        ])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let n = store
            .count_nodes(&old)
            .await
            .context("counting the old nodes")?;
        writeln!(
            io.out,
            "{n} nodes created before {before} (more than {days} days ago) would be deleted; \
             checkouts are kept"
        )?;
        return Ok(());
    }
    let err = &mut *io.err;
    let progress = |r: &PurgeReport| {
        let _ = writeln!(
            err,
            "deleted {} nodes so far ({} batches, {:.0} nodes/s)",
            r.deleted,
            r.batches,
            r.rate()
        );
    };
    let r = purge_before(store, before, cfg.purge_batches(), None, progress)
        .await
        .context("purging nodes (those deleted so far stay deleted)")?;
    writeln!(
        io.out,
        "deleted {} nodes created before {before} (more than {days} days ago) in {:.1} s \
         ({} batches, {:.0} nodes/s); checkouts are kept",
        r.deleted,
        r.elapsed.as_secs_f64(),
        r.batches,
        r.rate()
    )?;
    Ok(())
}
