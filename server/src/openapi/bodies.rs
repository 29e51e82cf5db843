//! Schemas of the request bodies (and small answers) that handlers decode by hand, for the
//! document: the forms of login and password change, the pub/sub bodies, telemetry events,
//! `/batch/nodeset`. Each mirrors the handler's checks (named in its doc).
// Never built: these types only describe bodies for the document.
#![allow(dead_code)]
use std::collections::BTreeMap;

use maestro_common::Timestamp;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /user/login`: an OAuth2 password-grant form (`routes/users.rs`, `Form::credentials`).
#[derive(Serialize, ToSchema)]
pub(crate) struct LoginForm {
    /// The username (or the email address).
    username: String,
    /// The password.
    password: String,
    /// `password` when sent.
    #[schema(pattern = "^password$")]
    grant_type: Option<String>,
    /// Ignored (OAuth2 scopes).
    scope: Option<String>,
}

/// `POST /user/update-password`: a form.
#[derive(Serialize, ToSchema)]
pub(crate) struct UpdatePasswordForm {
    /// The username (or the email address).
    username: String,
    /// The current password.
    password: String,
    /// The new password.
    new_password: String,
}

/// `POST /publish/{channel}` (`routes/pubsub.rs`, `publish`).
#[derive(Serialize, ToSchema)]
pub(crate) struct PublishBody {
    /// The payload: any JSON value but a falsy one (`null`, `{}`, `[]`, `""`, `0`, `false`).
    data: Value,
    /// The CloudEvent `type` (default `api.kernelci.org`).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The CloudEvent `source` (default the server's).
    source: Option<String>,
    /// Extension attributes; `type`, `source` and `owner` cannot be set this way.
    attributes: Option<BTreeMap<String, Value>>,
}

/// `POST /push/{list}` (`routes/pubsub.rs`, `push`).
#[derive(Serialize, ToSchema)]
pub(crate) struct PushBody {
    /// The item's payload.
    data: Value,
    /// The CloudEvent `type`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The CloudEvent `source`.
    source: Option<String>,
    /// Extension attributes.
    attributes: Option<BTreeMap<String, Value>>,
}

/// `PUT /batch/nodeset` (`nodes/ops.rs`, `batch_set`).
#[derive(Serialize, ToSchema)]
pub(crate) struct BatchNodeset {
    /// The ids of the nodes to set, in order.
    nodes: Vec<String>,
    /// Only `processed_by_kcidb_bridge`.
    field: String,
    /// `true` or `false` (a string).
    value: String,
}

/// One event of `POST /telemetry` (`telemetry/validate.rs`), and of `GET /telemetry`
/// (with `id`).
#[derive(Serialize, ToSchema)]
pub(crate) struct TelemetryEvent {
    /// The id (answers only).
    id: Option<String>,
    /// When it happened (default now).
    ts: Option<Timestamp>,
    /// `runtime_error`, `job_submission`, `job_skip`, `job_result` or `test_result`.
    kind: String,
    /// The runtime (lab).
    runtime: String,
    /// Device type.
    device_type: Option<String>,
    /// Device id.
    device_id: Option<String>,
    /// Job name.
    job_name: Option<String>,
    /// Test name.
    test_name: Option<String>,
    /// Job id.
    job_id: Option<String>,
    /// Node id.
    node_id: Option<String>,
    /// Tree.
    tree: Option<String>,
    /// Branch.
    branch: Option<String>,
    /// Architecture.
    arch: Option<String>,
    /// Result.
    result: Option<String>,
    /// Whether an infrastructure error.
    is_infra_error: Option<bool>,
    /// Error type.
    error_type: Option<String>,
    /// Error message.
    error_msg: Option<String>,
    /// Retry number.
    retry: Option<i64>,
    /// Anything else.
    extra: Option<BTreeMap<String, Value>>,
}

/// A page of `GET /telemetry`.
#[derive(Serialize, ToSchema)]
pub(crate) struct TelemetryPage {
    /// The events.
    items: Vec<TelemetryEvent>,
    /// How many match in all.
    total: u64,
    /// The page size.
    limit: u64,
    /// How many come before this page.
    offset: u64,
}

/// The answer of `POST /telemetry`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Inserted {
    /// How many events were stored.
    inserted: u64,
}

/// The answer of `GET /maestro/node/{id}/may-edit`.
#[derive(Serialize, ToSchema)]
pub(crate) struct MayEdit {
    /// Whether the caller may edit the node, by the rule the write paths apply.
    may_edit: bool,
}
