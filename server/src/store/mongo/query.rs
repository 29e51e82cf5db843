//! Reads shared by the MongoDB store's collections: sorted, bounded finds and counted pages,
//! and the collation emails compare in.
use std::time::Duration;

use bson::{Document, doc};
use futures::TryStreamExt;
use mongodb::Collection;
use mongodb::options::{Collation, CollationStrength};

use super::backend;
use crate::store::StoreResult;

/// One page of `query` in id order, with the number of all matches.
pub(super) async fn page(
    collection: &Collection<Document>,
    query: Document,
    offset: u64,
    limit: u64,
    max_time: Duration,
) -> StoreResult<(Vec<Document>, u64)> {
    let total = collection
        .count_documents(query.clone())
        .max_time(max_time)
        .await
        .map_err(backend)?;
    let docs = find_sorted(
        collection,
        query,
        doc! {"_id": 1},
        (offset, Some(limit)),
        max_time,
    )
    .await?;
    Ok((docs, total))
}

/// Documents matching `query` in `sort` order, skipping `offset`, at most `limit` (all when
/// `None`; `Some(0)` is none, where MongoDB would read `limit: 0` as "no limit"), stopped
/// by the server after `max_time`.
pub(crate) async fn find_sorted(
    collection: &Collection<Document>,
    query: Document,
    sort: Document,
    (offset, limit): (u64, Option<u64>),
    max_time: Duration,
) -> StoreResult<Vec<Document>> {
    if limit == Some(0) {
        return Ok(Vec::new());
    }
    let mut find = collection
        .find(query)
        .sort(sort)
        .skip(offset)
        .max_time(max_time);
    if let Some(limit) = limit {
        find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    find.await
        .map_err(backend)?
        .try_collect()
        .await
        .map_err(backend)
}

/// Emails compare ignoring case, with the collation of the Python server's unique index.
pub(super) fn case_insensitive() -> Collation {
    Collation::builder()
        .locale("en".to_owned())
        .strength(CollationStrength::Secondary)
        .build()
}
