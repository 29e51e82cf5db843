//! Store conformance: one set of cases, each an `async fn(&dyn Store)`, run on both backends.
//!
//! `conformance_suite!` turns every case into a `sqlite::<case>` and a `mongodb::<case>` test.
//! SQLite runs in a temporary directory. MongoDB needs `MAESTRO_TEST_MONGODB_URI` (set by
//! `scripts/test.sh`); without it the MongoDB tests are skipped, unless `CI=true`, where they
//! fail. Each MongoDB test uses its own database and drops it afterwards.

// The cases are test code, but clippy's test exemption only sees `#[test]` functions.
#![allow(clippy::unwrap_used)]

// A test crate root resolves `mod x;` next to itself, so the case files need their path.
#[path = "store_conformance/events.rs"]
mod events;
#[path = "store_conformance/lifecycle.rs"]
mod lifecycle;
#[path = "store_conformance/nodes.rs"]
mod nodes;
#[path = "store_conformance/purge.rs"]
mod purge;
#[path = "store_conformance/queries.rs"]
mod queries;
#[path = "store_conformance/support.rs"]
mod support;
#[path = "store_conformance/times.rs"]
mod times;
#[path = "store_conformance/types.rs"]
mod types;
#[path = "store_conformance/users.rs"]
mod users;
#[path = "store_conformance/versions.rs"]
mod versions;

use std::any::Any;

use maestro_server::store::mongo::MongoStore;
use maestro_server::store::sqlite::SqliteStore;

/// A SQLite store in a fresh temporary directory, deleted when this is dropped.
struct SqliteBackend {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl SqliteBackend {
    fn new() -> Self {
        let dir = tempfile::TempDir::new().expect("create a temporary directory");
        let store = SqliteStore::open(&dir.path().join("data")).expect("open the SQLite store");
        Self { store, _dir: dir }
    }
}

/// A store on a fresh database of the MongoDB-wire server, or `None` (after saying why) when no
/// server is configured outside CI.
async fn mongodb_store(case: &str) -> Option<MongoStore> {
    let uri = std::env::var("MAESTRO_TEST_MONGODB_URI").unwrap_or_default();
    if uri.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "MongoDB-wire server required in CI: MAESTRO_TEST_MONGODB_URI is not set \
             (`bash scripts/test.sh` starts one and sets it)"
        );
        eprintln!("skipping mongodb::{case}: MAESTRO_TEST_MONGODB_URI is not set");
        return None;
    }
    // Database names are limited to 63 bytes.
    let short = &case[..case.len().min(40)];
    let database = format!("conf_{short}_{:016x}", rand::random::<u64>());
    match MongoStore::connect(&uri, &database).await {
        Ok(store) => Some(store),
        Err(e) => panic!("cannot connect to {uri} (database {database}): {e}"),
    }
}

/// Drops the test's database, then re-raises the case's panic if it had one.
async fn finish_mongodb(store: MongoStore, outcome: Result<(), Box<dyn Any + Send>>) {
    let dropped = store.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    if let Err(e) = dropped {
        panic!("dropping the test database failed: {e}");
    }
}

/// Instantiates every `module::case` as `sqlite::case` and `mongodb::case` tests.
macro_rules! conformance_suite {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = crate::SqliteBackend::new();
                    crate::$module::$case(&backend.store).await;
                }
            )+
        }

        mod mongodb {
            use futures::FutureExt as _;

            $(
                #[tokio::test]
                async fn $case() {
                    let Some(store) = crate::mongodb_store(stringify!($case)).await else {
                        return;
                    };
                    let outcome = std::panic::AssertUnwindSafe(crate::$module::$case(&store))
                        .catch_unwind()
                        .await;
                    crate::finish_mongodb(store, outcome).await;
                }
            )+
        }
    };
}

conformance_suite! {
    nodes::round_trip_preserves_every_field,
    nodes::get_missing_id_is_none,
    nodes::get_nodes_reads_many_and_skips_missing,
    nodes::insert_existing_id_conflicts,
    nodes::replace_missing_id_is_not_found,
    nodes::replace_overwrites_the_whole_node,
    nodes::write_nodes_is_atomic,
    nodes::batch_writes_apply_in_order,
    nodes::find_orders_by_id_with_offset_and_limit,
    nodes::count_nodes_counts_matches,
    queries::string_operators,
    queries::dotted_data_paths,
    times::datetime_operators,
    times::holdoff_null_and_ranges,
    queries::parent_queries,
    queries::id_queries,
    queries::retry_counter_comparisons,
    types::null_versus_missing,
    types::null_through_nested_paths,
    types::array_fields_match_any_element,
    types::array_field_negations,
    types::data_arrays_match_any_element,
    types::paths_through_arrays_of_objects,
    types::bool_filter,
    types::int_equality_is_typed,
    types::type_brackets,
    types::numbers_compare_numerically,
    users::users_insert_and_find,
    users::users_unique_username_and_email,
    users::update_user,
    users::groups_insert_and_find,
    users::users_listing_filters_and_deletion,
    users::groups_listing_and_deletion_when_unused,
    events::sequence_numbers_increase_by_one,
    events::an_event_is_stored_with_its_write_or_not_at_all,
    events::the_event_log_gets_every_event_in_order,
    events::events_after_pages_in_sequence_order,
    events::find_events_filters,
    events::durable_subscribers,
    versions::conditional_update_applies_only_to_the_version_read,
    versions::a_rename_carries_the_accounts_nodes,
    versions::a_user_update_applies_only_to_the_record_read,
    versions::a_group_that_nodes_name_is_not_deleted,
    lifecycle::due_nodes_are_paged_by_key_then_id,
    lifecycle::due_holdoffs_skip_null_and_future_ones,
    lifecycle::pending_descendants_are_found_at_any_depth,
    lifecycle::a_cycle_of_parents_ends_the_walk,
    lifecycle::a_wide_finished_tree_has_nothing_pending,
    purge::old_nodes_go_and_checkouts_and_recent_ones_stay,
    purge::batches_go_oldest_first_and_continue_from_their_cursor,
    purge::a_purge_deletes_every_old_node_in_batches_and_counts_them,
}

/// A SQLite store that can be closed and opened again on the same directory.
struct SqliteReopen {
    store: Option<SqliteStore>,
    dir: tempfile::TempDir,
}

impl SqliteReopen {
    fn new() -> Self {
        let dir = tempfile::TempDir::new().expect("create a temporary directory");
        let store = SqliteStore::open(&dir.path().join("data")).expect("open the SQLite store");
        Self {
            store: Some(store),
            dir,
        }
    }
}

impl events::Reopen for SqliteReopen {
    fn store(&self) -> &dyn maestro_server::store::Store {
        self.store.as_ref().expect("the store is open")
    }

    fn reopen(&mut self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            self.store = None;
            let store =
                SqliteStore::open(&self.dir.path().join("data")).expect("reopen the SQLite store");
            self.store = Some(store);
        })
    }
}

/// A MongoDB store that can be connected again to the same database.
struct MongoReopen {
    store: MongoStore,
}

impl events::Reopen for MongoReopen {
    fn store(&self) -> &dyn maestro_server::store::Store {
        &self.store
    }

    fn reopen(&mut self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let uri = std::env::var("MAESTRO_TEST_MONGODB_URI").unwrap_or_default();
            let database = self.store.database_name().to_owned();
            self.store = MongoStore::connect(&uri, &database)
                .await
                .unwrap_or_else(|e| panic!("cannot reconnect to {database}: {e}"));
        })
    }
}

/// Instantiates restart cases (`async fn(&mut dyn events::Reopen)`) as
/// `sqlite_reopen::case` and `mongodb_reopen::case` tests.
macro_rules! reopen_suite {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        mod sqlite_reopen {
            $(
                #[tokio::test]
                async fn $case() {
                    let mut backend = crate::SqliteReopen::new();
                    crate::$module::$case(&mut backend).await;
                }
            )+
        }

        mod mongodb_reopen {
            use futures::FutureExt as _;

            $(
                #[tokio::test]
                async fn $case() {
                    let Some(store) = crate::mongodb_store(stringify!($case)).await else {
                        return;
                    };
                    let mut backend = crate::MongoReopen { store };
                    let outcome =
                        std::panic::AssertUnwindSafe(crate::$module::$case(&mut backend))
                            .catch_unwind()
                            .await;
                    crate::finish_mongodb(backend.store, outcome).await;
                }
            )+
        }
    };
}

reopen_suite! {
    events::a_reopened_store_continues_the_sequence,
}
