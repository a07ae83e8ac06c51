//! Errors for scenario files: I/O, and invalid files as miette diagnostics.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// Why a scenario could not be loaded.
///
/// `Display` is one line, `path:line:column: message` for an invalid file,
/// so it reads well in test output and logs; render it with miette for the
/// source snippet, the label and the fix of every problem.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file or directory could not be read.
    #[error("failed to read {}: {error}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// What went wrong (part of the message, so logs show it).
        error: std::io::Error,
    },
    /// The file was read but is not a valid scenario.
    #[error(transparent)]
    Invalid(Box<InvalidScenario>),
}

impl ScenarioError {
    /// 1-based line and column of the first problem, `None` for I/O errors.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid(invalid) => Some((invalid.first.line, invalid.first.column)),
        }
    }

    /// Every problem found in the file, in file order (empty for I/O errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Io { .. } => &[],
            ScenarioError::Invalid(invalid) => invalid.problems(),
        }
    }

    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScenarioError::Io { path, .. } => path,
            ScenarioError::Invalid(invalid) => &invalid.path,
        }
    }
}

impl Diagnostic for ScenarioError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            ScenarioError::Io { .. } => Some(Box::new("firedrill::scenario::io")),
            ScenarioError::Invalid(invalid) => invalid.code(),
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid(invalid) => invalid.help(),
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid(invalid) => invalid.source_code(),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid(invalid) => invalid.labels(),
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid(invalid) => invalid.related(),
        }
    }
}

/// A scenario file with at least one problem. The first problem is the
/// diagnostic itself; the others are its `related` diagnostics and share
/// its source.
#[derive(Debug)]
pub struct InvalidScenario {
    path: PathBuf,
    source_code: NamedSource<String>,
    first: Problem,
    /// `problems[0]` is `first`; kept whole so [`InvalidScenario::problems`]
    /// can hand out one slice.
    problems: Vec<Problem>,
}

impl InvalidScenario {
    /// Every problem, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for InvalidScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.first.line,
            self.first.column,
            self.first.message
        )?;
        match self.problems.len() {
            0 | 1 => Ok(()),
            2 => f.write_str(" (and 1 more problem)"),
            n => write!(f, " (and {} more problems)", n - 1),
        }
    }
}

impl std::error::Error for InvalidScenario {}

impl Diagnostic for InvalidScenario {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("firedrill::scenario::invalid"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.first.help()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source_code)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.first.labels()
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.problems.len() < 2 {
            return None;
        }
        Some(Box::new(
            self.problems[1..].iter().map(|p| p as &dyn Diagnostic),
        ))
    }
}

/// One thing wrong in a scenario file: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Problem {
    /// What is wrong, e.g. `unknown key "heal_afer" in [[faults]]; …`.
    pub message: String,
    /// Short text under the offending key or value.
    pub label: String,
    /// Byte range of the offending key or value.
    #[label("{label}")]
    pub span: SourceSpan,
    /// The concrete fix, when there is one.
    #[help]
    pub help: Option<String>,
    /// 1-based line of `span`'s start.
    pub line: usize,
    /// 1-based column (in characters) of `span`'s start.
    pub column: usize,
}

/// Collects problems while a file is checked, so all of them are reported.
#[derive(Debug)]
pub(crate) struct Problems<'s> {
    source: &'s str,
    list: Vec<Problem>,
}

impl<'s> Problems<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Problems {
            source,
            list: Vec::new(),
        }
    }

    /// Records a problem at `span`.
    pub(crate) fn push(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        let start = span.start.min(self.source.len());
        let end = span.end.clamp(start, self.source.len());
        let (line, column) = line_col(self.source, start);
        self.list.push(Problem {
            message: message.into(),
            label: label.into(),
            span: (start..end).into(),
            help,
            line,
            column,
        });
    }

    /// How many problems so far (to tell whether a check added one).
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// `Ok(value)` when nothing was recorded, else every problem in file
    /// order as one error.
    pub(crate) fn finish<T>(self, value: T, path: &Path) -> Result<T, ScenarioError> {
        match self.into_error(path) {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    pub(crate) fn into_error(mut self, path: &Path) -> Option<ScenarioError> {
        // Stable: problems at the same place keep the order they were found.
        self.list.sort_by_key(|p| p.span.offset());
        let first = self.list.first()?.clone();
        Some(ScenarioError::Invalid(Box::new(InvalidScenario {
            path: path.to_owned(),
            source_code: NamedSource::new(path.display().to_string(), self.source.to_owned()),
            first,
            problems: self.list,
        })))
    }
}

/// 1-based line and character column of byte `offset` in `source`.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (at, ch) in source.char_indices() {
        if at >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_lowercase()), *c))
        .filter(|(distance, c)| {
            *distance <= (c.chars().count().max(word.chars().count()) / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Edit distance in characters, counting a swap of two neighbours as one
/// edit (optimal string alignment), since `hbu` for `hub` is a typical typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        let source = "ab\ncdé\nf";
        assert_eq!(line_col(source, 0), (1, 1));
        assert_eq!(line_col(source, 1), (1, 2));
        assert_eq!(line_col(source, 3), (2, 1));
        // 'é' is two bytes: the newline after it is byte 7, column 4.
        assert_eq!(line_col(source, 7), (2, 4));
        assert_eq!(line_col(source, 8), (3, 1));
        assert_eq!(line_col(source, 100), (3, 2));
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["at", "proxy", "toxic", "down", "heal_after"];
        assert_eq!(did_you_mean("heal_afer", &keys), Some("heal_after"));
        assert_eq!(did_you_mean("Proxy", &keys), Some("proxy"));
        assert_eq!(did_you_mean("toxics", &keys), Some("toxic"));
        assert_eq!(did_you_mean("completely_else", &keys), None);
        assert_eq!(did_you_mean("hbu", &["hub", "db"]), Some("hub"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
