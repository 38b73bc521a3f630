//! Text from outside (a token's `kid` or `iss`, a header's `typ`, a PEM label, a JWK's
//! `crv`) made safe to put in an error message or a log line. This is the one place that
//! decides how; every crate of the project echoes outside text through it.

use std::fmt;

/// The most of the text that [`shown`] shows, in bytes.
const MAX_BYTES: usize = 64;

/// Text from outside, displayed so that it can neither forge a log line nor reach a
/// terminal as a control sequence: every control character (C0 including NUL, ESC, CR and
/// LF; DEL; the C1 range), the Unicode line and paragraph separators (U+2028, U+2029) and
/// the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
/// U+202A to U+202E, U+2066 to U+2069) are written as Rust escapes (`\n`, `\u{1b}`,
/// `\u{202e}`). Everything else is written as it is, so ordinary text reads unchanged.
///
/// Made by [`shown`] (bounded) or [`Shown::full`] (complete). Displaying it never allocates.
///
/// ```
/// use tessera_jose::{shown, Shown};
///
/// assert_eq!(shown("kid-1\n[INFO] admin logged in").to_string(), r"kid-1\n[INFO] admin logged in");
/// assert_eq!(shown(&"a".repeat(100)).to_string(), format!("{}...", "a".repeat(64)));
/// assert_eq!(Shown::full(&"a".repeat(100)).to_string(), "a".repeat(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown<'a> {
    text: &'a str,
    bounded: bool,
}

/// Shows at most the first 64 bytes of `text` (so at most 64 characters, cut back to a
/// character boundary), followed by `...` if anything was left out, with the characters
/// listed on [`Shown`] escaped. For echoing text whose length the sender chose.
pub fn shown(text: &str) -> Shown<'_> {
    Shown {
        text,
        bounded: true,
    }
}

impl<'a> Shown<'a> {
    /// Shows all of `text`, escaped as [`shown`] does but not shortened: for log fields that
    /// must be complete, and messages from parsers that may quote their input.
    pub fn full(text: &'a str) -> Shown<'a> {
        Shown {
            text,
            bounded: false,
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, cut) = if self.bounded && self.text.len() > MAX_BYTES {
            let end = (0..=MAX_BYTES)
                .rev()
                .find(|&i| self.text.is_char_boundary(i))
                .unwrap_or(0);
            (self.text.get(..end).unwrap_or_default(), true)
        } else {
            (self.text, false)
        };
        // Runs of plain text are written in one piece; only escapes are written per character.
        let mut plain_from = 0;
        for (at, c) in text.char_indices() {
            if must_escape(c) {
                f.write_str(text.get(plain_from..at).unwrap_or_default())?;
                fmt::Display::fmt(&c.escape_default(), f)?;
                plain_from = at + c.len_utf8();
            }
        }
        f.write_str(text.get(plain_from..).unwrap_or_default())?;
        if cut {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A message from a parser that may quote its input (serde's "invalid type: string ...",
/// "unknown variant ..."), escaped in full for an error of this crate.
pub(crate) fn escaped_message(message: impl fmt::Display) -> String {
    let message = message.to_string();
    Shown::full(&message).to_string()
}

/// Characters that end a line, move a terminal's cursor or start a control sequence, or
/// change the order in which a reader sees the text around them.
fn must_escape(c: char) -> bool {
    // `is_control`: U+0000 to U+001F, U+007F and U+0080 to U+009F.
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_text_is_bounded_and_cannot_forge_log_lines() {
        assert_eq!(shown("kid-1").to_string(), "kid-1");
        assert_eq!(
            shown("x\nINFO login ok\u{1b}[0m").to_string(),
            "x\\nINFO login ok\\u{1b}[0m"
        );
        let long = "é".repeat(100);
        let text = shown(&long).to_string();
        assert!(text.ends_with("...") && text.len() <= 67, "{text}");
    }

    #[test]
    fn line_breaks_are_escaped() {
        assert_eq!(
            shown("a\nb\rc\r\nd\u{2028}e\u{2029}f\u{85}g").to_string(),
            r"a\nb\rc\r\nd\u{2028}e\u{2029}f\u{85}g"
        );
    }

    #[test]
    fn terminal_escapes_and_other_controls_are_escaped() {
        // An ANSI sequence that would clear the screen, and one that would set the title.
        assert_eq!(
            shown("\u{1b}[2J\u{1b}]0;pwned\u{7}").to_string(),
            r"\u{1b}[2J\u{1b}]0;pwned\u{7}"
        );
        assert_eq!(
            shown("\0\t\u{7f}\u{80}\u{9b}\u{9f}").to_string(),
            r"\u{0}\t\u{7f}\u{80}\u{9b}\u{9f}"
        );
        // No raw control character survives anywhere in the Latin-1 range.
        let all: String = (0u32..0x100).filter_map(char::from_u32).collect();
        let text = Shown::full(&all).to_string();
        assert!(!text.chars().any(char::is_control), "{text}");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        // "user" followed by a right-to-left override that would show `txt.exe` as `exe.txt`.
        assert_eq!(
            shown("user\u{202e}txt.exe").to_string(),
            r"user\u{202e}txt.exe"
        );
        for c in ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .chain(['\u{200e}', '\u{200f}', '\u{61c}'])
        {
            let text = shown(&format!("a{c}b")).to_string();
            assert_eq!(text, format!("a\\u{{{:x}}}b", u32::from(c)));
        }
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in [
            "",
            "https://auth.example.com",
            "café ☕ 東京",
            "a\\nb",
            "\"q\"",
        ] {
            assert_eq!(shown(text).to_string(), text);
            assert_eq!(Shown::full(text).to_string(), text);
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(shown(&"a".repeat(64)).to_string(), "a".repeat(64));
        assert_eq!(
            shown(&"a".repeat(65)).to_string(),
            format!("{}...", "a".repeat(64))
        );
        // A three-byte character straddles byte 64: it is left out whole.
        let text = format!("{}€z", "a".repeat(62));
        assert_eq!(shown(&text).to_string(), format!("{}...", "a".repeat(62)));
        // Four-byte characters: 16 fit exactly.
        let text = "🦀".repeat(17);
        assert_eq!(shown(&text).to_string(), format!("{}...", "🦀".repeat(16)));
        // The bound is on the text shown, before escaping.
        let text = "\n".repeat(70);
        assert_eq!(shown(&text).to_string(), format!("{}...", r"\n".repeat(64)));
    }

    #[test]
    fn full_is_not_shortened() {
        let text = format!("{}\n{}", "x".repeat(100), "y".repeat(100));
        assert_eq!(
            Shown::full(&text).to_string(),
            format!("{}\\n{}", "x".repeat(100), "y".repeat(100))
        );
    }

    /// Displays into a fixed buffer through `fmt::Write`, as a logger with its own buffer
    /// would: nothing in the way needs an allocator's help.
    #[test]
    fn writes_through_a_plain_fmt_write() {
        struct Fixed {
            buf: [u8; 128],
            len: usize,
        }
        impl fmt::Write for Fixed {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.len + s.len();
                self.buf
                    .get_mut(self.len..end)
                    .ok_or(fmt::Error)?
                    .copy_from_slice(s.as_bytes());
                self.len = end;
                Ok(())
            }
        }
        let mut out = Fixed {
            buf: [0; 128],
            len: 0,
        };
        fmt::write(&mut out, format_args!("kid `{}`", shown("k\u{1b}1"))).unwrap();
        assert_eq!(&out.buf[..out.len], br"kid `k\u{1b}1`");
    }
}
