//! Pub/sub endpoints: `/subscribe`, `/listen`, `/unsubscribe`, `/publish`, `/push`, `/pop`
//! and `/stats/subscriptions` (kernelci-api.md sections 8.2 and 8.8).
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::auth::{CurrentUser, SuperUser};
use crate::error::ApiError;
use crate::events::NewEvent;
use crate::extract::{json_body, query_bool, query_pairs};
use crate::metrics::SubscriberKind;
use crate::openapi::{Admin, Auth, BadRequest, Invalid, NotFound, Store};
use crate::pubsub::cloudevent::{CloudEventParts, cloudevent};
use crate::pubsub::{Message, PubSubError, SubscriptionInfo, SubscriptionStats};
use crate::state::AppState;

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(subscribe, unsubscribe, listen, publish, push, pop, stats))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribe/{channel}", post(subscribe))
        .route("/unsubscribe/{sub_id}", post(unsubscribe))
        .route("/listen/{sub_id}", get(listen))
        .route("/publish/{channel}", post(publish))
        .route("/push/{list}", post(push))
        .route("/pop/{list}", get(pop))
        .route("/stats/subscriptions", get(stats))
}

impl IntoResponse for PubSubError {
    fn into_response(self) -> Response {
        let this = match self {
            // Through `ApiError`: an unavailable store is a 503, not a 500.
            Self::Store(e) => return ApiError::from(e).into_response(),
            other => other,
        };
        let status = match &this {
            Self::NotFound(_) | Self::NotHere(_) => StatusCode::NOT_FOUND,
            Self::NotOwner { .. } => StatusCode::FORBIDDEN,
            Self::SubscriberTaken(_) => StatusCode::CONFLICT,
            Self::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({"detail": this.to_string()}))).into_response()
    }
}

/// A subscription id from the path; 422 (as FastAPI's `int` parameter) when it is not one.
fn sub_id(raw: &str) -> Result<u64, ApiError> {
    raw.trim().parse().map_err(|_| {
        ApiError::unprocessable(
            &["path", "sub_id"],
            "Input should be a valid integer, unable to parse string as an integer",
            "int_parsing",
            Value::String(raw.to_owned()),
        )
    })
}

#[utoipa::path(
    post,
    path = "/subscribe/{channel}",
    tag = "events",
    params(("channel" = String, Path, description = "The channel (`node` for node changes)"), ("promisc" = Option<bool>, Query, description = "Receive every user's events"), ("subscriber_id" = Option<String>, Query, description = "Make the subscription durable under this name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The subscription", body = crate::pubsub::SubscriptionInfo), Auth, Invalid, (status = 409, description = "The `subscriber_id` is another user's", body = crate::openapi::Error), (status = 429, description = "Too many subscriptions", body = crate::openapi::Error), Store)
)]
async fn subscribe(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(channel): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<SubscriptionInfo>, Response> {
    let mut promiscuous = false;
    let mut subscriber_id = None;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "promisc" => {
                promiscuous = query_bool("promisc", &v).map_err(IntoResponse::into_response)?
            }
            "subscriber_id" => subscriber_id = Some(v).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    let info = state
        .pubsub
        .subscribe(
            &*state.store,
            &user.username,
            &channel,
            promiscuous,
            subscriber_id.as_deref(),
        )
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(info))
}

#[utoipa::path(
    post,
    path = "/unsubscribe/{sub_id}",
    tag = "events",
    params(("sub_id" = u64, Path, description = "The subscription id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Removed (`null`)", body = Option<Object>), Auth, (status = 403, description = "Another user's subscription", body = crate::openapi::Error), NotFound, Invalid)
)]
async fn unsubscribe(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
) -> Result<Json<()>, Response> {
    let id = sub_id(&raw).map_err(IntoResponse::into_response)?;
    state
        .pubsub
        .unsubscribe(id, &user.username)
        .map_err(IntoResponse::into_response)?;
    Ok(Json(()))
}

#[utoipa::path(
    get,
    path = "/listen/{sub_id}",
    tag = "events",
    params(("sub_id" = u64, Path, description = "The subscription id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The next event (a long poll; `data` is the CloudEvent as JSON text, `BEEP` for a keep-alive)", body = crate::pubsub::cloudevent::Message), Auth, (status = 403, description = "Another user's subscription", body = crate::openapi::Error), NotFound, Invalid, Store)
)]
async fn listen(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(raw): Path<String>,
) -> Result<Json<Message>, Response> {
    let id = sub_id(&raw).map_err(IntoResponse::into_response)?;
    let msg = state
        .pubsub
        .listen(&*state.store, id, &user.username)
        .await
        .map_err(IntoResponse::into_response)?;
    if msg.is_event() {
        let kind = if state.pubsub.is_durable(id) {
            SubscriberKind::Durable
        } else {
            SubscriberKind::LongPoll
        };
        state.metrics.events.delivered(kind);
    }
    Ok(Json(msg))
}

/// Whether Python would find `v` falsy (`None`, `{}`, `[]`, `""`, `0`, `False`).
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match json_body(body)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::unprocessable(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
            other,
        )),
    }
}

/// An optional string field of a body; 422 when present but not a string.
fn optional_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(other) => Err(ApiError::unprocessable(
            &["body", key],
            "Input should be a valid string",
            "string_type",
            other.clone(),
        )),
    }
}

#[utoipa::path(
    post,
    path = "/publish/{channel}",
    tag = "events",
    params(("channel" = String, Path, description = "The channel")),
    request_body(content = crate::openapi::bodies::PublishBody),
    security(("bearer" = [])),
    responses((status = 200, description = "Published (`null`)", body = Option<Object>), Auth, BadRequest, Invalid, (status = 413, description = "The event is too large", body = crate::openapi::Error), Store)
)]
async fn publish(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(channel): Path<String>,
    body: Bytes,
) -> Result<Json<()>, ApiError> {
    let mut body = body_object(&body)?;
    let data = body.remove("data").unwrap_or(Value::Null);
    // Also when `data` is left out (the Python server then published `data: null`).
    if is_falsy(&data) {
        return Err(ApiError::unprocessable(
            &["body", "data"],
            "Value error, None is not allowed as event payload",
            "value_error",
            data,
        ));
    }
    let mut attributes = Map::new();
    for key in ["type", "source"] {
        if let Some(v) = optional_str(&body, key)? {
            attributes.insert(key.to_owned(), Value::String(v));
        }
    }
    match body.remove("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extra)) => {
            for (k, v) in extra {
                // `type`, `source` and `owner` are the server's, as in the Python server.
                if !matches!(k.as_str(), "type" | "source" | "owner") {
                    attributes.entry(k).or_insert(v);
                }
            }
        }
        Some(other) => {
            return Err(ApiError::unprocessable(
                &["body", "attributes"],
                "Input should be a valid dictionary",
                "dict_type",
                other,
            ));
        }
    }
    let event = NewEvent {
        channel,
        owner: Some(user.username),
        data,
        treeid: None,
        attributes,
    };
    state
        .store
        .write_nodes_with_event(Vec::new(), Some(event))
        .await?;
    Ok(Json(()))
}

#[utoipa::path(
    post,
    path = "/push/{list}",
    tag = "events",
    params(("list" = String, Path, description = "The list")),
    request_body(content = crate::openapi::bodies::PushBody),
    security(("bearer" = [])),
    responses((status = 200, description = "Pushed (`null`)", body = Option<Object>), Auth, BadRequest, Invalid, Store)
)]
async fn push(
    State(state): State<AppState>,
    CurrentUser(_user): CurrentUser,
    Path(list): Path<String>,
    body: Bytes,
) -> Result<Json<()>, ApiError> {
    let mut body = body_object(&body)?;
    let Some(data) = body.remove("data") else {
        return Err(ApiError::unprocessable(
            &["body", "data"],
            "Field required",
            "missing",
            Value::Object(body),
        ));
    };
    let source = optional_str(&body, "source")?;
    let ty = optional_str(&body, "type")?;
    // `type` and `source` default even when other attributes are given (quirk 27 fixed).
    let parts = CloudEventParts {
        source: source.as_deref(),
        ty: ty.as_deref(),
        data: &data,
        owner: None,
        attributes: Some(&body),
        sequence_id: None,
    };
    let mut event = cloudevent(&parts, &state.pubsub.config().source);
    // A pushed `owner` is an ordinary attribute here: nothing is filtered on pop.
    if let Some(owner) = body.get("owner") {
        event.insert("owner".to_owned(), owner.clone());
    }
    if state.store.is_shared() {
        state
            .pubsub
            .shared_lists
            .push(&*state.store, &list, event)
            .await?;
    } else {
        state.pubsub.lists.push(&list, event);
    }
    Ok(Json(()))
}

/// Waits for an item (a client that goes away takes nothing); when none came within the
/// pop timeout, 204 No Content: pop again.
#[utoipa::path(
    get,
    path = "/pop/{list}",
    tag = "events",
    params(("list" = String, Path, description = "The list")),
    security(("bearer" = [])),
    responses((status = 200, description = "The oldest item (a CloudEvent)", body = Object), (status = 204, description = "Nothing came within the pop timeout: pop again"), Auth, Store)
)]
async fn pop(
    State(state): State<AppState>,
    CurrentUser(_user): CurrentUser,
    Path(list): Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let popped = async {
        if state.store.is_shared() {
            state.pubsub.shared_lists.pop(&*state.store, &list).await
        } else {
            Ok(state.pubsub.lists.pop(&list).await)
        }
    };
    let popped = match state.pubsub.config().pop_timeout {
        None => popped.await,
        Some(limit) => match tokio::time::timeout(limit, popped).await {
            Ok(item) => item,
            Err(_) => return axum::http::StatusCode::NO_CONTENT.into_response(),
        },
    };
    match popped {
        Ok(item) => Json(item).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/stats/subscriptions",
    tag = "events",
    security(("bearer" = [])),
    responses((status = 200, description = "The subscriptions held", body = Vec<crate::pubsub::SubscriptionStats>), Admin)
)]
async fn stats(
    State(state): State<AppState>,
    SuperUser(_admin): SuperUser,
) -> Json<Vec<SubscriptionStats>> {
    Json(state.pubsub.stats())
}
