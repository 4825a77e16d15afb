//! The enrolment QR code as inline SVG markup. Not an `<img>` with a `data:` URI: the pages'
//! Content-Security-Policy allows images from our own origin only, and inline SVG is part of the
//! document (no request, nothing cached, no script).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::SecondFactorError;

/// The SVG element for `text` (an otpauth URL), labelled for screen readers.
pub fn svg(text: &str, label: &str) -> Result<String, SecondFactorError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| SecondFactorError::Internal(format!("qr code: {e}")))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration: the element goes inside an HTML document.
    let element = image
        .find("<svg")
        .and_then(|start| image.get(start..))
        .ok_or_else(|| SecondFactorError::Internal("qr code: no svg element".into()))?;
    let label = askama_escape(label);
    Ok(element.replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{label}" class="qr" "#),
        1,
    ))
}

/// The label is our own fixed text, but escape it anyway: it lands in an attribute.
fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_svg_element_without_declaration_or_script() {
        let svg = super::svg("otpauth://totp/mailsig:a?secret=ABCD", "QR code").expect("svg");
        assert!(
            svg.starts_with(r#"<svg role="img" aria-label="QR code""#),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml") && !svg.contains("script"));
    }
}
