//! An in-memory [`World`]: the template, the document view as `/data.json`,
//! for a hybrid invoice the e-invoice XML as `/factur-x.xml`, and the embedded
//! fonts. Nothing else exists; the file system is never read.

use std::path::PathBuf;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};

use crate::Renderer;

/// The template's path in the virtual project.
pub(crate) const MAIN_PATH: &str = "/invoice.typ";
/// The document view's path in the virtual project.
pub(crate) const DATA_PATH: &str = "/data.json";
/// The e-invoice XML's path in the virtual project; it exists only while a
/// hybrid invoice is rendered. (The name inside the PDF is chosen by the
/// template from the view's `attachment.name`, not by this path.)
pub(crate) const XML_PATH: &str = "/factur-x.xml";

/// The interned id of a path in the virtual project root.
pub(crate) fn file_id(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).expect("static virtual path is valid");
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

/// The world of one render: the shared renderer plus this document's template and data.
pub(crate) struct RenderWorld<'a> {
    renderer: &'a Renderer,
    source: &'a Source,
    main: FileId,
    data_id: FileId,
    data: Bytes,
    xml_id: FileId,
    /// The e-invoice XML, only when rendering a hybrid invoice.
    xml: Option<Bytes>,
    qr_id: FileId,
    /// The payment QR code's SVG, only when the view asks for one.
    qr: Option<Bytes>,
}

impl<'a> RenderWorld<'a> {
    pub(crate) fn new(renderer: &'a Renderer, source: &'a Source, data: Bytes) -> Self {
        Self {
            renderer,
            source,
            main: source.id(),
            data_id: file_id(DATA_PATH),
            data,
            xml_id: file_id(XML_PATH),
            xml: None,
            qr_id: file_id(crate::qr::QR_PATH),
            qr: None,
        }
    }

    /// Also serves `svg` at [`crate::qr::QR_PATH`].
    pub(crate) fn with_qr(mut self, svg: Bytes) -> Self {
        self.qr = Some(svg);
        self
    }

    /// Also serves `xml` at [`XML_PATH`].
    pub(crate) fn with_xml(mut self, xml: Bytes) -> Self {
        self.xml = Some(xml);
        self
    }

    pub(crate) fn main_source(&self) -> &Source {
        self.source
    }

    fn not_found(id: FileId) -> FileError {
        match id.root() {
            VirtualRoot::Project => FileError::NotFound(PathBuf::from(id.vpath().get_with_slash())),
            // No packages: `#import "@preview/.."` must not reach anything.
            VirtualRoot::Package(_) => FileError::AccessDenied,
        }
    }
}

impl World for RenderWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.renderer.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main {
            Ok(self.source.clone())
        } else if id == self.data_id
            || (id == self.xml_id && self.xml.is_some())
            || (id == self.qr_id && self.qr.is_some())
        {
            Err(FileError::NotSource)
        } else {
            Err(Self::not_found(id))
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else if id == self.main {
            Ok(Bytes::from_string(self.source.clone()))
        } else if id == self.xml_id
            && let Some(xml) = &self.xml
        {
            Ok(xml.clone())
        } else if id == self.qr_id
            && let Some(qr) = &self.qr
        {
            Ok(qr.clone())
        } else {
            Err(Self::not_found(id))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.get(index).cloned()
    }

    /// No clock: documents must not depend on when they were rendered.
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use typst::syntax::package::PackageSpec;

    use super::*;

    #[test]
    fn serves_only_the_template_and_the_data() {
        let renderer = Renderer::new().unwrap();
        let world = RenderWorld::new(&renderer, &renderer.main, Bytes::new(b"{}".to_vec()));

        assert_eq!(world.file(file_id(DATA_PATH)).unwrap().as_slice(), b"{}");
        assert!(world.source(world.main()).is_ok());
        assert!(world.file(world.main()).is_ok());
        assert!(matches!(
            world.source(file_id(DATA_PATH)),
            Err(FileError::NotSource)
        ));

        for path in [
            XML_PATH,
            crate::qr::QR_PATH,
            "/etc/passwd",
            "/etc/../etc/passwd",
            "/proc/self/environ",
            "/templates/invoice.typ",
        ] {
            let id = file_id(path);
            assert!(
                matches!(world.file(id), Err(FileError::NotFound(_))),
                "{path}"
            );
            assert!(
                matches!(world.source(id), Err(FileError::NotFound(_))),
                "{path}"
            );
        }

        let spec: PackageSpec = "@preview/example:0.1.0".parse().unwrap();
        let vpath = VirtualPath::new("/lib.typ").unwrap();
        let id = RootedPath::new(VirtualRoot::Package(spec), vpath).intern();
        assert!(matches!(world.file(id), Err(FileError::AccessDenied)));
        assert!(world.today(None).is_none());
    }

    #[test]
    fn serves_the_xml_only_for_a_hybrid() {
        let renderer = Renderer::new().unwrap();
        let world = RenderWorld::new(&renderer, &renderer.main, Bytes::new(b"{}".to_vec()))
            .with_xml(Bytes::new(b"<x/>"));
        assert_eq!(world.file(file_id(XML_PATH)).unwrap().as_slice(), b"<x/>");
        assert_eq!(world.file(file_id(DATA_PATH)).unwrap().as_slice(), b"{}");
        assert!(matches!(
            world.source(file_id(XML_PATH)),
            Err(FileError::NotSource)
        ));
        for path in ["/xrechnung.xml", "/FACTUR-X.XML", "/factur-x.xml.gz"] {
            assert!(
                matches!(world.file(file_id(path)), Err(FileError::NotFound(_))),
                "{path}"
            );
        }
    }
}
