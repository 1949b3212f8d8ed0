//! The matrix as one HTML page: no script, no network, the verdict and the deviations
//! on the first screen, and in every cell both words and a mark, so that colour (as
//! the model says, or a deviation, never "allowed") is never the only sign.

use std::fmt::Write;

use super::page::{layout, Standing};
use super::{beyond_words, deviation_words, verdict, LEGEND};
use crate::record::Observation;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#1d1d1f}\
    table{border-collapse:collapse;margin:0 0 2em}\
    th,td{border:1px solid #c7c7cc;padding:4px 8px;text-align:left;vertical-align:top}\
    th{background:#f2f2f7}td{max-width:24em}td div{padding-left:1em;text-indent:-1em}\
    .as-model{background:#e3f1e0}.deviation{background:#f9c9c2}\
    tr.deviation,div.deviation{font-weight:600}\
    .stricter{background:#fdf1c7}.verdict{font-size:1.2em}\
    .ok{color:#1e6b2e}.bad{color:#a3160b}";

/// The whole page.
pub fn html(observed: &[Observation]) -> String {
    let page = layout(observed);
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>rls-harness access matrix</title>\n<style>{STYLE}</style></head><body>\n\
         <h1>Access matrix</h1>\n<p class=\"verdict {}\">{}</p>\n",
        if page.deviations.is_empty() {
            "ok"
        } else {
            "bad"
        },
        bold(&escape(&verdict(&page)))
    );
    if !page.deviations.is_empty() {
        out.push_str(
            "<h2>Deviations</h2>\n<table><tr><th>object</th><th>principal</th>\
             <th>operation (row)</th><th>contexts</th><th>observed</th></tr>\n",
        );
        for deviation in &page.deviations {
            out.push_str("<tr class=\"deviation\">");
            for field in deviation_words(deviation) {
                let _ = write!(out, "<td>{}</td>", escape(&field));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    if !page.beyond.is_empty() {
        out.push_str("<h2>Objects beyond the model</h2>\n<ul>\n");
        for (object, stricter, deviations) in &page.beyond {
            let words = beyond_words(object, *stricter, *deviations);
            let _ = writeln!(out, "<li>{}</li>", code(&escape(&words)));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(out, "<p>{}</p>", code(&escape(LEGEND)));
    for table in &page.tables {
        let _ = write!(
            out,
            "<h2>{}</h2>\n<table><tr><th>principal</th>",
            escape(table.object)
        );
        for op in &table.operations {
            let _ = write!(out, "<th>{}</th>", escape(op));
        }
        out.push_str("</tr>\n");
        for (principal, cells) in &table.rows {
            let _ = write!(out, "<tr><th>{}</th>", escape(principal));
            for cell in cells {
                let Some(cell) = cell else {
                    out.push_str("<td></td>");
                    continue;
                };
                let _ = write!(out, "<td class=\"{}\">", class(cell.standing));
                for (line, standing) in &cell.lines {
                    match standing {
                        Standing::Deviation => {
                            let _ = write!(out, "<div class=\"deviation\">{}</div>", escape(line));
                        }
                        _ => {
                            let _ = write!(out, "<div>{}</div>", escape(line));
                        }
                    }
                }
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn class(standing: Standing) -> &'static str {
    match standing {
        Standing::AsModel => "as-model",
        Standing::Stricter => "stricter",
        Standing::Deviation => "deviation",
    }
}

/// Markdown's `**bold**` as HTML (the verdict is written once, for both formats).
fn bold(text: &str) -> String {
    markup(text, "**", "strong")
}

/// Markdown's `` `code` `` as HTML.
fn code(text: &str) -> String {
    markup(text, "`", "code")
}

fn markup(text: &str, delimiter: &str, tag: &str) -> String {
    let mut out = String::new();
    for (index, part) in text.split(delimiter).enumerate() {
        if index % 2 == 1 {
            let _ = write!(out, "<{tag}>{part}</{tag}>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_emphasis_becomes_tags_and_text_is_escaped() {
        assert_eq!(
            bold("**2 deviations** in <x>"),
            "<strong>2 deviations</strong> in <x>"
        );
        assert_eq!(code(&escape("`a<b>`: c")), "<code>a&lt;b&gt;</code>: c");
    }
}
