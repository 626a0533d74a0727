//! Markdown to HTML that is safe to show: raw HTML in the source is shown as text, and links and
//! images keep only `http`, `https`, `mailto` and relative addresses. Pure.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // A colon after a slash, `?` or `#` is not a scheme.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => matches!(scheme, "http" | "https" | "mailto"),
        _ => true,
    }
}

fn clean(url: CowStr<'_>) -> CowStr<'_> {
    if safe_url(&url) { url } else { CowStr::Borrowed("#") }
}

/// The HTML of `source`.
pub fn to_html(source: &str) -> String {
    let parser = Parser::new_ext(source, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: clean(dest_url), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: clean(dest_url), title, id })
        }
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markdown_renders_and_html_in_it_does_not() {
        let html = to_html(
            "# 处理\n\n1. 重启 **WebLogic**\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://ok.example/a) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>处理</h1>") && html.contains("<strong>WebLogic</strong>"), "{html}");
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:") && html.contains("href=\"https://ok.example/a\""), "{html}");
    }
}
