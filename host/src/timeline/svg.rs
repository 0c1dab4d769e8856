//! The timeline as a self-contained SVG picture: no scripts, fonts or network, so it opens
//! in any browser and can be attached to a test report.

use std::fmt::Write as _;

use super::model::{PhaseKind, Timeline};
use super::text::fmt_ms;

const LEFT: f64 = 150.0;
const BAR_W: f64 = 720.0;
const ROW_H: f64 = 26.0;
const BAR_H: f64 = 14.0;
const TOP: f64 = 40.0;

fn colour(kind: PhaseKind) -> &'static str {
    match kind {
        PhaseKind::Waiting => "#d0d4da",
        PhaseKind::Configuring => "#b39ddb",
        PhaseKind::SettingUp => "#9575cd",
        PhaseKind::Spawning => "#64b5f6",
        PhaseKind::WaitingReady => "#ffb74d",
        PhaseKind::Poststart => "#4db6ac",
        PhaseKind::Ready => "#81c784",
        PhaseKind::Stopping => "#90a4ae",
        PhaseKind::Exited => "#a1887f",
        PhaseKind::Failed => "#e53935",
        PhaseKind::Stopped => "#ffffff",
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

impl Timeline {
    /// The whole run as an SVG document: one bar per service (`<g class="service">`), split
    /// into its phases (`<rect class="phase phase-<kind>">`, in order, each with a tooltip),
    /// arrows for `needs` (from the need's ready moment to where the service's start began),
    /// a time axis and a legend.
    pub fn svg(&self) -> String {
        let end = self.end_ms.max(1) as f64;
        let x = |ms: u64| LEFT + BAR_W * ms as f64 / end;
        let row_y = |i: usize| TOP + ROW_H * i as f64;
        let n = self.services.len();
        let legend_y = row_y(n) + 20.0;
        let height = legend_y + 56.0;
        let width = LEFT + BAR_W + 30.0;
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        out.push_str(
            r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#37474f"/></marker></defs>
"##,
        );
        let _ = writeln!(
            out,
            r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="10" y="18" font-weight="bold">{}</text>"##,
            escape(&format!(
                "teamster run: {} services, start {} in {}, run {}",
                n,
                if self.services.iter().any(|s| s.failed_ms.is_some()) {
                    "failed"
                } else {
                    "took"
                },
                fmt_ms(self.start_end_ms()),
                fmt_ms(self.end_ms)
            ))
        );
        // The time axis: five ticks.
        for k in 0..=4u64 {
            let ms = self.end_ms * k / 4;
            let tx = x(ms);
            let _ = writeln!(
                out,
                r##"<line class="tick" x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#eceff1"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#607d8b">{}</text>"##,
                TOP - 6.0,
                row_y(n),
                TOP - 10.0,
                fmt_ms(ms)
            );
        }
        for (i, s) in self.services.iter().enumerate() {
            let y = row_y(i);
            let _ = writeln!(
                out,
                r#"<g class="service" data-service="{}"><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                escape(&s.name),
                LEFT - 8.0,
                y + BAR_H - 2.0,
                escape(&s.name)
            );
            for sp in &s.spans {
                let x0 = x(sp.start_ms);
                // A moment (a failure) still gets a visible sliver.
                let w = (x(sp.end_ms) - x0).max(2.0);
                let _ = writeln!(
                    out,
                    r#"<rect class="phase phase-{}" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{BAR_H}" fill="{}"><title>{}: {} (@{} +{})</title></rect>"#,
                    sp.kind.as_str(),
                    colour(sp.kind),
                    escape(&s.name),
                    escape(&sp.label),
                    fmt_ms(sp.start_ms),
                    fmt_ms(sp.ms()),
                );
            }
            out.push_str("</g>\n");
        }
        for (i, s) in self.services.iter().enumerate() {
            for need in &s.needs {
                let Some((j, n)) = self
                    .services
                    .iter()
                    .enumerate()
                    .find(|(_, n)| &n.name == need)
                else {
                    continue;
                };
                let from_ms = n.ready_ms.unwrap_or(self.end_ms);
                let to_ms = s.launched_ms.unwrap_or(self.end_ms).max(from_ms);
                let (x1, y1) = (x(from_ms), row_y(j) + BAR_H / 2.0);
                let (x2, y2) = (x(to_ms), row_y(i) + BAR_H / 2.0);
                let _ = writeln!(
                    out,
                    r##"<path class="need" data-from="{}" data-to="{}" d="M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}" fill="none" stroke="#37474f" stroke-width="1.2" marker-end="url(#arrow)"/>"##,
                    escape(need),
                    escape(&s.name),
                    x1 + 12.0,
                    x2 - 12.0,
                );
            }
        }
        let (mut lx, mut ly) = (10.0, legend_y);
        out.push_str(r#"<g class="legend">"#);
        for kind in PhaseKind::ALL {
            if kind == PhaseKind::Stopped {
                continue;
            }
            let item_w = 30.0 + 6.5 * kind.describe().len() as f64;
            if lx + item_w > width {
                (lx, ly) = (10.0, ly + 18.0);
            }
            let _ = write!(
                out,
                r##"<rect x="{lx:.1}" y="{ly:.1}" width="12" height="12" fill="{}" stroke="#90a4ae"/><text x="{:.1}" y="{:.1}">{}</text>"##,
                colour(kind),
                lx + 16.0,
                ly + 10.0,
                kind.describe()
            );
            lx += item_w;
        }
        out.push_str("</g>\n</svg>\n");
        out
    }
}
