//! A rule's `condition`: `and`, `or`, `not`, parentheses, and `1 of` / `all of` a pattern
//! (`them`, `selection_*`), parsed into a tree over the rule's search identifiers.
//!
//! Precedence, loosest first: `or`, `and`, `not`. `them` leaves out identifiers that start
//! with `_`, as the specification says.

/// A parsed condition; leaves are indices into the rule's search identifiers.
#[derive(Clone, Debug)]
pub(crate) enum Condition {
    Selection(usize),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    /// Whether the condition holds, given whether each search identifier matched.
    pub(crate) fn eval(&self, matched: &mut dyn FnMut(usize) -> bool) -> bool {
        match self {
            Condition::Selection(i) => matched(*i),
            Condition::Not(c) => !c.eval(matched),
            Condition::And(cs) => cs.iter().all(|c| c.eval(matched)),
            Condition::Or(cs) => cs.iter().any(|c| c.eval(matched)),
        }
    }
}

/// Why a condition could not be parsed: `Ok(unsupported feature)` or `Err(message)`.
pub(crate) enum ParseError {
    Invalid(String),
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
    Pipe,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        match c {
            '(' | ')' | '|' => {
                flush(&mut word, &mut tokens);
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Pipe,
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// Parses `text` against the search identifiers `names`.
pub(crate) fn parse(text: &str, names: &[String]) -> Result<Condition, ParseError> {
    let tokens = tokenize(text);
    if tokens.contains(&Token::Pipe) {
        return Err(ParseError::Unsupported(
            "an aggregation in the condition ('| count() ...'; write a correlation rule instead)"
                .into(),
        ));
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        names,
    };
    let condition = parser.or()?;
    if let Some(token) = parser.tokens.get(parser.pos) {
        return Err(ParseError::Invalid(format!(
            "condition '{text}': unexpected {token:?} after a complete expression"
        )));
    }
    Ok(condition)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    names: &'a [String],
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Condition, ParseError> {
        self.chain("or", Self::and, Condition::Or)
    }

    fn and(&mut self) -> Result<Condition, ParseError> {
        self.chain("and", Self::not, Condition::And)
    }

    /// `operand (word operand)*`, one level of the precedence.
    fn chain(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> Result<Condition, ParseError>,
        join: fn(Vec<Condition>) -> Condition,
    ) -> Result<Condition, ParseError> {
        let mut items = vec![operand(self)?];
        while self.peek_word() == Some(word) {
            self.pos += 1;
            items.push(operand(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn not(&mut self) -> Result<Condition, ParseError> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, ParseError> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Open) => {
                let inner = self.or()?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return Err(ParseError::Invalid("a '(' without its ')'".into()));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Word(word)) if word == "1" || word == "all" => {
                if self.peek_word() != Some("of") {
                    return Err(ParseError::Invalid(format!(
                        "'{word}' must be followed by 'of'"
                    )));
                }
                self.pos += 1;
                let Some(pattern) = self.peek_word().map(str::to_string) else {
                    return Err(ParseError::Invalid(format!(
                        "'{word} of' needs a pattern or 'them'"
                    )));
                };
                self.pos += 1;
                let matched = self.pattern(&pattern)?;
                let items = matched.into_iter().map(Condition::Selection).collect();
                Ok(match word.as_str() {
                    "all" => Condition::And(items),
                    _ => Condition::Or(items),
                })
            }
            Some(Token::Word(word))
                if word.parse::<u64>().is_ok() && self.peek_word() == Some("of") =>
            {
                Err(ParseError::Unsupported(format!(
                    "'{word} of' (only '1 of' and 'all of' are defined)"
                )))
            }
            Some(Token::Word(word)) if ["and", "or", "of", "them"].contains(&word.as_str()) => {
                Err(ParseError::Invalid(format!("unexpected '{word}'")))
            }
            Some(Token::Word(word)) => match self.names.iter().position(|n| *n == word) {
                Some(i) => Ok(Condition::Selection(i)),
                None => Err(ParseError::Invalid(format!(
                    "the condition names '{word}', which is not a search identifier of the \
                     detection (there are: {})",
                    self.names.join(", ")
                ))),
            },
            Some(Token::Close) => Err(ParseError::Invalid("a ')' without its '('".into())),
            Some(Token::Pipe) => unreachable!("refused before parsing"),
            None => Err(ParseError::Invalid("the condition ends too early".into())),
        }
    }

    /// The identifiers `pattern` (`them` or a name with `*` wildcards) stands for.
    fn pattern(&self, pattern: &str) -> Result<Vec<usize>, ParseError> {
        let matched: Vec<usize> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                if pattern == "them" {
                    !name.starts_with('_')
                } else {
                    glob(pattern, name)
                }
            })
            .map(|(i, _)| i)
            .collect();
        if matched.is_empty() {
            return Err(ParseError::Invalid(format!(
                "the pattern '{pattern}' matches no search identifier"
            )));
        }
        Ok(matched)
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "selection_b", "filter", "_hidden"]
            .map(String::from)
            .to_vec()
    }

    fn eval(text: &str, hits: &[usize]) -> bool {
        let condition = match parse(text, &names()) {
            Ok(c) => c,
            Err(ParseError::Invalid(m) | ParseError::Unsupported(m)) => panic!("{text}: {m}"),
        };
        condition.eval(&mut |i| hits.contains(&i))
    }

    #[test]
    fn precedence_and_parentheses() {
        assert!(eval("selection and not filter", &[0]));
        assert!(!eval("selection and not filter", &[0, 2]));
        assert!(eval("filter or selection and selection_b", &[2]));
        assert!(!eval("(filter or selection) and selection_b", &[2]));
        assert!(eval("not not selection", &[0]));
    }

    #[test]
    fn patterns() {
        assert!(eval("1 of selection*", &[1]));
        assert!(!eval("all of selection*", &[1]));
        assert!(eval("all of selection*", &[0, 1]));
        assert!(eval("all of them", &[0, 1, 2]), "them leaves out _hidden");
        assert!(!eval("1 of them", &[3]));
        assert!(eval("1 of them and not _hidden", &[0]));
    }

    #[test]
    fn errors() {
        for (text, want) in [
            ("selection and", "ends too early"),
            ("selection filter", "unexpected"),
            ("nope", "not a search identifier"),
            ("1 of x*", "matches no search identifier"),
            ("(selection", "without its ')'"),
        ] {
            match parse(text, &names()) {
                Err(ParseError::Invalid(m)) => assert!(m.contains(want), "{text}: {m}"),
                _ => panic!("{text} should be invalid"),
            }
        }
        assert!(matches!(
            parse("selection | count() > 5", &names()),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            parse("2 of selection*", &names()),
            Err(ParseError::Unsupported(_))
        ));
    }
}
