//! Mail through Amazon SES (API v2): the domain's complete MIME message goes out as is.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use faktura_domain::StoreError;
use faktura_domain::ports::{MailSender, OutgoingMail};

use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};

use crate::error::unavailable;

/// An answer from SES with a 4xx status means it did not accept the message (MessageRejected,
/// throttling, a bad identity...): `Refused`, safe to send again. Anything else — no answer, a
/// timeout, a 5xx — may have sent it: `Unavailable`. Only the error code is kept: SES's message
/// text can repeat the addresses, which must not reach the logs.
fn send_error<E>(key: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            let status = service.raw().status().as_u16();
            let what = format!("SendEmail {key}: {code} (HTTP {status})");
            if (400..500).contains(&status) {
                StoreError::Refused(what)
            } else {
                StoreError::Unavailable(what)
            }
        }
        _ => unavailable(&format!("SendEmail {key}"), e),
    }
}

/// The SESv2 adapter for [`MailSender`].
#[derive(Clone, Debug)]
pub struct SesMailSender {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailSender {
    /// `configuration_set`: the SES configuration set for event publishing (bounces,
    /// complaints, deliveries), if any.
    pub fn new(config: &aws_config::SdkConfig, configuration_set: Option<String>) -> SesMailSender {
        SesMailSender {
            client: Client::new(config),
            configuration_set,
        }
    }
}

#[async_trait]
impl MailSender for SesMailSender {
    /// `SendEmail` with `Content.Raw`; the envelope recipients are `mail.to` (the headers
    /// of the raw message are not consulted). Returns the SES message id.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, StoreError> {
        let raw = RawMessage::builder()
            .data(Blob::new(mail.raw.clone()))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("raw message: {e}")))?;
        let destination = Destination::builder()
            .set_to_addresses(Some(mail.to.iter().map(|a| a.to_string()).collect()))
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(mail.from.to_string())
            .destination(destination)
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| send_error(&mail.key, e))?;
        sent.message_id()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Unavailable("SendEmail returned no message id".into()))
    }
}
