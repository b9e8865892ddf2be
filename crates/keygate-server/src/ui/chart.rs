//! The credential page's usage chart: allowed and denied calls stacked per
//! bar (an hour for windows up to two days, a day beyond), drawn on the
//! server as an inline SVG with a title, a description and labelled axes.
//! No script and no chart library: the numbers are also listed in a table.

use std::fmt::Write;

use keygate_core::usage::HOUR;

use super::time::stamp;

/// Windows up to this many days get a bar per hour, longer ones per day.
pub const HOURLY_UP_TO_DAYS: u32 = 2;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;
/// Allowed calls: the UI's primary blue (contrast over 4.5:1 on white).
const ALLOWED_FILL: &str = "#1f5fa8";
/// Denied calls: the UI's danger red.
const DENIED_FILL: &str = "#b42318";
const INK: &str = "#1d2733";
const MUTED: &str = "#5f6b7a";
const GRID: &str = "#d9dfe7";

/// One bar: calls in one hour or one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Start of the hour or day (unix seconds).
    pub start: i64,
    /// `2026-01-31` for a day, `2026-01-31 14:00` for an hour (UTC).
    pub label: String,
    /// Allowed calls.
    pub allowed: u64,
    /// Denied calls.
    pub denied: u64,
}

/// The chart of a window: its bars, totals and the SVG.
pub struct Chart {
    /// Every bar of the window, oldest first.
    pub bars: Vec<Bar>,
    /// A bar per hour rather than per day.
    pub hourly: bool,
    /// Allowed calls in the window.
    pub allowed: u64,
    /// Denied calls in the window.
    pub denied: u64,
    /// The drawing (markup made here from numbers and dates only).
    pub svg: String,
}

impl Chart {
    /// The chart of `series` (per hour: start, allowed, denied, as
    /// `keygate_core::usage::per_hour` gives it) over the last `days` days.
    pub fn new(series: &[(i64, u64, u64)], days: u32) -> Self {
        let hourly = days <= HOURLY_UP_TO_DAYS;
        let bars = if hourly {
            hourly_bars(series)
        } else {
            daily_bars(series)
        };
        let allowed = bars.iter().map(|b| b.allowed).sum();
        let denied = bars.iter().map(|b| b.denied).sum();
        let svg = draw(&bars, hourly, days, allowed, denied);
        Self {
            bars,
            hourly,
            allowed,
            denied,
            svg,
        }
    }

    /// The bars with at least one call (the table under the chart).
    pub fn busy_bars(&self) -> Vec<&Bar> {
        self.bars
            .iter()
            .filter(|b| b.allowed + b.denied > 0)
            .collect()
    }

    /// "Hour (UTC)" or "Day (UTC)".
    pub fn unit(&self) -> &'static str {
        if self.hourly {
            "Hour (UTC)"
        } else {
            "Day (UTC)"
        }
    }
}

fn hourly_bars(series: &[(i64, u64, u64)]) -> Vec<Bar> {
    series
        .iter()
        .map(|&(hour, allowed, denied)| Bar {
            start: hour,
            label: stamp(hour).text.trim_end_matches(" UTC").to_string(),
            allowed,
            denied,
        })
        .collect()
}

fn daily_bars(series: &[(i64, u64, u64)]) -> Vec<Bar> {
    let mut bars: Vec<Bar> = Vec::new();
    for &(hour, allowed, denied) in series {
        let day = hour.div_euclid(24 * HOUR) * 24 * HOUR;
        match bars.last_mut() {
            Some(bar) if bar.start == day => {
                bar.allowed += allowed;
                bar.denied += denied;
            }
            _ => bars.push(Bar {
                start: day,
                label: stamp(day).date().to_string(),
                allowed,
                denied,
            }),
        }
    }
    bars
}

/// The smallest of 1, 2, 5, 10, 20, 50… at least `max` (the y axis top).
pub fn nice_max(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let top = step.saturating_mul(factor);
            if top >= max {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn draw(bars: &[Bar], hourly: bool, days: u32, allowed: u64, denied: u64) -> String {
    let mut svg = String::new();
    let per = if hourly { "hour" } else { "day" };
    let window = match days {
        1 => "the last 24 hours".to_string(),
        n => format!("the last {n} days"),
    };
    let busiest = bars.iter().max_by_key(|b| (b.allowed + b.denied, b.start));
    let mut desc = format!("{allowed} allowed and {denied} denied calls in {window}.");
    if let Some(bar) = busiest.filter(|b| b.allowed + b.denied > 0) {
        let _ = write!(
            desc,
            " Busiest {per}: {} with {} allowed and {} denied.",
            bar.label, bar.allowed, bar.denied
        );
    }
    let _ = write!(
        svg,
        r#"<svg class="usage-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="usage-title usage-desc" font-size="11" font-family="system-ui, sans-serif">"#
    );
    let _ = write!(
        svg,
        r#"<title id="usage-title">Calls per {per}, {window}</title><desc id="usage-desc">{desc}</desc>"#
    );
    let top = nice_max(
        bars.iter()
            .map(|b| b.allowed + b.denied)
            .max()
            .unwrap_or(0)
            .max(1),
    );
    draw_axes(&mut svg, top, hourly);
    draw_bars(&mut svg, bars, top);
    draw_x_labels(&mut svg, bars, hourly);
    draw_legend(&mut svg);
    svg.push_str("</svg>");
    svg
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// The y position of `value` on a scale topping at `top`.
fn y_of(value: u64, top: u64) -> f64 {
    TOP + plot_height() * (1.0 - value as f64 / top as f64)
}

fn draw_axes(svg: &mut String, top: u64, hourly: bool) {
    let ticks: Vec<u64> = if top >= 2 {
        vec![0, top / 2, top]
    } else {
        vec![0, top]
    };
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    for tick in ticks {
        let y = y_of(tick, top);
        let _ = write!(
            svg,
            r#"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="{GRID}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}">{tick}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let middle = TOP + plot_height() / 2.0;
    let _ = write!(
        svg,
        r#"<text x="14" y="{middle:.1}" text-anchor="middle" fill="{INK}" transform="rotate(-90 14 {middle:.1})">Calls</text>"#
    );
    let unit = if hourly { "Hour (UTC)" } else { "Day (UTC)" };
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{unit}</text>"#,
        LEFT + plot_width() / 2.0,
        HEIGHT - 6.0
    );
}

fn draw_bars(svg: &mut String, bars: &[Bar], top: u64) {
    if bars.is_empty() {
        return;
    }
    let slot = plot_width() / bars.len() as f64;
    let width = (slot * 0.8).max(1.0);
    for (i, bar) in bars.iter().enumerate() {
        if bar.allowed + bar.denied == 0 {
            continue;
        }
        let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
        let base = y_of(0, top);
        let allowed_y = y_of(bar.allowed, top);
        let total_y = y_of(bar.allowed + bar.denied, top);
        let _ = write!(
            svg,
            r#"<g class="bar" data-start="{}"><title>{}: {} allowed, {} denied</title>"#,
            bar.start, bar.label, bar.allowed, bar.denied
        );
        if bar.allowed > 0 {
            let _ = write!(
                svg,
                r#"<rect class="bar-allowed" x="{x:.1}" y="{allowed_y:.1}" width="{width:.1}" height="{:.1}" fill="{ALLOWED_FILL}"/>"#,
                base - allowed_y
            );
        }
        if bar.denied > 0 {
            let _ = write!(
                svg,
                r#"<rect class="bar-denied" x="{x:.1}" y="{total_y:.1}" width="{width:.1}" height="{:.1}" fill="{DENIED_FILL}"/>"#,
                allowed_y - total_y
            );
        }
        svg.push_str("</g>");
    }
}

/// About six dates under the bars, evenly spread.
fn draw_x_labels(svg: &mut String, bars: &[Bar], hourly: bool) {
    if bars.is_empty() {
        return;
    }
    let slot = plot_width() / bars.len() as f64;
    let every = bars.len().div_ceil(6).max(1);
    for (i, bar) in bars.iter().enumerate().step_by(every) {
        let x = LEFT + slot * (i as f64 + 0.5);
        // "01-31" for a day, "01-31 14:00" for an hour: the year is in the title.
        let text = if hourly {
            &bar.label[5..]
        } else {
            &bar.label[5..10]
        };
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}">{text}</text>"#,
            HEIGHT - BOTTOM + 16.0
        );
    }
}

fn draw_legend(svg: &mut String) {
    let x = WIDTH - RIGHT - 170.0;
    let _ = write!(
        svg,
        r#"<g class="legend"><rect x="{x}" y="8" width="12" height="12" fill="{ALLOWED_FILL}"/><text x="{}" y="18" fill="{INK}">Allowed</text><rect x="{}" y="8" width="12" height="12" fill="{DENIED_FILL}"/><text x="{}" y="18" fill="{INK}">Denied</text></g>"#,
        x + 16.0,
        x + 90.0,
        x + 106.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * HOUR;

    #[test]
    fn nice_tops() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(499), 500);
        assert_eq!(nice_max(u64::MAX), u64::MAX);
    }

    #[test]
    fn daily_bars_sum_their_hours() {
        let start = 20_000 * DAY;
        let series = vec![
            (start, 1, 0),
            (start + HOUR, 2, 1),
            (start + DAY, 0, 0),
            (start + DAY + 5 * HOUR, 4, 3),
        ];
        let chart = Chart::new(&series, 30);
        assert!(!chart.hourly);
        assert_eq!(chart.bars.len(), 2);
        assert_eq!((chart.bars[0].allowed, chart.bars[0].denied), (3, 1));
        assert_eq!((chart.bars[1].allowed, chart.bars[1].denied), (4, 3));
        assert_eq!(chart.bars[1].label, stamp(start + DAY).date());
        assert_eq!((chart.allowed, chart.denied), (7, 4));
        assert!(chart
            .svg
            .contains("7 allowed and 4 denied calls in the last 30 days."));
        assert_eq!(chart.svg.matches("<g class=\"bar\"").count(), 2);
        assert!(chart
            .svg
            .contains(r#"aria-labelledby="usage-title usage-desc""#));
    }

    #[test]
    fn short_windows_are_hourly_and_empty_ones_draw_no_bar() {
        let start = 20_000 * DAY;
        let series: Vec<(i64, u64, u64)> = (0..24).map(|i| (start + i * HOUR, 0, 0)).collect();
        let chart = Chart::new(&series, 1);
        assert!(chart.hourly);
        assert_eq!(chart.bars.len(), 24);
        assert!(chart.busy_bars().is_empty());
        assert!(!chart.svg.contains("<g class=\"bar\""));
        assert!(chart.svg.contains("Calls per hour, the last 24 hours"));
        assert!(chart.svg.contains("Hour (UTC)"));
    }

    #[test]
    fn stacked_denied_sits_on_allowed() {
        let series = vec![(0, 10, 10)];
        let chart = Chart::new(&series, 1);
        let base = y_of(0, 20);
        assert!((y_of(10, 20) - (TOP + plot_height() / 2.0)).abs() < 0.01);
        assert!(base > y_of(10, 20) && y_of(10, 20) > y_of(20, 20));
        assert!(chart.svg.contains("bar-allowed") && chart.svg.contains("bar-denied"));
    }
}
