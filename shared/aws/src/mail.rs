//! Mail through Amazon SES (API v2): the domain's complete MIME message goes out as is.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use faktura_domain::StoreError;
use faktura_domain::ports::{MailSender, OutgoingMail};

use crate::error::unavailable;

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
            .map_err(|e| unavailable(&format!("SendEmail {}", mail.key), e))?;
        sent.message_id()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Unavailable("SendEmail returned no message id".into()))
    }
}
