//! Figures, their goals, percentiles and the printed table.

use std::fmt::Write;

/// A target a figure should meet.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(goal) => value >= goal,
            Goal::AtMost(goal) => value <= goal,
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Goal::AtLeast(goal) => format!(">= {} {unit}", number(goal)),
            Goal::AtMost(goal) => format!("<= {} {unit}", number(goal)),
        }
    }
}

/// One measured quantity: a sample per repetition.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub unit: &'static str,
    pub samples: Vec<f64>,
    pub goal: Option<Goal>,
}

impl Figure {
    pub fn new(name: impl Into<String>, unit: &'static str, goal: Option<Goal>) -> Figure {
        Figure {
            name: name.into(),
            unit,
            samples: Vec::new(),
            goal,
        }
    }

    pub fn with(mut self, sample: f64) -> Figure {
        self.samples.push(sample);
        self
    }

    fn sorted(&self) -> Vec<f64> {
        let mut samples = self.samples.clone();
        samples.sort_by(f64::total_cmp);
        samples
    }

    pub fn median(&self) -> f64 {
        percentile(&self.sorted(), 50.0)
    }
}

/// The `p`th percentile (nearest rank) of sorted `values`; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts `values` and answers their p50 and p99.
pub fn p50_p99(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (percentile(&values, 50.0), percentile(&values, 99.0))
}

/// Readable numbers: thousands separated, few decimals.
fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        let whole = value.round() as i64;
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if whole < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The figures of every engine, as a Markdown table.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<(String, Figure)>,
}

impl Table {
    pub fn push(&mut self, engine: &str, figure: Figure) {
        self.rows.push((engine.to_string(), figure));
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "| engine | figure | median | min | max | unit | goal | met |\n\
             |---|---|---:|---:|---:|---|---|---|\n",
        );
        for (engine, figure) in &self.rows {
            let sorted = figure.sorted();
            let median = figure.median();
            let (goal, met) = match figure.goal {
                Some(goal) => (
                    goal.describe(figure.unit),
                    if goal.met(median) { "yes" } else { "no" },
                ),
                None => ("-".to_string(), "-"),
            };
            let _ = writeln!(
                out,
                "| {engine} | {} | {} | {} | {} | {} | {goal} | {met} |",
                figure.name,
                number(median),
                number(sorted.first().copied().unwrap_or(0.0)),
                number(sorted.last().copied().unwrap_or(0.0)),
                figure.unit,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn the_table_says_whether_each_goal_is_met() {
        let mut table = Table::default();
        let fast = Figure::new("rate", "ev/s", Some(Goal::AtLeast(100.0)))
            .with(150.0)
            .with(90.0)
            .with(120.0);
        table.push("sqlite", fast);
        table.push(
            "sqlite",
            Figure::new("p99", "ms", Some(Goal::AtMost(20.0))).with(25.0),
        );
        let rendered = table.render();
        assert!(
            rendered.contains("| sqlite | rate | 120 | 90.0 | 150 | ev/s | >= 100 ev/s | yes |"),
            "{rendered}"
        );
        assert!(rendered.contains("| p99 | 25.0 | 25.0 | 25.0 | ms | <= 20.0 ms | no |"));
        assert_eq!(number(1_234_567.0), "1,234,567");
    }
}
