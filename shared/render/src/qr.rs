//! The EPC QR code (GiroCode) as an SVG image: the view carries only the code's text, and
//! the renderer draws it here (error correction M, as EPC069-12 asks, with its quiet zone).
//! The text is encoded into modules, never into markup, so it cannot change the template.

use crate::RenderError;

/// The virtual path the template reads the code from.
pub(crate) const QR_PATH: &str = "/epc-qr.svg";

/// The SVG image of the QR code holding `payload`.
pub(crate) fn qr_svg(payload: &str) -> Result<Vec<u8>, RenderError> {
    let code = qrcode::QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| RenderError::InvalidData(format!("payment.qr: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(4, 4)
        .build();
    Ok(svg.into_bytes())
}
