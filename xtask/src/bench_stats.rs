//! What the bench's scenarios and its report share: statistics over repeated runs, numbers
//! as the report prints them, and target checks. It uses no other bench module, so the
//! scenario files and the report can both use it without importing each other.

/// Median, minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// The [`Stat`] of `values`, `None` when there are none.
pub fn stat(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
    let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: values[0],
        max: values[n - 1],
    })
}

// The report's number formatting, one function for both (xtask is not published, so it may
// read the CLI's source).
#[path = "../../crates/asana-audit-cli/src/report/number.rs"]
mod number;
pub use number::thousands;

/// Peak RSS figures by length of a run: `100,000 events: 11 MiB; 1,000,000 events: 13 MiB`.
pub fn rss_by_length(rss: &[(u64, u64)]) -> String {
    rss.iter()
        .map(|(events, kb)| format!("{} events: {} MiB", thousands(*events), kb / 1024))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A value with about three significant digits (whole numbers with thousands separators).
pub fn sig(v: f64) -> String {
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e15 {
        thousands(a as u64)
    } else if a >= 1000.0 {
        thousands(v.round() as u64)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// `median (min–max)`, or just the median when all values are equal.
pub fn show(s: Option<Stat>, f: impl Fn(f64) -> String) -> String {
    match s {
        None => "–".to_owned(),
        Some(s) if f(s.min) == f(s.max) => f(s.median),
        Some(s) => format!("{} ({}–{})", f(s.median), f(s.min), f(s.max)),
    }
}

/// A target check: the measured value, the bound, and whether it is a floor or a ceiling.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is compared.
    pub what: String,
    /// The measured value.
    pub value: Option<Stat>,
    /// How to print the value.
    pub unit: &'static str,
    /// The target.
    pub target: f64,
    /// `true`: the value must be at least the target; `false`: at most.
    pub at_least: bool,
}

impl Check {
    /// `met`, `missed: ...` or `not measured`, judged on the median.
    pub fn verdict(&self) -> String {
        let Some(v) = self.value else {
            return "not measured".to_owned();
        };
        let met = if self.at_least {
            v.median >= self.target
        } else {
            v.median <= self.target
        };
        if met {
            "met".to_owned()
        } else if self.target == 0.0 {
            format!("**missed** ({} instead of 0)", sig(v.median))
        } else {
            let off = (v.median / self.target - 1.0).abs() * 100.0;
            format!(
                "**missed** by {off:.0}% ({} the target)",
                if self.at_least { "under" } else { "over" }
            )
        }
    }

    /// The check as a row of the targets table.
    pub fn row(&self) -> String {
        let value = show(self.value, |v| format!("{}{}", sig(v), self.unit));
        let sign = if self.at_least { "≥" } else { "≤" };
        format!(
            "| {} | {value} | {sign} {}{} | {} |\n",
            self.what,
            sig(self.target),
            self.unit,
            self.verdict()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = stat([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(stat([4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(stat([]), None);
    }

    #[test]
    fn verdicts_say_met_or_by_how_much_a_target_is_missed() {
        let check = |median: f64, target: f64, at_least: bool| Check {
            what: String::new(),
            value: Some(Stat {
                median,
                min: median,
                max: median,
            }),
            unit: "×",
            target,
            at_least,
        };
        assert_eq!(check(1.2, 1.0, true).verdict(), "met");
        assert!(check(0.5, 1.0, true).verdict().contains("by 50%"));
        assert!(check(80.0, 64.0, false).verdict().contains("by 25% (over"));
        assert!(check(3.0, 0.0, false).verdict().contains("3 instead of 0"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(sig(153_421.7), "153,422");
        assert_eq!(sig(0.6512), "0.651");
        assert_eq!(sig(21.0), "21");
    }
}
