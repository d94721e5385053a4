//! Printing for people and for scripts.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::Value;

/// Prints `value` as one line of JSON.
pub fn json(value: &Value) {
    println!("{value}");
}

/// Prints a new id: alone on its line, or with `--json` as `{"<name>": "<id>"}`.
pub fn id(name: &str, id: &str, as_json: bool) {
    if as_json {
        let mut object = serde_json::Map::new();
        object.insert(name.to_owned(), Value::String(id.to_owned()));
        json(&Value::Object(object));
    } else {
        println!("{id}");
    }
}

/// Prints rows under headers, columns aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints `name  value` lines, names aligned.
pub fn fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in fields {
        println!("{name:<width$}  {value}");
    }
}

/// A status, green or red on a terminal.
pub fn status(status: &str) -> String {
    let colour = match status {
        "SUCCESS" => "32",
        "FAILURE" => "31",
        _ => return status.to_owned(),
    };
    if std::io::stdout().is_terminal() {
        format!("\x1b[{colour}m{status}\x1b[0m")
    } else {
        status.to_owned()
    }
}

/// A live progress line on stderr, drawn only on a terminal.
pub struct Progress {
    live: bool,
}

impl Progress {
    /// A progress line, drawn only when `live`.
    pub fn new(live: bool) -> Progress {
        Progress { live }
    }

    /// Redraws the line with an operation's status and how long it has been waited for.
    pub fn show(&self, id: &str, status: &str, elapsed: Duration) {
        self.draw(&format!("{id}  {status}  {:.1}s", elapsed.as_secs_f64()));
    }

    /// Redraws the line as `line`.
    pub fn draw(&self, line: &str) {
        if self.live {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        }
    }

    /// Erases the line.
    pub fn clear(&self) {
        if self.live {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }
}
