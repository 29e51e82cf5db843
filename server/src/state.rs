//! `AppState`: the cheap, cloneable handles every handler can reach.
use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::store::Store;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// Where nodes and users live.
    pub store: Arc<dyn Store>,
    /// Signs and checks access tokens.
    pub tokens: Arc<TokenKeys>,
}
