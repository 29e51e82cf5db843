//! The two-store harness of the router suites (security, hardening): a fresh database of
//! the MongoDB-wire server per case, dropped afterwards, and `two_store_suite!`, which makes
//! a `sqlite::<case>` and a `mongodb::<case>` test of every `module::case`
//! (an `async fn(TestApp)`).
use std::any::Any;

use maestro_server::store::mongo::MongoStore;

/// A store on a fresh database of the MongoDB-wire server, or `None` (after saying why)
/// when no server is configured outside CI, where it is required.
pub async fn mongodb_store(case: &str) -> Option<MongoStore> {
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
    let database = format!("t_{short}_{:016x}", rand::random::<u64>());
    match MongoStore::connect(&uri, &database).await {
        Ok(store) => Some(store),
        Err(e) => panic!("cannot connect to {uri} (database {database}): {e}"),
    }
}

/// Drops the test's database, then re-raises the case's panic if it had one.
pub async fn finish_mongodb(store: &MongoStore, outcome: Result<(), Box<dyn Any + Send>>) {
    let dropped = store.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    if let Err(e) = dropped {
        panic!("dropping the test database failed: {e}");
    }
}

/// Instantiates every `module::case` as `sqlite::case` and `mongodb::case` tests, each on
/// a fresh store (SQLite in a temporary directory).
macro_rules! two_store_suite {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        mod sqlite {
            use std::sync::Arc;

            use maestro_server::store::sqlite::SqliteStore;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let dir = tempfile::TempDir::new().expect("create a temporary directory");
                    let store = SqliteStore::open(&dir.path().join("data"))
                        .expect("open the SQLite store");
                    let app = crate::support::TestApp::new(Arc::new(store));
                    crate::$module::$case(app).await;
                }
            )+
        }

        mod mongodb {
            use std::sync::Arc;

            use futures::FutureExt as _;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(store) = crate::two_stores::mongodb_store(stringify!($case)).await
                    else {
                        return;
                    };
                    let store = Arc::new(store);
                    let app = crate::support::TestApp::new(store.clone());
                    let outcome = std::panic::AssertUnwindSafe(crate::$module::$case(app))
                        .catch_unwind()
                        .await;
                    crate::two_stores::finish_mongodb(&store, outcome).await;
                }
            )+
        }
    };
}
