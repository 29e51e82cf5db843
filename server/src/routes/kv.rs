//! The key/value store (kernelci-api.md section 10): `GET`, `POST` and `DELETE
//! /kv/{namespace}/{key}`, for any active user, with the Python server's bodies and answers.
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::json_body;
use crate::openapi::{Auth, BadRequest, Invalid, Store};
use crate::state::AppState;

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_value, set_value, delete_value))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(
        "/kv/{namespace}/{key}",
        get(get_value).post(set_value).delete(delete_value),
    )
}

/// The stored key: `<namespace>:<key>`, the Python server's Redis key. So `a:b` + `c` and
/// `a` + `b:c` name one value here as there.
fn stored_key(path: Result<Path<(String, String)>, PathRejection>) -> ApiResult<String> {
    let Path((namespace, key)) = path.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(format!("{namespace}:{key}"))
}

/// `GET`: the value as a JSON string, or `null`.
#[utoipa::path(
    get,
    path = "/kv/{namespace}/{key}",
    tag = "kv",
    params(("namespace" = String, Path, description = "The namespace"), ("key" = String, Path, description = "The key")),
    security(("bearer" = [])),
    responses((status = 200, description = "The value, or `null`", body = Option<String>), Auth, BadRequest, Store)
)]
async fn get_value(
    State(state): State<AppState>,
    _: CurrentUser,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<Option<String>>> {
    let key = stored_key(path)?;
    Ok(Json(state.store.kv_get(&key).await?))
}

/// `POST`: stores the body's value and answers `"OK"`; an empty or missing value deletes
/// the key instead, as upstream.
#[utoipa::path(
    post,
    path = "/kv/{namespace}/{key}",
    tag = "kv",
    params(("namespace" = String, Path, description = "The namespace"), ("key" = String, Path, description = "The key")),
    request_body(content = Option<String>, description = "The value as a JSON string (a non-JSON content type: the raw text); empty, missing or `null` deletes the key"),
    security(("bearer" = [])),
    responses((status = 200, description = "`OK`", content_type = "application/json", body = String), Auth, BadRequest, Invalid, Store)
)]
async fn set_value(
    State(state): State<AppState>,
    _: CurrentUser,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<&'static str>> {
    let key = stored_key(path)?;
    match body_value(&headers, &body)? {
        Some(value) if !value.is_empty() => state.store.kv_set(&key, &value).await?,
        _ => {
            state.store.kv_delete(&key).await?;
        }
    }
    Ok(Json("OK"))
}

/// `DELETE`: the same answer whether or not the key existed.
#[utoipa::path(
    delete,
    path = "/kv/{namespace}/{key}",
    tag = "kv",
    params(("namespace" = String, Path, description = "The namespace"), ("key" = String, Path, description = "The key")),
    security(("bearer" = [])),
    responses((status = 200, description = "Deleted, or there was nothing", content_type = "application/json", body = String), Auth, BadRequest, Store)
)]
async fn delete_value(
    State(state): State<AppState>,
    _: CurrentUser,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<&'static str>> {
    let key = stored_key(path)?;
    state.store.kv_delete(&key).await?;
    Ok(Json("Key-value pair deleted successfully"))
}

/// The value of a `POST` body, read as FastAPI reads a `str` body: parsed as JSON when the
/// `Content-Type` is missing or JSON (`application/json`, `application/*+json`), else taken
/// as raw text. `None` for an empty body or JSON `null`.
fn body_value(headers: &HeaderMap, body: &[u8]) -> ApiResult<Option<String>> {
    if body.is_empty() {
        return Ok(None);
    }
    let is_json = match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.is_empty() || v.to_str().is_ok_and(is_json_media_type),
    };
    if !is_json {
        return String::from_utf8(body.to_vec()).map(Some).map_err(|_| {
            ApiError::unprocessable(
                &["body"],
                "Input should be a valid string, unable to parse raw data as a unicode string",
                "string_unicode",
                Value::Null,
            )
        });
    }
    match json_body(body)? {
        Value::String(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        other => Err(ApiError::unprocessable(
            &["body"],
            "Input should be a valid string",
            "string_type",
            other,
        )),
    }
}

/// Whether a `Content-Type` names JSON, as Python's `email.message` reads it: type and
/// subtype compared without case, parameters ignored.
fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = media.split_once('/') else {
        return false;
    };
    let sub = sub.trim().to_ascii_lowercase();
    kind.trim().eq_ignore_ascii_case("application") && (sub == "json" || sub.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_told_apart() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ] {
            assert!(is_json_media_type(json), "{json}");
        }
        for raw in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "",
        ] {
            assert!(!is_json_media_type(raw), "{raw}");
        }
    }
}
