//! Forms with files (`multipart/form-data`): the text fields and the files, read within the
//! attachment size limit.

use std::collections::HashMap;

use actix_multipart::Multipart;
use futures_util::StreamExt;

/// One uploaded file.
pub struct Upload {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The fields of a multipart form.
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
pub enum Unreadable {
    TooLarge,
    Malformed,
}

/// Reads a whole form; files named `file` with an empty name (nothing chosen) are skipped. Text
/// fields are at most 64 KiB each; all files together at most `max_bytes`.
pub async fn read(mut form: Multipart, max_bytes: usize) -> Result<Posted, Unreadable> {
    let mut out = Posted::default();
    let mut total = 0usize;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| match e {
            actix_multipart::MultipartError::Payload(actix_web::error::PayloadError::Overflow) => Unreadable::TooLarge,
            _ => Unreadable::Malformed,
        })?;
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.content_disposition().and_then(|cd| cd.get_filename()).map(str::to_string);
        let content_type =
            field.content_type().map(|m| m.to_string()).unwrap_or_else(|| "application/octet-stream".into());
        let limit = if filename.is_some() { max_bytes } else { 64 * 1024 };
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| Unreadable::Malformed)?;
            total += chunk.len();
            if data.len() + chunk.len() > limit || total > max_bytes + 256 * 1024 {
                return Err(Unreadable::TooLarge);
            }
            data.extend_from_slice(&chunk);
        }
        match filename {
            Some(f) if f.is_empty() && data.is_empty() => {}
            Some(filename) => out.files.push(Upload { filename, content_type, data }),
            None => {
                let text = String::from_utf8(data).map_err(|_| Unreadable::Malformed)?;
                out.fields.insert(name, text);
            }
        }
    }
    Ok(out)
}
