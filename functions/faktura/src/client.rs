//! Sends an event the way a booking platform does: Standard Webhooks headers, signed body.

use faktura_http::signature::{WebhookSecret, sign};

pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// POSTs `body` to `{base_url}/v1/webhooks/{tenant}/bookings`, signed with `secret`.
pub async fn send_booking(
    client: &reqwest::Client,
    base_url: &str,
    tenant: &str,
    secret: &str,
    body: Vec<u8>,
) -> Result<Answer, String> {
    let secret: WebhookSecret = secret.parse()?;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(&secret, &id, timestamp, &body);
    let url = format!(
        "{}/v1/webhooks/{tenant}/bookings",
        base_url.trim_end_matches('/')
    );
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url} failed: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(Answer { status, body })
}
