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

/// POSTs a statement file to `{base_url}/v1/bank-statements` with the tenant's API key.
pub async fn import_statement(
    client: &reqwest::Client,
    base_url: &str,
    api_key: &str,
    body: Vec<u8>,
) -> Result<Answer, String> {
    let url = format!("{}/v1/bank-statements", base_url.trim_end_matches('/'));
    let response = client
        .post(&url)
        .bearer_auth(api_key)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url} failed: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(Answer { status, body })
}

/// The import's answer as a short report: counts, then one line per transaction.
pub fn import_report(body: &str) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("unexpected answer: {e}"))?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut out = format!(
        "{} statement(s): {} transaction(s) new, {} recorded before; {} matched, {} for review, {} ignored\n",
        n("statements"),
        n("imported"),
        n("duplicates"),
        n("matched"),
        n("unmatched"),
        n("ignored"),
    );
    for t in v["transactions"].as_array().into_iter().flatten() {
        let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
        let what = match s("state").as_str() {
            "matched" => {
                let paid: Vec<String> = t["allocations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        format!(
                            "{} ({})",
                            a["number"].as_str().unwrap_or(""),
                            a["amount"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                format!("pays {} [{}]", paid.join(", "), s("rule"))
            }
            "unmatched" => format!("for review: {}", s("reason")),
            _ => "ignored (debit)".to_string(),
        };
        out.push_str(&format!(
            "  {} {:>12} {} {:<28} {}\n",
            s("booking_date"),
            s("amount"),
            s("currency"),
            s("counterparty_name").chars().take(28).collect::<String>(),
            what
        ));
    }
    Ok(out)
}
