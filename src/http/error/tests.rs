//! How application errors look over HTTP: statuses, codes and bodies.

use super::*;
use axum::body::to_bytes;

async fn body_of(error: AppError) -> (u16, serde_json::Value) {
    let response = error.into_response();
    let status = response.status().as_u16();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

fn refused(code: &str) -> AppError {
    crate::runtime::RuntimeError::refused(code, "no").into()
}

#[test]
fn a_runtime_refusal_answers_by_its_code() {
    let cases = [
        ("FORBIDDEN", 403, "FORBIDDEN"),
        ("POLICY_DENIED", 403, "POLICY_DENIED"),
        ("SESSION_NOT_FOUND", 404, "NOT_FOUND"),
        ("MODE_NOT_SUPPORTED", 400, "MODE_NOT_SUPPORTED"),
        ("SESSION_NOT_OPEN", 409, "INVALID_STATE_TRANSITION"),
        ("UNIMPLEMENTED", 501, "NOT_IMPLEMENTED"),
        ("INTERNAL_ERROR", 502, "RUNTIME_REFUSED"),
        // A code the service does not know is not taken for a state clash.
        ("SOMETHING_NEW", 502, "RUNTIME_REFUSED"),
    ];
    for (code, status, error_code) in cases {
        let (got_status, got_code) = refused(code).status_and_code();
        assert_eq!(
            (got_status.as_u16(), got_code),
            (status, error_code),
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_refused_message_is_message_send_failed_whatever_the_code() {
    for code in ["POLICY_DENIED", "SESSION_NOT_OPEN", "SOMETHING_NEW"] {
        let error = AppError::MessageRefused {
            code: code.into(),
            message: "no".into(),
        };
        let (status, body) = body_of(error).await;
        assert_eq!(status, 422);
        assert_eq!(body["errorCode"], "MESSAGE_SEND_FAILED");
        assert_eq!(body["errors"][0]["path"], "runtime");
        assert_eq!(body["errors"][0]["message"], format!("{code}: no"));
    }
}

#[tokio::test]
async fn an_internal_failure_is_answered_without_its_detail() {
    let (status, body) = body_of(AppError::internal("secret table x is gone")).await;
    assert_eq!(status, 500);
    assert_eq!(body["errorCode"], "INTERNAL_ERROR");
    assert!(!body.to_string().contains("secret"), "{body}");
}

#[tokio::test]
async fn a_rate_limit_says_when_to_retry() {
    let response = AppError::RateLimited {
        retry_after_seconds: 3,
    }
    .into_response();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()[RETRY_AFTER], "3");
}
