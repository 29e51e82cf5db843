//! Several stores on one database, as several servers would hold them: one event order for
//! all of them, holes given up or fenced (never an event dropped), a store starting while a
//! number is in flight, shared lists and subscription ids.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::doc;
use serde_json::{Map, Value, json};

use super::{node, store, uri};
use crate::events::{NewEvent, Since};
use crate::store::mongo::feed::HOLE_WAIT;
use crate::store::mongo::{MongoStore, sequence};
use crate::store::{NodeWrite, SharedStore, Store};

fn event(n: usize) -> NewEvent {
    NewEvent {
        channel: "node".into(),
        owner: None,
        data: json!({"n": n}),
        treeid: None,
        attributes: Map::new(),
    }
}

async fn publish(s: &MongoStore, n: usize) -> u64 {
    s.write_nodes_with_event(Vec::new(), Some(event(n)))
        .await
        .unwrap()
        .unwrap()
        .seq()
}

/// Another store on the database of `s`.
async fn peer(s: &MongoStore) -> MongoStore {
    MongoStore::connect(&uri().unwrap(), s.database_name())
        .await
        .unwrap()
}

/// Waits until the log of `s` reaches `head`; panics after 20 s.
async fn reach(s: &MongoStore, head: u64) {
    let mut watch = s.event_log().watch();
    let reached = tokio::time::timeout(Duration::from_secs(20), watch.wait_for(|h| *h >= head));
    assert!(
        reached.await.is_ok(),
        "the log stayed at {} below {head}",
        s.event_log().head()
    );
}

/// The sequence numbers and payloads in the log of `s`.
fn logged(s: &MongoStore) -> Vec<(u64, Value)> {
    logged_after(s, 0)
}

/// The sequence numbers and payloads in the log of `s`, after `after`.
fn logged_after(s: &MongoStore, after: u64) -> Vec<(u64, Value)> {
    let Since::Events(events) = s.event_log().since(after, usize::MAX) else {
        panic!("the log lost events");
    };
    events
        .iter()
        .map(|e| (e.seq(), e.record.data.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_on_one_database_get_every_event_in_one_order() {
    let Some(a) = store("scale_order").await else {
        return;
    };
    let b = peer(&a).await;
    let c = peer(&a).await;
    let stores = [&a, &b, &c];
    let writers = (0..6).map(|w| {
        let s = stores[w % 3];
        async move {
            for r in 0..20 {
                let n = node("test", &format!("w{w}-r{r}"), None);
                s.write_nodes_with_event(vec![NodeWrite::Insert(n)], Some(event(w * 100 + r)))
                    .await
                    .unwrap();
            }
        }
    });
    futures::future::join_all(writers).await;
    for s in stores {
        reach(s, 120).await;
    }
    let first = logged(&a);
    assert_eq!(
        first.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=120).collect::<Vec<_>>(),
        "every number once, in order, no hole"
    );
    let payloads: HashSet<String> = first.iter().map(|(_, d)| d.to_string()).collect();
    assert_eq!(payloads.len(), 120, "every event once");
    assert_eq!(logged(&b), first, "the same order on every store");
    assert_eq!(logged(&c), first);
    a.drop_database().await.unwrap();
}

/// As [`stores_on_one_database_get_every_event_in_one_order`], with the feed reading by
/// sequence every 20 ms instead of from change streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_feed_gets_every_event_of_every_store_in_one_order() {
    let Some(a) = store("scale_poll").await else {
        return;
    };
    let every = Some(Duration::from_millis(20));
    let a = a.with_event_feed_poll(every);
    let b = peer(&a).await.with_event_feed_poll(every);
    let stores = [&a, &b];
    let writers = (0..4).map(|w| {
        let s = stores[w % 2];
        async move {
            for r in 0..15 {
                publish(s, w * 100 + r).await;
            }
        }
    });
    futures::future::join_all(writers).await;
    for s in stores {
        reach(s, 60).await;
    }
    let first = logged(&a);
    assert_eq!(
        first.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=60).collect::<Vec<_>>(),
        "every number once, in order"
    );
    let payloads: HashSet<String> = first.iter().map(|(_, d)| d.to_string()).collect();
    assert_eq!(payloads.len(), 60, "every event once");
    assert_eq!(logged(&b), first, "the same order on both stores");
    a.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_nobody_claims_is_waited_for_then_fenced_and_skipped() {
    let Some(a) = store("scale_fence").await else {
        return;
    };
    let b = peer(&a).await;
    assert_eq!(publish(&a, 1).await, 1);
    // A writer that took 2 and died before claiming it.
    assert_eq!(sequence::allocate(&a.counters).await.unwrap(), 2);
    let started = Instant::now();
    assert_eq!(publish(&a, 3).await, 3);
    assert_eq!(a.event_log().head(), 1, "3 waits for 2");
    for s in [&a, &b] {
        reach(s, 3).await;
    }
    assert!(started.elapsed() >= HOLE_WAIT, "{:?}", started.elapsed());
    let hole = a
        .claims
        .find_one(doc! {"_id": 2_i64})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hole.get_bool("hole"), Ok(true));
    let seqs = |s| {
        logged(s)
            .into_iter()
            .map(|(seq, _)| seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&a), [1, 3]);
    assert_eq!(seqs(&b), [1, 3]);
    a.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_waits_for_the_transaction_that_claimed_the_number() {
    let Some(a) = store("scale_claim").await else {
        return;
    };
    for commit in [true, false] {
        let seq = sequence::allocate(&a.counters).await.unwrap();
        let mut session = a.client.start_session().await.unwrap();
        session.start_transaction().await.unwrap();
        a.claims
            .insert_one(sequence::claim(seq))
            .session(&mut session)
            .await
            .unwrap();
        let claims = a.claims.clone();
        let fence = tokio::spawn(async move { sequence::fence(&claims, seq).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !fence.is_finished(),
            "the fence waits while the claim is open"
        );
        if commit {
            session.commit_transaction().await.unwrap();
        } else {
            session.abort_transaction().await.unwrap();
        }
        let hole = fence.await.unwrap().unwrap();
        assert_eq!(
            hole, !commit,
            "a hole only when the claim was not committed"
        );
    }
    a.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_starting_while_a_number_is_in_flight_starts_below_it() {
    let Some(a) = store("scale_start").await else {
        return;
    };
    for n in 1..=3 {
        publish(&a, n).await;
    }
    // 4 is in flight (taken, not claimed) while 5 commits.
    assert_eq!(sequence::allocate(&a.counters).await.unwrap(), 4);
    assert_eq!(publish(&a, 5).await, 5);
    let late = peer(&a).await;
    assert_eq!(
        late.event_log().head(),
        3,
        "5 is not history before 4 is resolved"
    );
    reach(&late, 5).await;
    assert_eq!(
        logged_after(&late, 3)
            .into_iter()
            .map(|(seq, _)| seq)
            .collect::<Vec<_>>(),
        [5],
        "5 is delivered to the late store's listeners, once 4 is fenced"
    );
    a.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_items_are_taken_once_in_push_order_across_stores() {
    let Some(a) = store("scale_lists").await else {
        return;
    };
    let b = Arc::new(peer(&a).await);
    let a = Arc::new(a);
    let item = |n: usize| json!({"n": n}).as_object().cloned().unwrap();
    for n in 0..40 {
        let s = if n % 2 == 0 { &a } else { &b };
        s.list_push("q", &item(n)).await.unwrap();
    }
    let first = a.list_pop("q").await.unwrap().unwrap();
    assert_eq!(first["n"], 0, "the oldest first, whichever store pushed it");
    let poppers = (0..4).map(|p| {
        let s: Arc<MongoStore> = if p % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(item) = s.list_pop("q").await.unwrap() {
                got.push(item["n"].as_u64().unwrap());
            }
            got
        })
    });
    let mut all = vec![0];
    for p in poppers {
        let got = p.await.unwrap();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (0..40).collect::<Vec<u64>>(), "each item once");
    assert_eq!(a.list_pop("q").await.unwrap(), None);
    a.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscription_ids_are_unique_across_stores_and_above_the_clock() {
    let clock = u64::try_from(bson::DateTime::now().timestamp_millis()).unwrap();
    let Some(a) = store("scale_ids").await else {
        return;
    };
    let b = peer(&a).await;
    async fn take(s: &MongoStore) -> Vec<u64> {
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(s.new_subscription_id().await.unwrap().unwrap());
        }
        ids
    }
    let (x, y) = tokio::join!(take(&a), take(&b));
    let all: HashSet<u64> = x.iter().chain(&y).copied().collect();
    assert_eq!(all.len(), 100, "no id given twice");
    assert!(
        all.iter().all(|id| *id >= clock),
        "ids continue from the clock's"
    );
    a.drop_database().await.unwrap();
}

/// `s` takes the next number and claims it in a transaction left open, as its write path
/// does before writing the nodes; the number and the session.
async fn claim_in_open_transaction(s: &MongoStore) -> (u64, mongodb::ClientSession) {
    let seq = sequence::allocate(&s.counters).await.unwrap();
    let mut session = s.client.start_session().await.unwrap();
    s.registry.track(&session).await;
    session.start_transaction().await.unwrap();
    s.claims
        .insert_one(sequence::claim(seq))
        .session(&mut session)
        .await
        .unwrap();
    (seq, session)
}

/// `seq` was fenced as a hole, and the transaction that claimed it no longer commits.
async fn assert_fenced_and_aborted(s: &MongoStore, seq: u64, mut session: mongodb::ClientSession) {
    let hole = s
        .claims
        .find_one(doc! {"_id": i64::try_from(seq).unwrap()})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hole.get_bool("hole"), Ok(true));
    assert!(
        session.commit_transaction().await.is_err(),
        "the transaction that claimed {seq} was aborted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_transaction_of_a_dead_store_is_aborted_by_the_others() {
    let Some(a) = store("scale_reap").await else {
        return;
    };
    let dead = peer(&a).await;
    assert_eq!(publish(&a, 1).await, 1);
    // `dead` claims 2 in a transaction, and dies before committing (its process would be
    // gone; here its beat stops and the transaction stays open).
    let (seq, session) = claim_in_open_transaction(&dead).await;
    assert_eq!(seq, 2);
    dead.registry.fall_silent();
    let started = Instant::now();
    assert_eq!(publish(&a, 3).await, 3);
    reach(&a, 3).await;
    // The beat's silence, then the reap: seconds, not MongoDB's transaction lifetime.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_fenced_and_aborted(&a, seq, session).await;
    a.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_given_up_mid_transaction_is_aborted_at_once() {
    let Some(a) = store("scale_abandon").await else {
        return;
    };
    let writer = peer(&a).await;
    assert_eq!(publish(&a, 1).await, 1);
    // `writer` claims 2 in a transaction, as its write path does, and then the request
    // gives up (the store's time bound dropped the write's future): its guard is dropped
    // while the transaction is open. The store stays alive and beating, so no reaper would
    // abort the transaction; only the guard does.
    let (seq, session) = claim_in_open_transaction(&writer).await;
    assert_eq!(seq, 2);
    drop(writer.registry.abandon_guard(&session));
    let started = Instant::now();
    assert_eq!(publish(&a, 3).await, 3);
    reach(&a, 3).await;
    reach(&writer, 3).await;
    // The hole rule's wait and a fence: a second or two, not MongoDB's transaction lifetime
    // (60 s), which readers waited for before the guard existed.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_fenced_and_aborted(&a, seq, session).await;
    a.drop_database().await.unwrap();
}
