//! `ApiError`: every failure the HTTP API reports. The status code is part of the contract
//! with Stripe: 4xx means "do not retry this as is", 5xx means "retry later".

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ingest::writer::StoreError;
use crate::setup::merchants::MerchantError;
use crate::setup::profiles::ProfileError;
use crate::setup::profiles::directory::DirectoryError;
use crate::stripe::event::EnvelopeError;
use crate::stripe::signature::SignatureError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such Stripe profile")]
    UnknownProfile,
    /// The message names what was not found.
    #[error("{0}")]
    NotFound(String),
    /// No route has this path; the message names the method and path asked for.
    #[error("{0}")]
    NoRoute(String),
    /// The path exists, but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
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
    /// Well-formed, but refused by a rule of the setup flow (a key Stripe rejects, a profile
    /// Stripe cannot be enabled with); `code` says which.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// A known token whose role does not allow this (a viewer asking for a change).
    #[error("{0}")]
    Forbidden(String),
    #[error("the event could not be stored; retry later")]
    StorageUnavailable,
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable,
    /// Stripe's API could not be reached or failed (code `unavailable`, message naming Stripe).
    #[error("Stripe could not be reached; retry later")]
    StripeUnavailable,
    /// Past the listener's cap on requests in flight; answered with `Retry-After`.
    #[error("too many requests in flight; retry shortly")]
    Overloaded,
    #[error("the request body did not arrive within {secs} s")]
    RequestTimeout { secs: u64 },
    /// Logged where it happens; the response says only that something went wrong.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownProfile | ApiError::NotFound(_) | ApiError::NoRoute(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Signature(_) | ApiError::NotAnEvent(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::StorageUnavailable
            | ApiError::Unavailable
            | ApiError::StripeUnavailable
            | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownProfile => "unknown_profile",
            ApiError::NotFound(_) | ApiError::NoRoute(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Signature(e) => e.reason(),
            ApiError::NotAnEvent(e) => e.reason(),
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::Unavailable | ApiError::StripeUnavailable => "unavailable",
            ApiError::Overloaded => "overloaded",
            ApiError::RequestTimeout { .. } => "request_timeout",
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
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RequestTimeout { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
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
            ProfileError::NotFound => ApiError::NotFound("no such Stripe profile".into()),
            ProfileError::SecretNotFound => {
                ApiError::NotFound("no such webhook secret on this profile".into())
            }
            ProfileError::Database(error) => {
                tracing::error!(%error, "profile operation failed");
                ApiError::StorageUnavailable
            }
            ProfileError::KeyRejected { .. } => ApiError::Unprocessable {
                code: "stripe_key_rejected",
                message: e.to_string(),
            },
            ProfileError::KeyLacksPermission(_) => ApiError::Unprocessable {
                code: "stripe_key_lacks_permission",
                message: e.to_string(),
            },
            ProfileError::StripeRefused(_) => ApiError::Unprocessable {
                code: "stripe_refused",
                message: e.to_string(),
            },
            ProfileError::InUse { .. } | ProfileError::AccountHeld { .. } => {
                ApiError::Conflict(e.to_string())
            }
            ProfileError::OtherAccount { .. } => ApiError::Unprocessable {
                code: "stripe_account_mismatch",
                message: e.to_string(),
            },
            ProfileError::NoSecretKey => ApiError::Unprocessable {
                code: "no_secret_key",
                message: e.to_string(),
            },
            ProfileError::Secret(error) => {
                tracing::error!(%error, "a profile's stored key cannot be opened");
                ApiError::Internal
            }
            ProfileError::StripeUnavailable(ref error) => {
                tracing::warn!(%error, "Stripe unreachable while checking keys");
                ApiError::StripeUnavailable
            }
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}

impl From<MerchantError> for ApiError {
    fn from(e: MerchantError) -> Self {
        match e {
            MerchantError::NotFound => ApiError::NotFound("no such merchant".into()),
            MerchantError::InvalidMerchantId | MerchantError::InvalidName => {
                ApiError::BadRequest(e.to_string())
            }
            MerchantError::AlreadyExists(_) => ApiError::Conflict(e.to_string()),
            MerchantError::ProfileNotFound(_) => ApiError::Unprocessable {
                code: "unknown_profile",
                message: e.to_string(),
            },
            MerchantError::ProfileOfAnotherMerchant { .. } => ApiError::Unprocessable {
                code: "profile_of_another_merchant",
                message: e.to_string(),
            },
            MerchantError::ProfileNotReady { .. } => ApiError::Unprocessable {
                code: "profile_not_ready",
                message: e.to_string(),
            },
            MerchantError::StripeUnavailable(ref error) => {
                tracing::warn!(%error, "Stripe unreachable while enabling Stripe");
                ApiError::StripeUnavailable
            }
            MerchantError::Secret(error) => {
                tracing::error!(%error, "a profile's stored key cannot be opened");
                ApiError::Internal
            }
            MerchantError::Database(error) => {
                tracing::error!(%error, "merchant operation failed");
                ApiError::Unavailable
            }
        }
    }
}
