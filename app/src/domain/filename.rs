//! The name a document is kept and served under. The client's name is only a suggestion: the
//! type is known from the bytes, and a browser trusts the name's extension and renders Unicode
//! bidi controls, so `invoice<U+202E>fdp.hta` (a PDF) would show as `invoiceath.pdf` and save as
//! an `.hta`. The name kept is the last path segment of the given one, without control or
//! format characters (bidi overrides, zero-width joiners, line separators), ending in an
//! extension of the type its bytes are (appended when the name has another; nothing removed).

use crate::platform::documents::content::ContentType;

/// The longest name kept, in characters.
const MAX_CHARS: usize = 255;

/// Unicode's format characters (general category Cf) and the line and paragraph separators:
/// invisible, and some reorder what is shown around them.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

fn shown(c: char) -> bool {
    !c.is_control() && !INVISIBLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// The extensions a type is known by; the first is the one given.
fn extensions(content: ContentType) -> &'static [&'static str] {
    match content {
        ContentType::Pdf => &["pdf"],
        ContentType::Jpeg => &["jpg", "jpeg", "jpe"],
        ContentType::Png => &["png"],
        ContentType::Webp => &["webp"],
        ContentType::Heic => &["heic", "heif"],
        ContentType::Tiff => &["tiff", "tif"],
    }
}

/// The name to keep and serve for a file of `content` the client called `given`.
pub fn safe(given: Option<&str>, content: ContentType) -> String {
    let last = given
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| shown(*c)).collect();
    // Windows drops trailing dots and spaces, which would put another extension last.
    let name = cleaned.trim().trim_end_matches(['.', ' ']);
    let known = extensions(content);
    let has_own = name
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && known.contains(&&*ext.to_lowercase()));
    let suffix = if has_own {
        String::new()
    } else {
        format!(".{}", known[0])
    };
    let stem = if name.is_empty() { "document" } else { name };
    let room = MAX_CHARS - suffix.chars().count();
    let mut kept: String = stem.chars().take(room).collect();
    if has_own && stem.chars().count() > room {
        // Cut short, it lost its extension: give it back.
        kept = stem.chars().take(room - known[0].len() - 1).collect();
        kept.push('.');
        kept.push_str(known[0]);
    }
    kept + &suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_folders() {
        assert_eq!(
            safe(Some("../../etc/passwd.pdf"), ContentType::Pdf),
            "passwd.pdf"
        );
        assert_eq!(safe(Some("C:\\x\\scan.png"), ContentType::Png), "scan.png");
        assert_eq!(safe(None, ContentType::Pdf), "document.pdf");
        assert_eq!(safe(Some(" . "), ContentType::Pdf), "document.pdf");
    }

    #[test]
    fn the_extension_is_the_bytes_type_and_no_bidi_control_survives() {
        assert_eq!(
            safe(Some("invoice\u{202E}fdp.hta"), ContentType::Pdf),
            "invoicefdp.hta.pdf"
        );
        assert_eq!(safe(Some("photo.JPEG"), ContentType::Jpeg), "photo.JPEG");
        assert_eq!(safe(Some("photo.jpeg"), ContentType::Png), "photo.jpeg.png");
        assert_eq!(safe(Some("scan.pdf. . "), ContentType::Pdf), "scan.pdf");
        assert_eq!(safe(Some(".pdf"), ContentType::Pdf), ".pdf.pdf");
        assert_eq!(
            safe(
                Some("a\u{200B}b\u{2066}c\u{2028}d\u{FEFF}e\u{7}.tif"),
                ContentType::Tiff
            ),
            "abcde.tif"
        );
        assert_eq!(
            safe(Some("Zürich 事故.pdf"), ContentType::Pdf),
            "Zürich 事故.pdf"
        );
    }

    #[test]
    fn a_long_name_keeps_its_extension_within_the_limit() {
        for given in ["x".repeat(400), format!("{}.pdf", "x".repeat(400))] {
            let kept = safe(Some(&given), ContentType::Pdf);
            assert_eq!(kept.chars().count(), MAX_CHARS);
            assert!(kept.ends_with(".pdf"), "{kept}");
        }
    }
}
