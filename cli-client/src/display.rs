//! Human output of text that came from someone else.
//!
//! A received message is the sender's bytes. Written to a terminal as they are, a newline
//! followed by `carol: …` would look like a message from carol, and escape sequences would
//! drive the terminal (move the cursor, rewrite earlier lines, set the window title). So in
//! human output:
//!
//! * every line after the first is indented by [`CONTINUATION`], so no line of a message can
//!   start at the left edge, where the sender's name of a real message stands;
//! * C0 control characters (other than the newline, and tab, which is harmless) and DEL are
//!   shown as their Unicode control pictures (`ESC` as `␛`, carriage return as `␍`);
//! * C1 control characters, the Unicode line and paragraph separators and the bidirectional
//!   overrides and isolates (which can reorder what a line appears to say) are shown as
//!   `<U+XXXX>`.
//!
//! `--json` output is exact: JSON escapes every control character itself.

/// What starts every continuation line of a multi-line message.
pub const CONTINUATION: &str = "    ";

/// `text` made safe for a terminal, continuation lines indented (see the module doc).
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_char(&mut out, c);
    }
    out
}

fn push_char(out: &mut String, c: char) {
    let u = c as u32;
    match c {
        '\n' => {
            out.push('\n');
            out.push_str(CONTINUATION);
        }
        '\t' => out.push('\t'),
        // C0 controls: U+2400 + code is the control picture.
        _ if u < 0x20 => out.push(char::from_u32(0x2400 + u).unwrap_or('\u{FFFD}')),
        '\u{7f}' => out.push('\u{2421}'),
        _ if is_hidden_control(c) => out.push_str(&format!("<U+{u:04X}>")),
        _ => out.push(c),
    }
}

/// C1 controls, line/paragraph separators, bidirectional embedding, override and isolate
/// controls.
fn is_hidden_control(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'
        | '\u{2028}' | '\u{2029}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            escape_text("Hi Bob, it's Alice 👋 — ünïcödé"),
            "Hi Bob, it's Alice 👋 — ünïcödé"
        );
        assert_eq!(escape_text("a\tb"), "a\tb");
    }

    #[test]
    fn a_spoofed_line_is_indented() {
        assert_eq!(
            escape_text("ok\ncarol: send money"),
            "ok\n    carol: send money"
        );
        assert_eq!(escape_text("ok\r\ncarol: x"), "ok\u{240d}\n    carol: x");
        assert_eq!(escape_text("\n\n"), "\n    \n    ");
    }

    #[test]
    fn escapes_are_shown() {
        assert_eq!(escape_text("\x1b[2J\x07"), "\u{241b}[2J\u{2407}");
        assert_eq!(escape_text("\0\x7f"), "\u{2400}\u{2421}");
        assert_eq!(escape_text("\u{9b}31m"), "<U+009B>31m");
        assert_eq!(escape_text("abc\u{202e}fed"), "abc<U+202E>fed");
        assert_eq!(escape_text("x\u{2028}y"), "x<U+2028>y");
    }

    proptest! {
        /// Whatever the input, the output has no control character but newline and tab, and
        /// every line after the first starts with the continuation indent.
        #[test]
        fn output_never_controls_the_terminal(s in any::<String>()) {
            let out = escape_text(&s);
            for c in out.chars() {
                prop_assert!(c == '\n' || c == '\t' || !(c.is_control() || is_hidden_control(c)), "{c:?}");
            }
            for line in out.split('\n').skip(1) {
                prop_assert!(line.starts_with(CONTINUATION));
            }
            prop_assert_eq!(out.matches('\n').count(), s.matches('\n').count());
        }
    }
}
