//! The admin API's error answer: a status and a JSON body `{"error": {"code", "message",
//! "row"?, "field"?}}` whose message is a sentence saying what to do.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subscriber_db::DbError;

use crate::DbTaskError;

#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) row: Option<usize>,
    pub(crate) field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            row: None,
            field: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid API key as `Authorization: Bearer <key>`; this one is missing, unknown or revoked",
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// A body in a media type this endpoint does not read.
    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// A 400 that names the field (and, for imports, the row) it is about.
    pub(crate) fn invalid_field(
        row: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            row,
            field: Some(field.into()),
            ..Self::bad_request(message)
        }
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request; the log has the details",
        )
    }
}

impl From<DbTaskError> for ApiError {
    fn from(_: DbTaskError) -> Self {
        tracing::error!("database task did not finish");
        ApiError::internal()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound { what } => ApiError::not_found(what),
            DbError::Conflict { what } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            DbError::LastOperatorKey => {
                ApiError::new(StatusCode::CONFLICT, "last_operator_key", e.to_string())
            }
            DbError::Invalid(v @ subscriber_db::ValidationError::Conflicting { .. }) => {
                let subscriber_db::ValidationError::Conflicting { field, .. } = &v else {
                    unreachable!("matched above")
                };
                ApiError::invalid_field(None, *field, v.to_string())
            }
            DbError::Invalid(v) => ApiError::bad_request(v.to_string()),
            DbError::Unauthorized => ApiError::unauthorized(),
            DbError::Import(i) => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "import_rejected",
                message: i.to_string(),
                row: Some(i.row),
                field: Some(i.field.to_string()),
            },
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(row) = self.row {
            error["row"] = json!(row);
        }
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a 401 names the scheme the client must use.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"callbond-admin\""),
            );
        }
        response
    }
}
