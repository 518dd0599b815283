//! Renders a document view JSON file to a PDF file:
//! `cargo run -p faktura-render --example render -- VIEW.json OUT.pdf [IDENT]`
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        return Err("usage: render VIEW.json OUT.pdf [IDENT]".into());
    };
    let ident = rest.first().map_or("example", String::as_str);
    let start = Instant::now();
    let renderer = faktura_render::Renderer::new()?;
    let loaded = start.elapsed();
    let view = std::fs::read(input)?;
    let start = Instant::now();
    let pdf = renderer.render_pdf(&view, ident)?;
    let rendered = start.elapsed();
    std::fs::write(output, &pdf)?;
    println!(
        "Renderer::new {loaded:?}, render {rendered:?}, {} bytes -> {output}",
        pdf.len()
    );
    Ok(())
}
