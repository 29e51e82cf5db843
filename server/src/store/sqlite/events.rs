//! The event history and durable subscribers of the SQLite store.
use maestro_common::event::EventRecord;
use maestro_common::{Filter, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{backend, filter_sql};
use crate::events::text::{EventTexts, texts};
use crate::events::{NewEvent, StoredEvent};
use crate::store::{StoreError, StoreResult, SubscriberState};

const EVENT_COLUMNS: &str = "seq, id, timestamp, channel, owner, treeid, attributes, doc";

/// The newest sequence number ever given (numbers are never reused).
pub(super) fn head(conn: &Connection) -> rusqlite::Result<u64> {
    // Cached: every event write asks it, in the writer's transaction.
    let n: i64 = conn
        .prepare_cached(
            "SELECT max(ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'event'), 0), \
                    ifnull((SELECT max(seq) FROM event), 0))",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Stores `event`, whose `data` serialises as `data`, with the next sequence number, inside
/// the caller's transaction; gives it back with its text as the event window keeps it.
pub(super) fn insert(
    conn: &Connection,
    event: NewEvent,
    data: &RawValue,
) -> StoreResult<(StoredEvent, Box<[u8]>)> {
    let seq = head(conn).map_err(backend)? + 1;
    let id = bson::oid::ObjectId::new().to_hex();
    let stored = StoredEvent::new(event, seq, id, Timestamp::now());
    let EventTexts {
        record: doc,
        stored: text,
    } = texts(&stored, data).map_err(backend)?;
    let attributes = if stored.attributes.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&stored.attributes).map_err(backend)?)
    };
    conn.prepare_cached(&format!(
        "INSERT INTO event ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .and_then(|mut s| {
        s.execute(params![
            i64::try_from(seq).unwrap_or(i64::MAX),
            stored.record.id,
            stored.record.timestamp.millis(),
            stored.record.channel,
            stored.record.owner,
            stored.treeid,
            attributes,
            doc,
        ])
    })
    .map_err(backend)?;
    Ok((stored, text))
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Option<String>, Option<String>, String)> {
    Ok((row.get(5)?, row.get(6)?, row.get(7)?))
}

fn decode(
    (treeid, attributes, doc): (Option<String>, Option<String>, String),
) -> StoreResult<StoredEvent> {
    let record: EventRecord = serde_json::from_str(&doc).map_err(backend)?;
    let attributes: Map<String, Value> = match attributes {
        Some(a) => serde_json::from_str(&a).map_err(backend)?,
        None => Map::new(),
    };
    Ok(StoredEvent {
        record,
        treeid,
        attributes,
    })
}

fn query(
    conn: &Connection,
    sql: &str,
    args: Vec<rusqlite::types::Value>,
) -> StoreResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), from_row)
        .map_err(backend)?;
    rows.map(|r| decode(r.map_err(backend)?)).collect()
}

fn int(n: u64) -> rusqlite::types::Value {
    rusqlite::types::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Up to `limit` events after `after`, in order.
pub(super) fn after(conn: &Connection, after: u64, limit: u64) -> StoreResult<Vec<StoredEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM event WHERE seq > ? ORDER BY seq LIMIT ?");
    query(conn, &sql, vec![int(after), int(limit)])
}

/// Events matching `filter`, in order.
pub(super) fn find(
    conn: &Connection,
    filter: &Filter,
    offset: u64,
    limit: Option<u64>,
) -> StoreResult<Vec<StoredEvent>> {
    let (clause, mut args) = filter_sql::event_where_clause(filter);
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM event WHERE {clause} ORDER BY seq LIMIT ? OFFSET ?");
    args.push(limit.map_or(rusqlite::types::Value::Integer(-1), int));
    args.push(int(offset));
    query(conn, &sql, args)
}

fn time(ms: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millis(ms).ok_or_else(|| StoreError::Backend("stored time out of range".into()))
}

/// The durable subscriber `id`.
pub(super) fn find_subscriber(conn: &Connection, id: &str) -> StoreResult<Option<SubscriberState>> {
    let row = conn
        .prepare_cached(
            "SELECT subscriber_id, channel, user, promiscuous, last_event_id, created_at, last_poll \
             FROM subscriber WHERE subscriber_id = ?",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    row.map(
        |(subscriber_id, channel, user, promiscuous, last, created, poll)| {
            Ok(SubscriberState {
                subscriber_id,
                channel,
                user,
                promiscuous,
                last_event_id: u64::try_from(last).unwrap_or(0),
                created_at: time(created)?,
                last_poll: poll.map(time).transpose()?,
            })
        },
    )
    .transpose()
}

/// Records a new durable subscriber.
pub(super) fn insert_subscriber(conn: &Connection, s: &SubscriberState) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO subscriber (subscriber_id, channel, user, promiscuous, last_event_id, created_at, last_poll) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            s.subscriber_id,
            s.channel,
            s.user,
            s.promiscuous,
            i64::try_from(s.last_event_id).unwrap_or(i64::MAX),
            s.created_at.millis(),
            s.last_poll.map(Timestamp::millis),
        ],
    )
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            StoreError::Conflict(format!("subscriber '{}' exists", s.subscriber_id))
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

/// Moves the subscriber's position forward (never back) and records the poll time.
pub(super) fn ack_subscriber(
    conn: &Connection,
    id: &str,
    seq: u64,
    at: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE subscriber SET last_event_id = max(last_event_id, ?), last_poll = ? WHERE subscriber_id = ?",
    )
    .and_then(|mut s| s.execute(params![i64::try_from(seq).unwrap_or(i64::MAX), at.millis(), id]))
    .map_err(backend)?;
    Ok(())
}
