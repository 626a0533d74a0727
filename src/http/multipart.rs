//! The one reader of `multipart/form-data` requests — the API's upload and the web forms with
//! files. Bounded three ways, so that no request can make the server hold more than it allows:
//! the whole request is at most `attachments.max_bytes` + `OVERHEAD` (a declared
//! `Content-Length` above that is refused before a byte is read), a text field is at most
//! `TEXT_MAX`, and a form has at most `FIELDS_MAX` parts.

use std::collections::HashMap;

use actix_multipart::{Multipart, MultipartError};
use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_LENGTH;
use futures_util::StreamExt;

/// What a request may carry beyond its files: the text fields and the multipart framing.
pub const OVERHEAD: usize = 64 * 1024;
/// The longest text field.
pub const TEXT_MAX: usize = 64 * 1024;
/// The most parts (text fields and files) in one form.
pub const FIELDS_MAX: usize = 32;

/// One uploaded file.
pub struct Upload {
    /// The name the form gave the part (`file` in the API).
    pub field: String,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The parts of a form.
#[derive(Default)]
pub struct Posted {
    pub fields: HashMap<String, String>,
    pub files: Vec<Upload>,
}

impl Posted {
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// More than the limit (413); the limit in bytes.
    TooLarge(usize),
    /// More than `FIELDS_MAX` parts (413 too: the request is too big in another way).
    TooManyParts,
    /// Not `multipart/form-data` at all (415).
    NotMultipart,
    /// Framing that does not parse, a text field that is not UTF-8, an interrupted upload (400).
    Malformed,
}

/// Reads a whole form within `max_file_bytes` (`attachments.max_bytes`) per file. Files with an
/// empty name and no content (a file input where nothing was chosen) are skipped.
pub async fn read(req: &HttpRequest, mut form: Multipart, max_file_bytes: usize) -> Result<Posted, Unreadable> {
    let whole = max_file_bytes.saturating_add(OVERHEAD);
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > whole as u64) {
        return Err(Unreadable::TooLarge(whole));
    }
    let mut out = Posted::default();
    let (mut total, mut parts) = (0usize, 0usize);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| match e {
            MultipartError::Payload(PayloadError::Overflow) => Unreadable::TooLarge(whole),
            MultipartError::ContentTypeMissing | MultipartError::ContentTypeIncompatible => Unreadable::NotMultipart,
            _ => Unreadable::Malformed,
        })?;
        parts += 1;
        if parts > FIELDS_MAX {
            return Err(Unreadable::TooManyParts);
        }
        let name = field.name().unwrap_or_default().to_string();
        // A part is a file when it has a file name, or is named `file` (the API's upload field).
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string)
            .or_else(|| (name == "file").then(|| "attachment".to_string()));
        let content_type =
            field.content_type().map(|m| m.to_string()).unwrap_or_else(|| "application/octet-stream".into());
        let limit = if filename.is_some() { max_file_bytes } else { TEXT_MAX };
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| Unreadable::Malformed)?;
            total += chunk.len();
            if total > whole {
                return Err(Unreadable::TooLarge(whole));
            }
            if data.len() + chunk.len() > limit {
                return Err(Unreadable::TooLarge(limit));
            }
            data.extend_from_slice(&chunk);
        }
        match filename {
            Some(f) if f.is_empty() && data.is_empty() => {}
            Some(filename) => out.files.push(Upload { field: name, filename, content_type, data }),
            None => {
                let text = String::from_utf8(data).map_err(|_| Unreadable::Malformed)?;
                out.fields.insert(name, text);
            }
        }
    }
    Ok(out)
}
