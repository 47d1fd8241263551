//! A [`Document`] as an A4 PDF, drawn with krilla in the embedded DejaVu
//! fonts (Cyrillic included; subset into the file with a ToUnicode map, so
//! `pdftotext` and a reader's search see the same text as the HTML).
//!
//! Layout is two passes: lines are broken and placed on pages first, using
//! the fonts' advance widths, then drawn.

use std::sync::OnceLock;

use krilla::geom::{PathBuilder, Point};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use rustybuzz::ttf_parser;

use super::Document;
use ca_core::{Error, Result};

static SERIF: &[u8] = include_bytes!("../../fonts/DejaVuSerif.ttf");
static SERIF_BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSerif-Bold.ttf");
static MONO: &[u8] = include_bytes!("../../fonts/DejaVuSansMono.ttf");

/// A4 in points, and the margins.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 51.0;
const RIGHT: f32 = PAGE_W - 45.0;
const TOP: f32 = 50.0;
const BOTTOM: f32 = PAGE_H - 55.0;
/// Where values start, right of their labels.
const VALUE_X: f32 = LEFT + 215.0;

const BODY: f32 = 10.5;
const SMALL: f32 = 8.5;
const TITLE: f32 = 14.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Face {
    Serif,
    Bold,
    Mono,
}

impl Face {
    fn data(self) -> &'static [u8] {
        match self {
            Face::Serif => SERIF,
            Face::Bold => SERIF_BOLD,
            Face::Mono => MONO,
        }
    }

    /// The width of `text` at `size` points, from the font's advances.
    fn width(self, text: &str, size: f32) -> f32 {
        static FACES: OnceLock<[ttf_parser::Face<'static>; 3]> = OnceLock::new();
        let faces = FACES.get_or_init(|| {
            [Face::Serif, Face::Bold, Face::Mono]
                .map(|f| ttf_parser::Face::parse(f.data(), 0).expect("embedded font parses"))
        });
        let face = &faces[self as usize];
        let units: u32 = text
            .chars()
            .map(|c| {
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .unwrap_or(face.units_per_em() / 2) as u32
            })
            .sum();
        units as f32 * size / face.units_per_em() as f32
    }
}

enum Op {
    Text {
        x: f32,
        y: f32,
        face: Face,
        size: f32,
        text: String,
    },
    Line {
        x1: f32,
        x2: f32,
        y: f32,
    },
}

/// Places lines top to bottom, starting a page when one is full.
struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    /// Moves down by `height`, onto a new page when it would not fit.
    fn advance(&mut self, height: f32) -> f32 {
        if self.y + height > BOTTOM {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
        self.y += height;
        self.y
    }

    fn push(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    fn text(&mut self, x: f32, y: f32, face: Face, size: f32, text: &str) {
        self.push(Op::Text {
            x,
            y,
            face,
            size,
            text: text.to_string(),
        });
    }

    /// A paragraph wrapped to `width`, each line at `x` (or centred).
    fn paragraph(&mut self, text: &str, face: Face, size: f32, x: f32, width: f32, centred: bool) {
        for line in wrap(text, face, size, width) {
            let y = self.advance(size * 1.35);
            let x = if centred {
                LEFT + ((RIGHT - LEFT) - face.width(&line, size)).max(0.0) / 2.0
            } else {
                x
            };
            self.text(x, y, face, size, &line);
        }
    }

    /// A label and its value side by side, both wrapped, kept on one page.
    fn row(&mut self, label: &str, value: &str) {
        let labels = wrap(label, Face::Serif, BODY, VALUE_X - LEFT - 8.0);
        let values = wrap(value, Face::Serif, BODY, RIGHT - VALUE_X);
        let lines = labels.len().max(values.len());
        let step = BODY * 1.35;
        if self.y + step * lines as f32 > BOTTOM {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
        for i in 0..lines {
            let y = self.advance(step);
            if let Some(l) = labels.get(i) {
                self.text(LEFT, y, Face::Serif, BODY, l);
            }
            if let Some(v) = values.get(i) {
                self.text(VALUE_X, y, Face::Serif, BODY, v);
            }
        }
    }
}

/// Breaks `text` into lines no wider than `width`: at spaces, and inside a
/// word only when the word alone is too wide.
fn wrap(text: &str, face: Face, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if face.width(&candidate, size) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            line.push(c);
            if face.width(&line, size) > width {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(c);
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn lay_out(doc: &Document) -> Vec<Vec<Op>> {
    let mut l = Layout::new();
    let form_y = l.advance(SMALL);
    let form_x = RIGHT - Face::Serif.width(&doc.form, SMALL);
    l.text(form_x, form_y, Face::Serif, SMALL, &doc.form);
    l.advance(10.0);
    l.paragraph(&doc.title, Face::Bold, TITLE, LEFT, RIGHT - LEFT, true);
    l.paragraph(&doc.subtitle, Face::Serif, BODY, LEFT, RIGHT - LEFT, true);
    for section in &doc.sections {
        l.advance(8.0);
        l.paragraph(
            &section.heading,
            Face::Bold,
            BODY + 0.5,
            LEFT,
            RIGHT - LEFT,
            false,
        );
        let y = l.y + 3.0;
        l.push(Op::Line {
            x1: LEFT,
            x2: RIGHT,
            y,
        });
        l.advance(4.0);
        for (label, value) in &section.rows {
            l.row(label, value);
        }
        if !section.block.is_empty() {
            l.advance(4.0);
            for line in &section.block {
                let y = l.advance(SMALL * 1.3);
                l.text(LEFT + 8.0, y, Face::Mono, SMALL, line);
            }
        }
    }
    for s in &doc.signatures {
        l.advance(18.0);
        l.paragraph(&s.role, Face::Serif, BODY, LEFT, RIGHT - LEFT, false);
        let y = l.advance(BODY * 2.2);
        l.push(Op::Line {
            x1: LEFT,
            x2: LEFT + 170.0,
            y: y + 1.0,
        });
        let name = if s.name.is_empty() {
            "/ ____________________ /".to_string()
        } else {
            format!("/ {} /", s.name)
        };
        l.text(LEFT + 178.0, y, Face::Serif, BODY, &name);
        if s.seal {
            l.text(RIGHT - 30.0, y, Face::Serif, BODY, "М.П.");
        }
    }
    l.advance(18.0);
    let y = l.advance(BODY * 1.35);
    l.text(LEFT, y, Face::Serif, BODY, "Дата ____________");
    l.advance(12.0);
    l.paragraph(&doc.footer, Face::Serif, SMALL, LEFT, RIGHT - LEFT, false);
    l.pages
}

/// Renders the PDF.
pub fn render(doc: &Document) -> Result<Vec<u8>> {
    let fonts = [SERIF, SERIF_BOLD, MONO].map(|data| {
        Font::new(krilla::Data::from(data), 0).ok_or_else(|| Error::internal("embedded font"))
    });
    let [serif, bold, mono] = fonts;
    let (serif, bold, mono) = (serif?, bold?, mono?);
    let mut pdf = krilla::Document::new();
    pdf.set_metadata(
        Metadata::new()
            .title(doc.title.clone())
            .language("ru".into())
            .creator("Client-Bank CA".into()),
    );
    let settings =
        PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| Error::internal("page size"))?;
    for ops in lay_out(doc) {
        let mut page = pdf.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    face,
                    size,
                    text,
                } => {
                    let font = match face {
                        Face::Serif => serif.clone(),
                        Face::Bold => bold.clone(),
                        Face::Mono => mono.clone(),
                    };
                    surface.set_stroke(None);
                    surface.set_fill(Some(Fill::default()));
                    surface.draw_text(
                        Point::from_xy(x, y),
                        font,
                        size,
                        &text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Line { x1, x2, y } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(x1, y);
                    pb.line_to(x2, y);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            width: 0.6,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    pdf.finish()
        .map_err(|e| Error::internal(format!("PDF: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_inside_the_width_and_keeps_every_word() {
        let text = "Копия сертификата ключа проверки электронной подписи на бумажном носителе \
                    Оченьдлинноесловокотороенепомещаетсянаоднустрокуникакимобразомвообще";
        let lines = wrap(text, Face::Serif, BODY, 200.0);
        assert!(lines.len() > 2);
        for line in &lines {
            assert!(Face::Serif.width(line, BODY) <= 200.0, "{line}");
        }
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        assert_eq!(wrap("", Face::Serif, BODY, 100.0), vec![String::new()]);
    }

    #[test]
    fn a_page_that_overflows_continues_on_the_next() {
        let doc = Document {
            form: "f".into(),
            title: "t".into(),
            subtitle: "s".into(),
            sections: vec![super::super::Section {
                heading: "h".into(),
                rows: (0..120)
                    .map(|i| (format!("поле {i}"), "значение".into()))
                    .collect(),
                block: vec![],
            }],
            signatures: vec![],
            footer: "x".into(),
        };
        let pages = lay_out(&doc);
        assert!(pages.len() >= 2);
        let pdf = render(&doc).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
