//! Pipeline telemetry (kernelci-api.md section 11): the `TelemetryEvent` record, its
//! validation as the Python model's, the stats and anomaly reports, and the 14-day retention.
use maestro_common::Timestamp;
use maestro_common::node::ObjectIdHex;
use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) mod pyrepr;
pub mod report;
pub mod retention;
pub mod validate;

/// How long events are kept: the Python server's default `TELEMETRY_TTL_SECONDS` (14 days),
/// the TTL of its `telemetry` index.
pub const TELEMETRY_TTL_SECONDS: u64 = 1_209_600;

/// One telemetry event, as stored and as `GET /telemetry` shows it (fields in the order of
/// the Python model, `id` first).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TelemetryEvent {
    /// 24-hex ObjectId, given by the server when the event is stored.
    pub id: ObjectIdHex,
    /// When it happened (now when the client left it out).
    pub ts: Timestamp,
    /// `runtime_error`, `job_submission`, `job_skip`, `job_result`, `test_result`, ...
    pub kind: String,
    /// The runtime (lab) it comes from.
    pub runtime: String,
    /// Device type (platform).
    pub device_type: Option<String>,
    /// The physical device.
    pub device_id: Option<String>,
    /// Job name.
    pub job_name: Option<String>,
    /// Test name.
    pub test_name: Option<String>,
    /// The runtime's job id.
    pub job_id: Option<String>,
    /// The node the event is about.
    pub node_id: Option<String>,
    /// Kernel tree.
    pub tree: Option<String>,
    /// Kernel branch.
    pub branch: Option<String>,
    /// CPU architecture.
    pub arch: Option<String>,
    /// `pass`, `fail`, `incomplete`, `skip`, ...
    pub result: Option<String>,
    /// Whether the failure is the infrastructure's.
    pub is_infra_error: bool,
    /// Error class.
    pub error_type: Option<String>,
    /// Error text.
    pub error_msg: Option<String>,
    /// Retry number.
    pub retry: i64,
    /// Anything else the emitter attached.
    pub extra: Map<String, Value>,
}

/// The fields `/telemetry/stats` and the anomaly reports group by (`lab` is `Runtime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryField {
    /// `runtime`
    Runtime,
    /// `device_type`
    DeviceType,
    /// `device_id`
    DeviceId,
    /// `job_name`
    JobName,
    /// `tree`
    Tree,
    /// `branch`
    Branch,
    /// `arch`
    Arch,
    /// `kind`
    Kind,
    /// `error_type`
    ErrorType,
}

impl TelemetryField {
    /// The stored field (column or document key), the same in both stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runtime => "runtime",
            Self::DeviceType => "device_type",
            Self::DeviceId => "device_id",
            Self::JobName => "job_name",
            Self::Tree => "tree",
            Self::Branch => "branch",
            Self::Arch => "arch",
            Self::Kind => "kind",
            Self::ErrorType => "error_type",
        }
    }
}
