//! Config file errors that name the place: `invalid config file FILE (line L, column C): MESSAGE`.

/// Line and column (both from 1; the column counts characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// One line describing a TOML error in `text`, read from `path`.
pub(crate) fn describe(path: &std::path::Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            format!(
                "invalid config file {} (line {line}, column {column}): {message}",
                path.display()
            )
        }
        None => format!("invalid config file {}: {message}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one() {
        let t = "a = 1\nbé = 2\n\nc";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (1, 5));
        assert_eq!(
            line_col(t, 6),
            (2, 1),
            "the first byte of a line is on that line"
        );
        assert_eq!(line_col(t, 9), (2, 3), "columns count characters");
        assert_eq!(line_col(t, 8), (2, 2), "inside a character: its start");
        assert_eq!(line_col(t, 14), (3, 1), "an empty line");
        assert_eq!(line_col(t, 15), (4, 1));
        assert_eq!(line_col(t, 99), (4, 2));
    }
}
