//! The node writes of one transaction attempt in as few commands as the server allows:
//! every replace in one `update` command and every insert in one `insert` command, split
//! only past the server's batch limits, instead of a round trip per node (a hierarchy PUT
//! of 1,000 tests took 1,001).
use std::collections::{HashMap, HashSet};

use bson::oid::ObjectId;
use bson::{Bson, RawArrayBuf, RawDocumentBuf, doc, rawdoc};
use futures::TryStreamExt;
use mongodb::ClientSession;
use mongodb::error::ErrorKind;

use super::{Failure, Prepared, insert_failure, missing_or_stale};
use crate::store::StoreError;
use crate::store::mongo::MongoStore;

/// Most statements in one `update` command (MongoDB takes up to 100,000).
const MAX_STATEMENTS: usize = 1_000;
/// Most bytes of statements in one `update` command: well under the 16 MiB a command may
/// be, with room for the command's own fields.
const MAX_BYTES: usize = 8 << 20;

/// Applies `writes` in `session`, as if one by one in order. The replaces of nodes the
/// batch has not inserted before them go first, in one command (they touch only stored
/// nodes, so this changes at most which verdict a batch failing two ways gets); the
/// rest follow in runs of one kind, a command per run (a node inserted and then replaced
/// by the same batch is replaced after its insert). A hierarchy is two commands.
pub(super) async fn apply(
    store: &MongoStore,
    session: &mut ClientSession,
    writes: &[Prepared],
) -> Result<(), Failure> {
    let mut inserted = HashSet::new();
    let mut early = Vec::new();
    let mut rest = Vec::new();
    for w in writes {
        if w.insert {
            inserted.insert(w.id);
            rest.push(w);
        } else if inserted.contains(&w.id) {
            rest.push(w);
        } else {
            early.push(w);
        }
    }
    replace_all(store, session, &early).await?;
    for run in rest.chunk_by(|a, b| a.insert == b.insert) {
        if run.first().is_some_and(|w| w.insert) {
            insert_all(store, session, run).await?;
        } else {
            replace_all(store, session, run).await?;
        }
    }
    Ok(())
}

async fn replace_all(
    store: &MongoStore,
    session: &mut ClientSession,
    replaces: &[&Prepared],
) -> Result<(), Failure> {
    if let [one] = replaces {
        return replace_one(store, session, one).await;
    }
    for chunk in chunks(replaces)? {
        replace_many(store, session, &chunk).await?;
    }
    Ok(())
}

async fn replace_one(
    store: &MongoStore,
    session: &mut ClientSession,
    w: &Prepared,
) -> Result<(), Failure> {
    let result = store
        .nodes
        .replace_one(w.filter.clone(), &w.doc)
        .session(&mut *session)
        .await
        .map_err(Failure::Driver)?;
    if result.matched_count == 0 {
        let exists = store
            .nodes
            .count_documents(doc! {"_id": w.id})
            .session(&mut *session)
            .await
            .map_err(Failure::Driver)?;
        return Err(Failure::Store(missing_or_stale(w.id, exists > 0)));
    }
    Ok(())
}

/// One replace statement (`q`, `u`) of an `update` command.
struct Statement<'a> {
    write: &'a Prepared,
    raw: RawDocumentBuf,
}

/// The replaces as statements, in commands of at most [`MAX_STATEMENTS`] and about
/// [`MAX_BYTES`] (a single larger statement goes alone).
fn chunks<'a>(replaces: &[&'a Prepared]) -> Result<Vec<Vec<Statement<'a>>>, Failure> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<Statement<'a>> = Vec::new();
    let mut bytes = 0;
    for w in replaces {
        let raw = statement(w)?;
        let size = raw.as_bytes().len();
        if !chunk.is_empty() && (chunk.len() >= MAX_STATEMENTS || bytes + size > MAX_BYTES) {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.push(Statement { write: w, raw });
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    Ok(chunks)
}

fn statement(w: &Prepared) -> Result<RawDocumentBuf, Failure> {
    let raw = |d: &bson::Document| {
        RawDocumentBuf::from_document(d).map_err(|e| Failure::Store(StoreError::Backend(e.into())))
    };
    Ok(rawdoc! {"q": raw(&w.filter)?, "u": raw(&w.doc)?})
}

/// One `update` command of replaces; a statement that matched nothing (the node is gone,
/// or no longer the version read) fails the batch as `replace_one` would.
async fn replace_many(
    store: &MongoStore,
    session: &mut ClientSession,
    chunk: &[Statement<'_>],
) -> Result<(), Failure> {
    let mut updates = RawArrayBuf::new();
    for s in chunk {
        updates.push(s.raw.clone());
    }
    let reply = store
        .db
        .run_raw_command(rawdoc! {
            "update": store.nodes.name(),
            "updates": updates,
            "ordered": true,
        })
        .session(&mut *session)
        .await
        .map_err(Failure::Driver)?;
    // A statement's own error (the command itself succeeded): the transaction is aborted.
    if let Ok(errors) = reply.get_array("writeErrors")
        && let Some(Bson::Document(first)) = errors.first()
    {
        return Err(Failure::Store(StoreError::Backend(
            format!("replacing nodes: {first}").into(),
        )));
    }
    let matched = match reply.get("n") {
        Some(Bson::Int32(n)) => usize::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => usize::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    if matched < chunk.len() {
        return Err(unmatched(store, session, chunk).await);
    }
    Ok(())
}

/// Why some replace of `chunk` matched nothing, in statement order: the first node that is
/// gone (`NotFound`) or does not hold what we wrote (`Stale`). Read in the transaction,
/// whose own replaces it sees.
async fn unmatched(
    store: &MongoStore,
    session: &mut ClientSession,
    chunk: &[Statement<'_>],
) -> Failure {
    let ids: Vec<ObjectId> = chunk.iter().map(|s| s.write.id).collect();
    let found: Result<Vec<bson::Document>, _> = async {
        let mut cursor = store
            .nodes
            .find(doc! {"_id": {"$in": &ids}})
            .projection(doc! {"updated": 1})
            .session(&mut *session)
            .await?;
        cursor.stream(&mut *session).try_collect().await
    }
    .await;
    let found = match found {
        Ok(found) => found,
        Err(e) => return Failure::Driver(e),
    };
    let stored: HashMap<ObjectId, Option<&Bson>> = found
        .iter()
        .filter_map(|d| Some((d.get_object_id("_id").ok()?, d.get("updated"))))
        .collect();
    for s in chunk {
        match stored.get(&s.write.id) {
            None => return Failure::Store(missing_or_stale(s.write.id, false)),
            Some(updated) if *updated != s.write.doc.get("updated") => {
                return Failure::Store(missing_or_stale(s.write.id, true));
            }
            Some(_) => {}
        }
    }
    // Each holds our `updated`, yet fewer matched: another writer wrote the same instant.
    Failure::Store(missing_or_stale(chunk[0].write.id, true))
}

/// The inserts in one `insert_many` (which the driver splits only past the server's
/// message size); a taken id fails the batch as `Conflict`, naming that node.
async fn insert_all(
    store: &MongoStore,
    session: &mut ClientSession,
    inserts: &[&Prepared],
) -> Result<(), Failure> {
    match inserts {
        [] => Ok(()),
        [one] => store
            .nodes
            .insert_one(&one.doc)
            .session(&mut *session)
            .await
            .map(drop)
            .map_err(|e| insert_failure(e, one.id)),
        many => store
            .nodes
            .insert_many(many.iter().map(|w| &w.doc))
            .session(&mut *session)
            .await
            .map(drop)
            .map_err(|e| {
                let failed = match e.kind.as_ref() {
                    ErrorKind::InsertMany(m) => m
                        .write_errors
                        .as_ref()
                        .and_then(|errors| errors.first())
                        .and_then(|w| many.get(w.index)),
                    _ => None,
                };
                match failed {
                    Some(w) => insert_failure(e, w.id),
                    None => Failure::Driver(e),
                }
            }),
    }
}
