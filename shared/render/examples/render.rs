//! Renders a document view JSON file to a PDF file:
//! `cargo run -p faktura-render --example render -- VIEW.json OUT.pdf [IDENT] [--xml CII.xml]`
//!
//! With `--xml`, the PDF is a hybrid invoice (ZUGFeRD / Factur-X, profile EN 16931) that
//! embeds the given XML as `factur-x.xml`.
use std::time::Instant;

use faktura_render::{EmbeddedInvoiceXml, FacturXConformance};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let xml_path = match args.iter().position(|a| a == "--xml") {
        Some(i) if i + 1 < args.len() => {
            let path = args.remove(i + 1);
            args.remove(i);
            Some(path)
        }
        Some(_) => return Err("--xml needs a file".into()),
        None => None,
    };
    let [input, output, rest @ ..] = args.as_slice() else {
        return Err("usage: render VIEW.json OUT.pdf [IDENT] [--xml CII.xml]".into());
    };
    let ident = rest.first().map_or("example", String::as_str);
    let start = Instant::now();
    let renderer = faktura_render::Renderer::new()?;
    let loaded = start.elapsed();
    let view = std::fs::read(input)?;
    let xml = xml_path.map(std::fs::read).transpose()?;
    let start = Instant::now();
    let pdf = match &xml {
        Some(xml) => renderer.render_hybrid_pdf(
            &view,
            ident,
            EmbeddedInvoiceXml {
                xml,
                conformance: FacturXConformance::En16931,
            },
        )?,
        None => renderer.render_pdf(&view, ident)?,
    };
    let rendered = start.elapsed();
    std::fs::write(output, &pdf)?;
    println!(
        "Renderer::new {loaded:?}, render {rendered:?}, {} bytes -> {output}",
        pdf.len()
    );
    Ok(())
}
