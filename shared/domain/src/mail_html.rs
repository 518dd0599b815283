//! The HTML part of every mail: the same content as the plain text part, in the mail's
//! language, readable by screen readers (a language, a title, real paragraphs, a table with
//! row headers) and without remote content (no images, fonts or styles from elsewhere), so
//! nothing is fetched when it is opened. Every text is escaped: customer text stays text.

use crate::values::Language;

/// The payment details a mail shows: rows of label and value, and the payment link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentBlock {
    pub heading: String,
    pub rows: Vec<(String, String)>,
    /// The link and the text of its button.
    pub link: Option<(String, String)>,
}

impl PaymentBlock {
    /// The block as plain text lines (the text part).
    pub fn text(&self) -> String {
        let mut lines = vec![format!("{}:", self.heading)];
        for (label, value) in &self.rows {
            lines.push(format!("{label}: {value}"));
        }
        if let Some((url, caption)) = &self.link {
            lines.push(format!("{caption}: {url}"));
        }
        lines.join("\r\n")
    }
}

/// The plain text `body` with `block` after its second paragraph (the greeting and the
/// message), before the closing.
pub fn text_with_block(body: &str, block: Option<&PaymentBlock>) -> String {
    let Some(block) = block else {
        return body.to_string();
    };
    let mut paragraphs: Vec<String> = body.split("\r\n\r\n").map(str::to_string).collect();
    let at = paragraphs.len().min(2);
    paragraphs.insert(at, block.text());
    paragraphs.join("\r\n\r\n")
}

/// The HTML document of a mail whose plain text is `body` (paragraphs separated by empty
/// lines), with `block` where [`text_with_block`] puts it.
pub fn html(lang: Language, subject: &str, body: &str, block: Option<&PaymentBlock>) -> String {
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    let mut out = String::with_capacity(body.len() * 2 + 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    out.push_str(lang.as_str());
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    out.push_str(&e(subject));
    out.push_str("</title>\n</head>\n<body style=\"margin:0;padding:0;background:#ffffff;color:#1a1a1a;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5\">\n<div role=\"article\" aria-label=\"");
    out.push_str(&html_escape::encode_double_quoted_attribute(subject));
    out.push_str("\" style=\"max-width:600px;margin:0 auto;padding:24px\">\n");
    let paragraphs: Vec<&str> = body
        .trim_end()
        .split("\r\n\r\n")
        .filter(|p| !p.trim().is_empty())
        .collect();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        if i == 2.min(paragraphs.len())
            && let Some(block) = block
        {
            push_block(&mut out, block);
        }
        out.push_str("<p style=\"margin:0 0 16px 0\">");
        let lines: Vec<String> = paragraph.split("\r\n").map(e).collect();
        out.push_str(&lines.join("<br>\n"));
        out.push_str("</p>\n");
    }
    if paragraphs.len() <= 2
        && let Some(block) = block
    {
        push_block(&mut out, block);
    }
    out.push_str("</div>\n</body>\n</html>\n");
    out
}

fn push_block(out: &mut String, block: &PaymentBlock) {
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    out.push_str("<table style=\"border-collapse:collapse;margin:0 0 16px 0\">\n<caption style=\"text-align:left;font-weight:bold;padding:0 0 4px 0\">");
    out.push_str(&e(&block.heading));
    out.push_str("</caption>\n");
    for (label, value) in &block.rows {
        out.push_str("<tr><th scope=\"row\" style=\"text-align:left;font-weight:normal;color:#555555;padding:2px 16px 2px 0\">");
        out.push_str(&e(label));
        out.push_str("</th><td style=\"padding:2px 0\">");
        out.push_str(&e(value));
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
    if let Some((url, caption)) = &block.link {
        out.push_str("<p style=\"margin:0 0 16px 0\"><a href=\"");
        out.push_str(&html_escape::encode_double_quoted_attribute(url));
        out.push_str("\" style=\"display:inline-block;padding:12px 20px;background:#1f4e79;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:bold\">");
        out.push_str(&e(caption));
        out.push_str("</a></p>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> PaymentBlock {
        PaymentBlock {
            heading: "Zahlung".into(),
            rows: vec![
                ("IBAN".into(), "DE02 1203 0000 0000 2020 51".into()),
                ("Betrag".into(), "119,00 €".into()),
            ],
            link: Some((
                "https://pay.example/RE-1?a=1&b=\"2\"".into(),
                "Online bezahlen".into(),
            )),
        }
    }

    #[test]
    fn the_block_goes_before_the_closing() {
        let body = "Guten Tag <Erika>,\r\n\r\nAnbei Ihre Rechnung.\r\n\r\nMit freundlichen Grüßen\r\nYoga\r\n";
        let text = text_with_block(body, Some(&block()));
        assert_eq!(
            text,
            "Guten Tag <Erika>,\r\n\r\nAnbei Ihre Rechnung.\r\n\r\nZahlung:\r\nIBAN: DE02 1203 0000 0000 2020 51\r\nBetrag: 119,00 €\r\nOnline bezahlen: https://pay.example/RE-1?a=1&b=\"2\"\r\n\r\nMit freundlichen Grüßen\r\nYoga\r\n"
        );
        let html = html(Language::De, "Rechnung <1>", body, Some(&block()));
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"de\">"),
            "{html}"
        );
        assert!(html.contains("<title>Rechnung &lt;1&gt;</title>"), "{html}");
        assert!(html.contains("Guten Tag &lt;Erika&gt;,"), "{html}");
        assert!(!html.contains("<Erika>"));
        assert!(
            html.contains("href=\"https://pay.example/RE-1?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
        assert!(html.contains("<th scope=\"row\""));
        assert!(
            html.contains("Mit freundlichen Grüßen<br>\nYoga</p>"),
            "{html}"
        );
        let table = html.find("<table").unwrap();
        assert!(html.find("Anbei Ihre Rechnung").unwrap() < table);
        assert!(table < html.find("Mit freundlichen").unwrap());
        for remote in ["<img", "src=", "url(", "@import", "<link", "<script"] {
            assert!(!html.contains(remote), "{remote}");
        }
    }

    #[test]
    fn a_short_mail_keeps_its_block() {
        for body in ["Hallo,\r\n\r\nAnbei.\r\n", "Hallo\r\n", ""] {
            let html = html(Language::De, "x", body, Some(&block()));
            assert_eq!(html.matches("<table").count(), 1, "{body:?}: {html}");
            assert!(text_with_block(body, Some(&block())).contains("IBAN"));
        }
    }

    #[test]
    fn a_mail_without_payment_is_its_paragraphs() {
        let html = html(Language::En, "Hi", "Hello,\r\n\r\ntext\r\n", None);
        assert_eq!(html.matches("<p ").count(), 2);
        assert!(!html.contains("<table"));
        assert_eq!(text_with_block("a\r\n\r\nb", None), "a\r\n\r\nb");
    }
}
