//! Standard Webhooks signatures (spec v1): `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, secrets `whsec_<base64>`, ±5 minutes tolerance,
//! several signatures (and several secrets) allowed so secrets can be rotated.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a timestamp may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;
const MIN_SECRET_BYTES: usize = 24;

#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl FromStr for WebhookSecret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let encoded = s
            .strip_prefix("whsec_")
            .ok_or_else(|| "a webhook secret starts with 'whsec_'".to_string())?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|_| "a webhook secret is 'whsec_' followed by base64".to_string())?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "a webhook secret needs at least {MIN_SECRET_BYTES} bytes of key material"
            ));
        }
        Ok(WebhookSecret(bytes))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    MissingHeader(&'static str),
    BadTimestamp,
    TooOld,
    TooNew,
    NoMatch,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::MissingHeader(_) => "missing_signature",
            SignatureError::BadTimestamp | SignatureError::TooOld | SignatureError::TooNew => {
                "timestamp_out_of_tolerance"
            }
            SignatureError::NoMatch => "invalid_signature",
        }
    }

    pub fn message(self) -> String {
        match self {
            SignatureError::MissingHeader(h) => format!("the '{h}' header is missing"),
            SignatureError::BadTimestamp => "webhook-timestamp is not a unix timestamp".into(),
            SignatureError::TooOld => "webhook-timestamp is more than 5 minutes old".into(),
            SignatureError::TooNew => {
                "webhook-timestamp is more than 5 minutes in the future".into()
            }
            SignatureError::NoMatch => "no signature matches the body".into(),
        }
    }
}

fn mac(secret: &WebhookSecret, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(&secret.0).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` header value a sender puts on this message.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", BASE64.encode(tag))
}

/// The three Standard Webhooks headers of a request.
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks the headers against the body with any of `secrets`, at unix time `now`.
pub fn verify(
    secrets: &[WebhookSecret],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let id = headers
        .id
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let timestamp = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signatures = headers
        .signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if ts < now.saturating_sub(TOLERANCE_SECONDS) {
        return Err(SignatureError::TooOld);
    }
    if ts > now.saturating_add(TOLERANCE_SECONDS) {
        return Err(SignatureError::TooNew);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .collect();
    for secret in secrets {
        for candidate in &candidates {
            // verify_slice compares in constant time and checks the length.
            if mac(secret, id, timestamp.trim(), body)
                .verify_slice(candidate)
                .is_ok()
            {
                return Ok(());
            }
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_ZmFrdHVyYS1kZW1vLXdlYmhvb2stc2VjcmV0LTAwMDE=";
    const OTHER: &str = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";
    const NOW: i64 = 1_795_000_000;

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks reference libraries' test suite.
        let secret: WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn valid_wrong_tampered_old_new_rotated() {
        let secret: WebhookSecret = SECRET.parse().unwrap();
        let other: WebhookSecret = OTHER.parse().unwrap();
        let body = b"{\"a\":1}";
        let ts = NOW.to_string();
        let sig = sign(&secret, "msg_1", NOW, body);
        let ok = verify(
            std::slice::from_ref(&secret),
            &headers("msg_1", &ts, &sig),
            body,
            NOW,
        );
        assert_eq!(ok, Ok(()));
        // Wrong secret.
        let e = verify(
            std::slice::from_ref(&other),
            &headers("msg_1", &ts, &sig),
            body,
            NOW,
        );
        assert_eq!(e, Err(SignatureError::NoMatch));
        // Tampered body, id or timestamp.
        let e = verify(
            std::slice::from_ref(&secret),
            &headers("msg_1", &ts, &sig),
            b"{\"a\":2}",
            NOW,
        );
        assert_eq!(e, Err(SignatureError::NoMatch));
        let e = verify(
            std::slice::from_ref(&secret),
            &headers("msg_2", &ts, &sig),
            body,
            NOW,
        );
        assert_eq!(e, Err(SignatureError::NoMatch));
        let ts2 = (NOW + 1).to_string();
        let e = verify(
            std::slice::from_ref(&secret),
            &headers("msg_1", &ts2, &sig),
            body,
            NOW,
        );
        assert_eq!(e, Err(SignatureError::NoMatch));
        // Too old, too new (just inside the tolerance is fine).
        for (offset, expected) in [
            (-301, Err(SignatureError::TooOld)),
            (301, Err(SignatureError::TooNew)),
            (-300, Ok(())),
            (300, Ok(())),
        ] {
            let t = NOW + offset;
            let s = sign(&secret, "msg_1", t, body);
            let r = verify(
                std::slice::from_ref(&secret),
                &headers("msg_1", &t.to_string(), &s),
                body,
                NOW,
            );
            assert_eq!(r, expected, "offset {offset}");
        }
        // Rotation: several signatures in the header, several secrets on our side.
        let both = format!("{} {}", sign(&other, "msg_1", NOW, body), sig);
        assert_eq!(
            verify(
                std::slice::from_ref(&secret),
                &headers("msg_1", &ts, &both),
                body,
                NOW
            ),
            Ok(())
        );
        let secrets = [other.clone(), secret.clone()];
        assert_eq!(
            verify(&secrets, &headers("msg_1", &ts, &sig), body, NOW),
            Ok(())
        );
        // Truncated or garbage signatures never match and never panic.
        for bad in [
            "",
            "v1,",
            "v1,AAAA",
            "v2,xyz",
            "v1,!!!",
            sig.get(..10).unwrap(),
        ] {
            assert_eq!(
                verify(
                    std::slice::from_ref(&secret),
                    &headers("msg_1", &ts, bad),
                    body,
                    NOW
                ),
                Err(SignatureError::NoMatch),
                "{bad}"
            );
        }
        let missing = SignedHeaders {
            id: Some("msg_1"),
            timestamp: None,
            signature: Some(&sig),
        };
        assert_eq!(
            verify(std::slice::from_ref(&secret), &missing, body, NOW),
            Err(SignatureError::MissingHeader("webhook-timestamp"))
        );
    }

    #[test]
    fn secrets_must_be_long_enough() {
        assert!("whsec_c2hvcnQ=".parse::<WebhookSecret>().is_err());
        assert!(
            "ZmFrdHVyYS1kZW1vLXdlYmhvb2stc2VjcmV0LTAwMDE="
                .parse::<WebhookSecret>()
                .is_err()
        );
        assert!(SECRET.parse::<WebhookSecret>().is_ok());
    }
}
