//! A client of the service's HTTP API: what the demo command, the bench
//! and the black-box tests talk to a running control plane with. Answers
//! are `(status, JSON body)`, the body `null` when it is not JSON.

use anyhow::bail;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A client of one control plane at `base_url`.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base_url: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: base_url.trim_end_matches('/').to_string(),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// POSTs `body` exactly as given, labelled as JSON.
    pub async fn post_raw(&self, path: &str, body: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Polls `GET /runs/:id` until `done(status)` or `timeout`.
    pub async fn wait_for_status(
        &self,
        run_id: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let (_, run) = self.get(&format!("/runs/{run_id}")).await?;
            let status = run["status"].as_str().unwrap_or_default().to_string();
            if done(&status) {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                bail!("run {run_id} is still {status:?} after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a message as `from`; fails unless the runtime accepted it.
    pub async fn send(
        &self,
        run_id: &str,
        from: &str,
        message_type: &str,
        payload: Value,
    ) -> anyhow::Result<Value> {
        let body = json!({"from": from, "messageType": message_type, "payload": payload});
        let (status, answer) = self
            .post(&format!("/runs/{run_id}/messages"), &body)
            .await?;
        if status != 200 {
            bail!("{from} {message_type} answered {status}: {answer}");
        }
        Ok(answer)
    }
}

/// Whether a run's status is one it ends in.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}
