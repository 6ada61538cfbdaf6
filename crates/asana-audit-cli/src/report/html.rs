//! The report as one self-contained HTML page: inline CSS, charts as inline SVG written here,
//! no script, font or image from anywhere (the page's Content-Security-Policy forbids them).
//!
//! Hand-written SVG rather than a plotting crate: the page needs two chart shapes (bars by day,
//! stacked; ranked horizontal bars), which take less code than adapting a crate's output to a
//! page that must print and pass a strict CSP, and add nothing to the dependency tree.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

use super::findings::KEPT_EVENTS;
use super::model::{ActorRow, Day, EventRef, Report, RuleResult};
use super::number::thousands;

/// What the page says about how it was made.
pub struct Meta<'a> {
    /// The inputs as given on the command line.
    pub inputs: &'a [String],
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
}

/// Colours of the series, in order (distinct in colour and in lightness, for print).
const PALETTE: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a",
];
const SUCCEEDED: &str = "#2ca02c";
const FAILED: &str = "#d62728";
/// Bars of actors a reader should look at twice.
const CALLOUT: &str = "#e6550d";

/// The width of every chart's drawing, in SVG units (it scales with the page).
const WIDTH: f64 = 960.0;

/// Text made safe for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A round upper bound for an axis (1, 2 or 5 times a power of ten) and its tick step.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let tick = step * factor;
            if tick * 5 >= max {
                return (max.div_ceil(tick) * tick, tick);
            }
        }
        step *= 10;
    }
}

/// A series of a bar chart by day.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    values: Vec<u64>,
}

/// Bars by day, the series stacked, with a y axis, day labels and a legend.
fn day_bars(
    out: &mut String,
    id: &str,
    title: &str,
    y_label: &str,
    days: &[NaiveDate],
    series: &[Series],
) {
    let (left, right, top, bottom, height) = (64.0, 12.0, 12.0, 44.0, 300.0);
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let totals: Vec<u64> = (0..days.len())
        .map(|i| series.iter().map(|s| s.values[i]).sum())
        .collect();
    let (max, tick) = axis(totals.iter().copied().max().unwrap_or(0));
    let _ = write!(
        out,
        "<figure id=\"{id}\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"{id}-t\">\
         <title id=\"{id}-t\">{}</title>",
        esc(title),
        esc(title)
    );
    let y = |v: u64| top + plot_h - plot_h * v as f64 / max as f64;
    let mut value = 0;
    while value <= max {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - right,
            left - 6.0,
            y(value) + 4.0,
            thousands(value),
            y = y(value)
        );
        value += tick;
    }
    let _ = write!(
        out,
        "<text class=\"axis\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        top + plot_h / 2.0,
        esc(y_label)
    );
    let slot = plot_w / days.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    for (i, day) in days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut below = 0;
        for s in series {
            let v = s.values[i];
            if v == 0 {
                continue;
            }
            let (y0, y1) = (y(below), y(below + v));
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{day}: {} {}</title></rect>",
                (y0 - y1).max(0.5),
                s.colour,
                thousands(v),
                esc(s.name)
            );
            below += v;
        }
    }
    // About a dozen day labels, whatever the number of days.
    let every = days.len().div_ceil(12).max(1);
    for (i, day) in days.iter().enumerate().step_by(every) {
        let x = left + slot * (i as f64 + 0.5);
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            top + plot_h + 16.0,
            day.format("%b %d")
        );
    }
    let _ = write!(
        out,
        "<line class=\"axisline\" x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">day (UTC)</text></svg>",
        WIDTH - right,
        top + plot_h,
        top + plot_h,
        left + plot_w / 2.0,
        height - 6.0
    );
    legend(out, series.iter().map(|s| (s.name, s.colour)));
    out.push_str("</figure>");
}

fn legend<'a>(out: &mut String, items: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push_str("<ul class=\"legend\">");
    for (name, colour) in items {
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:{colour}\"></span>{}</li>",
            esc(name)
        );
    }
    out.push_str("</ul>");
}

/// One bar of a ranking.
struct Ranked {
    label: String,
    value: u64,
    colour: &'static str,
}

/// The longest label of a ranking, in characters, before it is cut (the whole label is its
/// tooltip).
const LABEL_CHARS: usize = 44;

/// Ranked horizontal bars, the label left of each bar and its value right of it.
fn ranking(out: &mut String, id: &str, title: &str, x_label: &str, rows: &[Ranked]) {
    let (label_w, value_w, row_h, top, bottom) = (380.0, 70.0, 24.0, 8.0, 30.0);
    let plot_w = WIDTH - label_w - value_w;
    let height = top + row_h * rows.len().max(1) as f64 + bottom;
    let max = rows.iter().map(|r| r.value).max().unwrap_or(1).max(1);
    let _ = write!(
        out,
        "<figure id=\"{id}\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-labelledby=\"{id}-t\">\
         <title id=\"{id}-t\">{}</title>",
        esc(title),
        esc(title)
    );
    if rows.is_empty() {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{label_w}\" y=\"{}\">none</text>",
            top + 16.0
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let w = (plot_w * row.value as f64 / max as f64).max(1.0);
        let mut label: String = row.label.chars().take(LABEL_CHARS).collect();
        if label.len() < row.label.len() {
            label.push('…');
        }
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}<title>{}</title></text>\
             <rect x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            label_w - 8.0,
            y + 16.0,
            esc(&label),
            esc(&row.label),
            y + 4.0,
            row_h - 8.0,
            row.colour,
            label_w + w + 6.0,
            y + 16.0,
            thousands(row.value)
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></svg></figure>",
        label_w + plot_w / 2.0,
        height - 8.0,
        esc(x_label)
    );
}

fn actor_ranking(out: &mut String, id: &str, title: &str, actors: &[ActorRow]) {
    let rows: Vec<Ranked> = actors
        .iter()
        .map(|a| Ranked {
            label: match a.callout {
                Some(callout) => format!("{} ({callout})", a.label),
                None if a.actor_type == "user" || a.actor_type == "(none)" => a.label.clone(),
                None => format!("{} ({})", a.label, a.actor_type),
            },
            value: a.events,
            colour: if a.callout.is_some() {
                CALLOUT
            } else {
                PALETTE[0]
            },
        })
        .collect();
    ranking(out, id, title, "events", &rows);
}

const STYLE: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  margin: 0 auto; max-width: 1040px; padding: 24px; color: #1d1d1f; background: #fff; line-height: 1.4; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 32px 0 8px; border-bottom: 2px solid #e5e5e5; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 16px 0 4px; }
.sub { color: #555; margin: 0 0 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; }
.card b { display: block; font-size: 1.5em; }
.card.warn { border-color: #e6550d; background: #fff4ec; }
figure { margin: 16px 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 100%; height: auto; display: block; }
svg text { font-family: inherit; }
.grid { stroke: #e5e5e5; stroke-width: 1; }
.axisline { stroke: #888; stroke-width: 1; }
.tick { font-size: 12px; fill: #444; }
.label { font-size: 13px; fill: #1d1d1f; }
.axis { font-size: 12px; fill: #444; font-style: italic; }
.legend { list-style: none; padding: 0; margin: 4px 0 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
rect { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #e5e5e5; vertical-align: top;
  overflow-wrap: anywhere; }
td.t { white-space: nowrap; overflow-wrap: normal; }
th { background: #f5f5f7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; word-break: break-all; }
.finding { border: 1px solid #ddd; border-left: 6px solid #999; border-radius: 4px; padding: 8px 12px; margin: 10px 0; }
.finding.high { border-left-color: #c62828; }
.finding.medium { border-left-color: #ef8f00; }
.finding.low { border-left-color: #1f77b4; }
.sev { display: inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase; padding: 1px 6px;
  border-radius: 3px; color: #fff; background: #999; margin-right: 6px; }
.sev.high { background: #c62828; } .sev.medium { background: #b36b00; } .sev.low { background: #1f77b4; }
.why { color: #444; margin: 2px 0 6px; }
.quiet { color: #555; }
footer { margin-top: 40px; color: #666; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; }
  figure, .finding, .card, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
";

/// The whole page.
pub fn render(report: &Report, meta: &Meta) -> String {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Asana audit log report</title><style>",
    );
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n");
    summary(&mut out, report, meta);
    findings(&mut out, report);
    charts(&mut out, report);
    changes(&mut out, report);
    appendix(&mut out, report);
    let _ = write!(
        out,
        "<footer>Made by asana-audit {} report on {}. Finding rules: the Sigma rule pack of \
         asana-audit-rules. Times are UTC.</footer>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        time(meta.generated_at)
    );
    out
}

fn summary(out: &mut String, report: &Report, meta: &Meta) {
    let w = &report.window;
    let c = &report.counts;
    out.push_str("<header><h1>Asana audit log report</h1><p class=\"sub\">");
    match (w.first_event, w.last_event) {
        (Some(first), Some(last)) => {
            let _ = write!(
                out,
                "Events from <b>{}</b> to <b>{}</b>",
                time(first),
                time(last)
            );
        }
        _ => out.push_str("No events"),
    }
    let filter = match (w.since, w.until) {
        (None, None) => String::new(),
        (since, until) => format!(
            " (asked for {} to {})",
            since.map_or_else(|| "the start".to_owned(), time),
            until.map_or_else(|| "the end".to_owned(), time)
        ),
    };
    let _ = write!(
        out,
        "{}. Read from {}.</p></header>\n<section><h2>Window and counts</h2><div class=\"cards\">",
        esc(&filter),
        esc(&meta.inputs.join(", "))
    );
    let mut card = |label: &str, value: u64, warn: bool| {
        let _ = write!(
            out,
            "<div class=\"card{}\"><b>{}</b>{}</div>",
            if warn { " warn" } else { "" },
            thousands(value),
            esc(label)
        );
    };
    card("events", c.events, false);
    card("days covered", report.days.len() as u64, false);
    card(
        "findings",
        report.finding_count() as u64,
        report.finding_count() > 0,
    );
    card("human actors", c.human_actors, false);
    card("non-human actors", c.non_human_actors, false);
    card("event types", c.event_types, false);
    card("client IP addresses", c.ip_addresses, false);
    card("files read", c.files, false);
    card("lines that are not events", c.not_events, c.not_events > 0);
    if w.since.is_some() || w.until.is_some() {
        card("events outside the window", c.outside_window, false);
    }
    out.push_str("</div></section>\n");
}

fn findings(out: &mut String, report: &Report) {
    out.push_str("<section id=\"findings\"><h2>Findings</h2>");
    let (fired, quiet): (Vec<&RuleResult>, Vec<&RuleResult>) =
        report.rules.iter().partition(|r| !r.findings.is_empty());
    if fired.is_empty() {
        out.push_str("<p>No rule found anything in these events.</p>");
    }
    for rule in fired {
        let sev = rule.severity.as_str();
        let _ = write!(
            out,
            "<div class=\"finding {sev}\"><h3><span class=\"sev {sev}\">{sev}</span>{}</h3>\
             <p class=\"why\">{}{}</p><ul>",
            esc(&rule.title),
            esc(&rule.why),
            rule.threshold
                .as_ref()
                .map(|t| format!(" Threshold: {}.", esc(t)))
                .unwrap_or_default()
        );
        for (i, finding) in rule.findings.iter().enumerate() {
            let subject = finding
                .subject
                .as_ref()
                .map(|s| format!("<b>{}</b>: ", esc(s)))
                .unwrap_or_default();
            let span = if finding.first == finding.last {
                time(finding.first)
            } else {
                format!("{} to {}", time(finding.first), time(finding.last))
            };
            let _ = write!(
                out,
                "<li>{subject}{} event(s), {span}. <a href=\"#{}-{i}\">The events</a></li>",
                thousands(finding.matched),
                rule.rule
            );
        }
        out.push_str("</ul></div>");
    }
    if !quiet.is_empty() {
        out.push_str("<p class=\"quiet\">Also checked, nothing found: ");
        let names: Vec<String> = quiet
            .iter()
            .map(|r| match &r.threshold {
                Some(t) => format!("{} ({})", esc(&r.title), esc(t)),
                None => esc(&r.title),
            })
            .collect();
        out.push_str(&names.join("; "));
        out.push_str(".</p>");
    }
    out.push_str("</section>\n");
}

fn charts(out: &mut String, report: &Report) {
    let dates: Vec<NaiveDate> = report.days.iter().map(|d| d.date).collect();
    out.push_str("<section><h2>Activity</h2>");
    let by_category: Vec<Series> = report
        .categories
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name,
            colour: PALETTE[i % PALETTE.len()],
            values: report.days.iter().map(|d| d.by_category[i]).collect(),
        })
        .collect();
    day_bars(
        out,
        "per-day",
        "Events per day, by category",
        "events",
        &dates,
        &by_category,
    );

    let logins = |f: fn(&Day) -> u64| report.days.iter().map(f).collect::<Vec<u64>>();
    let succeeded = logins(|d| d.logins_succeeded);
    let failed = logins(|d| d.logins_failed);
    let (ok, ko): (u64, u64) = (succeeded.iter().sum(), failed.iter().sum());
    day_bars(
        out,
        "logins",
        &format!(
            "Logins per day: {} succeeded, {} failed",
            thousands(ok),
            thousands(ko)
        ),
        "logins",
        &dates,
        &[
            Series {
                name: "succeeded",
                colour: SUCCEEDED,
                values: succeeded,
            },
            Series {
                name: "failed",
                colour: FAILED,
                values: failed,
            },
        ],
    );
    out.push_str("</section>\n<section><h2>Top actors</h2>");
    actor_ranking(
        out,
        "top-humans",
        &format!("People: the {} most active", report.top_humans.len()),
        &report.top_humans,
    );
    actor_ranking(
        out,
        "top-non-humans",
        &format!(
            "Non-human actors: the {} most active (Asana support and external administrators in orange)",
            report.top_non_humans.len()
        ),
        &report.top_non_humans,
    );
    out.push_str("</section>\n<section><h2>Top event types</h2>");
    let types: Vec<Ranked> = report
        .top_event_types
        .iter()
        .map(|t| Ranked {
            label: format!("{} ({})", t.event_type, t.category),
            value: t.events,
            colour: report
                .categories
                .iter()
                .position(|c| *c == t.category)
                .map_or(PALETTE[0], |i| PALETTE[i % PALETTE.len()]),
        })
        .collect();
    ranking(
        out,
        "top-types",
        &format!("The {} most frequent event types", types.len()),
        "events",
        &types,
    );
    out.push_str("</section>\n");
}

fn event_table(out: &mut String, events: &[EventRef], with_change: bool) {
    out.push_str(
        "<table><thead><tr><th>Time (UTC)</th><th>Event type</th><th>Actor</th><th>Resource</th>",
    );
    if with_change {
        out.push_str("<th>Old → new</th>");
    }
    out.push_str("<th>IP address</th><th>gid</th></tr></thead><tbody>");
    for e in events {
        let _ = write!(
            out,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td>",
            e.created_at.format("%Y-%m-%d %H:%M:%S"),
            esc(&e.event_type),
            esc(&e.actor),
            esc(e.resource.as_deref().unwrap_or("")),
        );
        if with_change {
            let (old, new) = e.change.clone().unwrap_or_default();
            let _ = write!(
                out,
                "<td>{} → {}</td>",
                esc(old.as_deref().unwrap_or("–")),
                esc(new.as_deref().unwrap_or("–"))
            );
        }
        let _ = write!(
            out,
            "<td>{}</td><td><code>{}</code></td></tr>",
            esc(e.ip.as_deref().unwrap_or("")),
            esc(&e.gid)
        );
    }
    out.push_str("</tbody></table>");
}

fn changes(out: &mut String, report: &Report) {
    out.push_str("<section id=\"changes\"><h2>Admin-setting and permission changes</h2>");
    if report.changes.is_empty() {
        out.push_str("<p>None in these events.</p>");
    } else {
        let _ = write!(
            out,
            "<p class=\"quiet\">Events of the categories admin_settings and roles, oldest first{}.</p>",
            if report.earlier_changes > 0 {
                format!(
                    "; the latest {} are shown, {} earlier ones are left out",
                    report.changes.len(),
                    thousands(report.earlier_changes)
                )
            } else {
                String::new()
            }
        );
        event_table(out, &report.changes, true);
    }
    out.push_str("</section>\n");
}

fn appendix(out: &mut String, report: &Report) {
    if report.finding_count() == 0 {
        return;
    }
    out.push_str("<section id=\"appendix\"><h2>Appendix: the events behind each finding</h2>");
    for rule in &report.rules {
        for (i, finding) in rule.findings.iter().enumerate() {
            let _ = write!(
                out,
                "<h3 id=\"{}-{i}\">{}{}</h3>",
                rule.rule,
                esc(&rule.title),
                finding
                    .subject
                    .as_ref()
                    .map(|s| format!(": {}", esc(s)))
                    .unwrap_or_default()
            );
            event_table(out, &finding.events, true);
            if finding.more() > 0 {
                let _ = write!(
                    out,
                    "<p class=\"quiet\">And {} more event(s): a finding keeps its first {KEPT_EVENTS}; \
                     the export holds them all.</p>",
                    thousands(finding.more())
                );
            }
        }
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(93), (100, 20));
        assert_eq!(axis(1234), (1500, 500));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;"
        );
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
