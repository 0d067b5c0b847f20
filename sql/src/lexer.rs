//! The tokenizer for weir's statement language (InfluxQL tokens plus weir's).
//!
//! InfluxQL needs its own lexer rather than a SQL one: durations (`1h30m`),
//! `::field` casts, double-quoted identifiers, `=~`/`!~`, and `/regex/` literals,
//! which share `/` with division and so are only scanned where the parser
//! expects an operand. Keywords are not tokens of their
//! own: words come out as [`TokenKind::Ident`] and the parser matches keywords
//! case-insensitively, so words such as `id`, `level` or `message` stay usable
//! as field and tag names.

use crate::error::{ErrorKind, RawError};

/// The kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A bare word: `[A-Za-z_][A-Za-z0-9_]*` (also every keyword).
    Ident,
    /// A double-quoted identifier, `"usage idle"`; `text` is unescaped.
    QuotedIdent,
    /// A single-quoted string, `'cpu-total'`; `text` is unescaped.
    String,
    /// Digits only.
    Integer,
    /// Digits with a fractional part (`1.5`, `.5`).
    Number,
    /// Digits followed by letters (`10s`, `1h30m`); checked by the parser.
    Duration,
    /// A `/regex/` literal (scanned only where the parser expects an operand); `text` has `\/` unescaped.
    Regex,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `^`
    Caret,
    /// `=`
    Eq,
    /// `!=` or `<>`
    Neq,
    /// `=~`
    EqRegex,
    /// `!~`
    NeqRegex,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `::`
    DoubleColon,
    /// `;`
    Semicolon,
    /// `.`
    Dot,
    /// End of input.
    Eof,
}

/// A token with its byte range in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// The value: unescaped for strings, quoted identifiers and regexes, the
    /// source text for everything else (empty for [`TokenKind::Eof`]).
    pub text: String,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
}

/// A pull tokenizer over a source text; the parser drives it.
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_micro(c: char) -> bool {
    c == 'µ' || c == 'μ'
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// The byte offset the next token will be read from.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves the lexer to byte offset `pos` (a token boundary).
    pub(crate) fn seek(&mut self, pos: usize) {
        let mut pos = pos.min(self.src.len());
        while !self.src.is_char_boundary(pos) {
            pos -= 1;
        }
        self.pos = pos;
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_char_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Skips whitespace, `-- line` and `/* block */` comments.
    fn skip_trivia(&mut self) -> Result<(), RawError> {
        loop {
            match (self.peek_char(), self.peek_char_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('-'), Some('-')) => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos;
                    self.pos += 2;
                    match self.src[self.pos..].find("*/") {
                        Some(i) => self.pos += i + 2,
                        None => {
                            return Err(RawError::new(
                                start,
                                ErrorKind::Lexical,
                                "unterminated /* comment",
                            ))
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&self, kind: TokenKind, start: usize) -> Token {
        Token {
            kind,
            text: self.src[start..self.pos].to_string(),
            start,
            end: self.pos,
        }
    }

    /// Reads the next token, skipping whitespace and comments.
    pub(crate) fn next_token(&mut self) -> Result<Token, RawError> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                text: String::new(),
                start,
                end: start,
            });
        };
        let kind = match c {
            c if is_ident_start(c) => {
                while self.peek_char().is_some_and(is_ident_char) {
                    self.bump();
                }
                TokenKind::Ident
            }
            '0'..='9' => return Ok(self.number(start)),
            '.' if self.peek_char().is_some_and(|c| c.is_ascii_digit()) => {
                return Ok(self.number(start))
            }
            '"' => {
                let text = self.quoted(start, '"')?;
                return Ok(Token {
                    kind: TokenKind::QuotedIdent,
                    text,
                    start,
                    end: self.pos,
                });
            }
            '\'' => {
                let text = self.quoted(start, '\'')?;
                return Ok(Token {
                    kind: TokenKind::String,
                    text,
                    start,
                    end: self.pos,
                });
            }
            '+' => TokenKind::Plus,
            '-' => TokenKind::Minus,
            '*' => TokenKind::Star,
            '/' => TokenKind::Slash,
            '%' => TokenKind::Percent,
            '&' => TokenKind::Amp,
            '|' => TokenKind::Pipe,
            '^' => TokenKind::Caret,
            '=' => {
                if self.peek_char() == Some('~') {
                    self.bump();
                    TokenKind::EqRegex
                } else {
                    TokenKind::Eq
                }
            }
            '!' => match self.peek_char() {
                Some('=') => {
                    self.bump();
                    TokenKind::Neq
                }
                Some('~') => {
                    self.bump();
                    TokenKind::NeqRegex
                }
                _ => {
                    return Err(RawError::new(
                        start,
                        ErrorKind::Lexical,
                        "unexpected character '!' (did you mean != or !~?)",
                    ))
                }
            },
            '<' => match self.peek_char() {
                Some('=') => {
                    self.bump();
                    TokenKind::Lte
                }
                Some('>') => {
                    self.bump();
                    TokenKind::Neq
                }
                _ => TokenKind::Lt,
            },
            '>' => {
                if self.peek_char() == Some('=') {
                    self.bump();
                    TokenKind::Gte
                } else {
                    TokenKind::Gt
                }
            }
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            ',' => TokenKind::Comma,
            ';' => TokenKind::Semicolon,
            '.' => TokenKind::Dot,
            ':' => {
                if self.peek_char() == Some(':') {
                    self.bump();
                    TokenKind::DoubleColon
                } else {
                    TokenKind::Colon
                }
            }
            other => {
                return Err(RawError::new(
                    start,
                    ErrorKind::Lexical,
                    format!("unexpected character {}", describe_char(other)),
                ))
            }
        };
        Ok(self.token(kind, start))
    }

    /// Reads an integer, a number or a duration starting at `start`.
    fn number(&mut self, start: usize) -> Token {
        // The first character (digit or '.') has been consumed.
        let mut fraction = self.src[start..].starts_with('.');
        while self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if !fraction
            && self.peek_char() == Some('.')
            && self.peek_char_at(1).is_some_and(|c| c.is_ascii_digit())
        {
            fraction = true;
            self.bump();
            while self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if fraction {
            if self
                .peek_char()
                .is_some_and(|c| c.is_ascii_alphabetic() || is_micro(c))
            {
                // `1.5h`: InfluxQL durations are integers; keep it one token
                // so the error names the whole literal.
                while self
                    .peek_char()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || is_micro(c))
                {
                    self.bump();
                }
                return self.token(TokenKind::Duration, start);
            }
            return self.token(TokenKind::Number, start);
        }
        if self
            .peek_char()
            .is_some_and(|c| c.is_ascii_alphabetic() || is_micro(c))
        {
            while self
                .peek_char()
                .is_some_and(|c| c.is_ascii_alphanumeric() || is_micro(c))
            {
                self.bump();
            }
            return self.token(TokenKind::Duration, start);
        }
        self.token(TokenKind::Integer, start)
    }

    /// Reads a quoted string or identifier whose opening quote (at `start`)
    /// has been consumed. Escapes: `\n`, `\\`, `\'`, `\"` (as in InfluxQL).
    fn quoted(&mut self, start: usize, quote: char) -> Result<String, RawError> {
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => {
                    let what = if quote == '"' {
                        "unterminated quoted identifier"
                    } else {
                        "unterminated string"
                    };
                    return Err(RawError::new(start, ErrorKind::Lexical, what));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('\\') => out.push('\\'),
                    Some('\'') => out.push('\''),
                    Some('"') => out.push('"'),
                    Some(other) => {
                        return Err(RawError::new(
                            at,
                            ErrorKind::Lexical,
                            format!("bad escape: \\{other}"),
                        ))
                    }
                    None => {
                        return Err(RawError::new(at, ErrorKind::Lexical, "bad escape: \\"));
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// Reads a `/regex/` literal at byte offset `start` (which must hold `/`).
    /// `\/` stands for `/`; every other escape is kept for the regex engine.
    pub(crate) fn scan_regex(&mut self, start: usize) -> Result<Token, RawError> {
        self.seek(start);
        if self.bump() != Some('/') {
            return Err(RawError::new(start, ErrorKind::Syntax, "expected regex"));
        }
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(RawError::new(
                        start,
                        ErrorKind::Lexical,
                        "unterminated regex",
                    ))
                }
                Some('/') => break,
                Some('\\') => match self.peek_char() {
                    Some('/') => {
                        self.bump();
                        out.push('/');
                    }
                    _ => out.push('\\'),
                },
                Some(c) => out.push(c),
            }
        }
        Ok(Token {
            kind: TokenKind::Regex,
            text: out,
            start,
            end: self.pos,
        })
    }
}

fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// Splits `src` into tokens (regex literals are not recognised: `/` is
/// always [`TokenKind::Slash`]); for tools and tests.
pub fn tokenize(src: &str) -> Result<Vec<Token>, crate::ParseError> {
    let mut lexer = Lexer::new(src);
    let mut out = Vec::new();
    loop {
        let tok = lexer
            .next_token()
            .map_err(|e| e.into_parse_error(src, 0, src.to_string()))?;
        let eof = tok.kind == TokenKind::Eof;
        out.push(tok);
        if eof {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, String)> {
        tokenize(src)
            .expect("tokenize")
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn tokens() {
        use TokenKind::*;
        let got = kinds(
            "SELECT \"a b\"::field, 1h30m, 1.5, .5, 10 FROM db..m -- c\n/* x */ <> =~ !~ 'it\\'s'",
        );
        let want: Vec<(TokenKind, &str)> = vec![
            (Ident, "SELECT"),
            (QuotedIdent, "a b"),
            (DoubleColon, "::"),
            (Ident, "field"),
            (Comma, ","),
            (Duration, "1h30m"),
            (Comma, ","),
            (Number, "1.5"),
            (Comma, ","),
            (Number, ".5"),
            (Comma, ","),
            (Integer, "10"),
            (Ident, "FROM"),
            (Ident, "db"),
            (Dot, "."),
            (Dot, "."),
            (Ident, "m"),
            (Neq, "<>"),
            (EqRegex, "=~"),
            (NeqRegex, "!~"),
            (String, "it's"),
            (Eof, ""),
        ];
        let want: Vec<(TokenKind, std::string::String)> =
            want.into_iter().map(|(k, t)| (k, t.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn micro_duration() {
        assert_eq!(kinds("5µ")[0], (TokenKind::Duration, "5µ".to_string()));
    }

    #[test]
    fn regex() {
        let mut l = Lexer::new(r"/^a\/b\d/ x");
        let t = l.scan_regex(0).expect("regex");
        assert_eq!(t.text, r"^a/b\d");
        assert_eq!(l.next_token().expect("tok").text, "x");
    }

    #[test]
    fn errors() {
        assert!(tokenize("'abc").is_err());
        assert!(tokenize("\"abc").is_err());
        assert!(tokenize("'\\q'").is_err());
        assert!(tokenize("#").is_err());
        assert!(tokenize("/* x").is_err());
    }
}
