//! `ApiError`: every failure the HTTP API reports. The status code is part of the contract
//! with Stripe: 4xx means "do not retry this as is", 5xx means "retry later".

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::intake::StoreError;
use crate::profiles::ProfileError;
use crate::profiles::directory::DirectoryError;
use crate::stripe::event::EnvelopeError;
use crate::stripe::signature::SignatureError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such Stripe profile")]
    UnknownProfile,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Signature(SignatureError),
    #[error("{0}")]
    NotAnEvent(EnvelopeError),
    #[error("the body exceeds the {limit_kib} KiB limit")]
    PayloadTooLarge { limit_kib: usize },
    #[error("{0}")]
    BadRequest(String),
    /// The request is valid but contradicts what is stored (an order id of another merchant).
    #[error("{0}")]
    Conflict(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("the event could not be stored; retry later")]
    StorageUnavailable,
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable,
    /// Logged where it happens; the response says only that something went wrong.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownProfile | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Signature(_) | ApiError::NotAnEvent(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::StorageUnavailable | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownProfile => "unknown_profile",
            ApiError::NotFound => "not_found",
            ApiError::Signature(e) => e.reason(),
            ApiError::NotAnEvent(e) => e.reason(),
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unauthorized => "unauthorized",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            Json(json!({ "error": self.code(), "message": self.to_string() })),
        )
            .into_response();
        if self == ApiError::Unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DatabaseUnavailable => ApiError::StorageUnavailable,
            StoreError::Unavailable => ApiError::Unavailable,
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Database(error) => {
                tracing::error!(%error, "profile lookup failed");
                ApiError::StorageUnavailable
            }
            other => {
                tracing::error!(error = %other, "profile cannot be used");
                ApiError::Internal
            }
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::NotFound | ProfileError::SecretNotFound => ApiError::NotFound,
            ProfileError::Database(error) => {
                tracing::error!(%error, "profile operation failed");
                ApiError::StorageUnavailable
            }
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}
