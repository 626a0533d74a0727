//! Opsline's PDF renderer, in its own crate so that only a build with the `pdf` feature compiles
//! typst. A template (typst markup, a text file beside this crate) is laid out with the data it
//! reads as `json("data.json")`, in the fonts built in here — never the host's — and written as
//! PDF with the fonts subset.

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// The service report's template.
pub const REPORT: &str = include_str!("../report.typ");

/// WenQuanYi Micro Hei (see `fonts/README.md`): Chinese and Latin in one face.
const FONT: &[u8] = include_bytes!("../fonts/wqy-microhei.ttc");

/// The standard library and the fonts, made once and shared by every rendering.
pub struct Renderer {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Self {
        let fonts: Vec<Font> = Font::iter(Bytes::new(FONT)).collect();
        Renderer {
            library: LazyHash::new(Library::default()),
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    }

    /// `template` laid out with `data` (JSON) as a PDF; an error names what typst refused.
    pub fn render(&self, template: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        let job = Job {
            renderer: self,
            main: Source::new(file("/main.typ")?, template.to_string()),
            data_id: file("/data.json")?,
            data: Bytes::new(data.to_vec()),
        };
        let document = typst::compile::<PagedDocument>(&job)
            .output
            .map_err(|errors| errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; "))?;
        let options =
            typst_pdf::PdfOptions { ident: typst::foundations::Smart::Custom("opsline".into()), ..Default::default() };
        typst_pdf::pdf(&document, &options)
            .map_err(|errors| errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; "))
    }
}

fn file(path: &str) -> Result<FileId, String> {
    let vpath = VirtualPath::new(path).map_err(|e| format!("{path}: {e:?}"))?;
    Ok(FileId::new(RootedPath::new(VirtualRoot::Project, vpath)))
}

/// One rendering: the template as the main file, the data as `data.json`, nothing else.
struct Job<'a> {
    renderer: &'a Renderer,
    main: Source,
    data_id: FileId,
    data: Bytes,
}

impl World for Job<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.renderer.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::AccessDenied) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id { Ok(self.data.clone()) } else { Err(FileError::AccessDenied) }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.get(index).cloned()
    }

    /// No date from the clock: the same data makes the same document.
    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_lays_out_in_the_built_in_font_and_the_same_input_gives_the_same_bytes() {
        let r = Renderer::new();
        let template = "#let d = json(\"data.json\")\n#set text(font: \"WenQuanYi Micro Hei\")\n= #d.name\n";
        let data = r#"{"name": "华夏银行 服务报告"}"#.as_bytes();
        let pdf = r.render(template, data).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert_eq!(pdf, r.render(template, data).unwrap());
        assert!(r.render("#json(\"/etc/passwd\")", b"{}").is_err(), "no file but the data");
    }
}
