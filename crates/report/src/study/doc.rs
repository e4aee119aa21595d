//! A report as a list of blocks, rendered twice: as Markdown
//! (`REPORT.md`, figures linked as PNG files) and as one self-contained
//! HTML page (`report.html`: figures inline as SVG, pictures as base64
//! PNG, no JavaScript, readable offline). One model, two renderers, so the
//! two files never say different things.

/// One block of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading of level 1-3.
    Heading(u8, String),
    /// A paragraph; `` `code` `` and `**bold**` are the only inline markup.
    Para(String),
    /// A bulleted list of such paragraphs.
    List(Vec<String>),
    /// A table.
    Table(Table),
    /// A drawn figure: its SVG for the HTML page, its PNG (path relative to
    /// the report) for the Markdown.
    Figure {
        /// The caption.
        caption: String,
        /// The figure as an SVG document.
        svg: String,
        /// The PNG beside the report.
        png: String,
    },
    /// A picture file (a PNG, path relative to the report) and its bytes,
    /// embedded in the HTML page.
    Picture {
        /// The caption.
        caption: String,
        /// The path beside the report.
        path: String,
        /// The PNG's bytes.
        png: Vec<u8>,
    },
}

/// A table: a header row and body rows of cells (inline markup allowed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// The column names.
    pub header: Vec<String>,
    /// The rows; each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names and no rows.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Table {
        Table {
            header: header.iter().map(|s| s.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// A report: a title and its blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    /// The title (the HTML `<title>` and the first heading).
    pub title: String,
    /// The blocks in order.
    pub blocks: Vec<Block>,
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Doc {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = format!("# {}\n\n", self.title);
        for b in &self.blocks {
            match b {
                Block::Heading(level, text) => {
                    let hashes = "#".repeat(usize::from((*level).clamp(1, 5)) + 1);
                    s.push_str(&format!("{hashes} {text}\n\n"));
                }
                Block::Para(text) => s.push_str(&format!("{text}\n\n")),
                Block::List(items) => {
                    for i in items {
                        s.push_str(&format!("- {i}\n"));
                    }
                    s.push('\n');
                }
                Block::Table(t) => {
                    let line = |cells: &[String]| {
                        let cells: Vec<String> = cells.iter().map(|c| md_cell(c)).collect();
                        format!("| {} |\n", cells.join(" | "))
                    };
                    s.push_str(&line(&t.header));
                    s.push_str(&format!("|{}\n", "---|".repeat(t.header.len())));
                    for r in &t.rows {
                        s.push_str(&line(r));
                    }
                    s.push('\n');
                }
                Block::Figure { caption, png, .. }
                | Block::Picture {
                    caption, path: png, ..
                } => {
                    s.push_str(&format!("![{caption}]({png})\n\n*{caption}*\n\n"));
                }
            }
        }
        s
    }

    /// The report as one self-contained HTML page.
    pub fn html(&self) -> String {
        let mut s =
            String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        s.push_str(&format!(
            "<title>{}</title>\n<style>{STYLE}</style></head><body>\n",
            escape(&self.title)
        ));
        s.push_str(&format!("<h1>{}</h1>\n", inline(&self.title)));
        for b in &self.blocks {
            match b {
                Block::Heading(level, text) => {
                    let h = (*level).clamp(1, 5) + 1;
                    s.push_str(&format!("<h{h}>{}</h{h}>\n", inline(text)));
                }
                Block::Para(text) => s.push_str(&format!("<p>{}</p>\n", inline(text))),
                Block::List(items) => {
                    s.push_str("<ul>\n");
                    for i in items {
                        s.push_str(&format!("<li>{}</li>\n", inline(i)));
                    }
                    s.push_str("</ul>\n");
                }
                Block::Table(t) => {
                    s.push_str("<table>\n<thead><tr>");
                    for h in &t.header {
                        s.push_str(&format!("<th>{}</th>", inline(h)));
                    }
                    s.push_str("</tr></thead>\n<tbody>\n");
                    for r in &t.rows {
                        s.push_str("<tr>");
                        for c in r {
                            s.push_str(&format!("<td>{}</td>", inline(c)));
                        }
                        s.push_str("</tr>\n");
                    }
                    s.push_str("</tbody></table>\n");
                }
                Block::Figure { caption, svg, .. } => {
                    // The SVG document without its XML declaration, inline.
                    let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                    s.push_str(&format!(
                        "<figure>{body}<figcaption>{}</figcaption></figure>\n",
                        inline(caption)
                    ));
                }
                Block::Picture { caption, png, .. } => {
                    s.push_str(&format!(
                        "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>\n",
                        escape(caption),
                        base64(png),
                        inline(caption)
                    ));
                }
            }
        }
        s.push_str("</body></html>\n");
        s
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}\
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #bbb;padding:.25em .5em;text-align:left}\
th{background:#eee}figure{margin:1em 0}figure svg,figure img{max-width:100%;height:auto}\
figcaption{font-style:italic;color:#444}code{background:#f4f4f4;padding:0 .2em}";

/// `&`, `<`, `>` and `"` as HTML entities.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with `` `code` `` and `**bold**` as HTML.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<code>{}</code>", escape(part)));
            continue;
        }
        for (j, p) in escape(part).split("**").enumerate() {
            if j % 2 == 1 {
                out.push_str(&format!("<strong>{p}</strong>"));
            } else {
                out.push_str(p);
            }
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648, Sec. 4).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn markdown_and_html_carry_the_same_blocks() {
        let mut t = Table::new(&["a|b", "c"]);
        t.row(vec!["1 < 2".into(), "`x`".into()]);
        let doc = Doc {
            title: "T & U".into(),
            blocks: vec![
                Block::Heading(1, "Claims".into()),
                Block::Para("a **bold** and `c<d>` word".into()),
                Block::Table(t),
                Block::Figure {
                    caption: "fig".into(),
                    svg: "<?xml version=\"1.0\"?><svg width=\"1\"></svg>".into(),
                    png: "figures/f.png".into(),
                },
                Block::Picture {
                    caption: "pic".into(),
                    path: "p.png".into(),
                    png: b"foo".to_vec(),
                },
            ],
        };
        let md = doc.markdown();
        assert!(md.starts_with("# T & U\n"));
        assert!(
            md.contains("## Claims") && md.contains("| a\\|b | c |\n|---|---|\n| 1 < 2 | `x` |")
        );
        assert!(md.contains("![fig](figures/f.png)") && md.contains("![pic](p.png)"));
        let html = doc.html();
        assert!(html.contains("<title>T &amp; U</title>") && html.contains("<h2>Claims</h2>"));
        assert!(html.contains("a <strong>bold</strong> and <code>c&lt;d&gt;</code> word"));
        assert!(html.contains("<td>1 &lt; 2</td><td><code>x</code></td>"));
        assert!(html.contains("<figure><svg width=\"1\"></svg>") && !html.contains("<?xml"));
        assert!(html.contains("src=\"data:image/png;base64,Zm9v\""));
        assert!(!html.contains("<script"));
    }
}
