//! `report.md`: GitHub-flavoured markdown a maintainer can read in one screen (title, finding,
//! environment, summary matrix, timeline, ARM's view at each loss, reproduction), with the
//! detail folded into `<details>` blocks and the whole under GitHub's comment limit: detail is
//! trimmed first, and the report says where the full CSV is.

use crate::csv_out::secure_values;
use crate::model::{ArmView, Verdict};
use crate::redact::Redactor;
use crate::summary::{Counts, Evidence, Row, Summary};
use crate::time_fmt::since;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// GitHub's limit on an issue comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Events drawn on the timeline at most (the rest are counted below it).
pub const TIMELINE_MAX_EVENTS: usize = 60;

/// Scenarios listed in the summary matrix at most.
const SUMMARY_MAX_SCENARIOS: usize = 100;

/// Runs listed in a merged report's environment and reproduction at most.
const MAX_RUNS_LISTED: usize = 40;

/// Distinct loss hypotheses listed at most.
const MAX_HYPOTHESES: usize = 20;

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ").replace('<', "&lt;").replace('>', "&gt;")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "–" } else { s }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Words for a channel, for sentences.
pub fn channel_words(ch: &str) -> String {
    match ch {
        "secure-env" => "secure environment variables (`secure-env`)".into(),
        "plain-env" => "plain environment variables (`plain-env`)".into(),
        "secret-volume" => "secret volumes (`secret-volume`)".into(),
        "keyvault" => "Key Vault secrets (`keyvault`)".into(),
        other => format!("`{other}`"),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn arrow(a: &str, b: &str) -> String {
    if a == b { or_dash(a).to_string() } else { format!("{} → {}", or_dash(a), or_dash(b)) }
}

fn count(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// The check where each (run, scenario, iteration, group, channel) first lost its secret.
pub fn first_losses(rows: &[Row]) -> Vec<&Row> {
    let mut seen = BTreeSet::new();
    rows.iter()
        .filter(|r| {
            r.verdict == Verdict::Lost && seen.insert((r.run, r.scenario.as_str(), r.iteration, r.group.as_str(), r.channel.as_str()))
        })
        .collect()
}

/// Per channel, per step name (in first-seen order): (steps run while the secret was still
/// there, steps in which it was first lost). A step with several checks (a soak) counts once.
fn step_stats(rows: &[Row]) -> BTreeMap<String, Vec<(String, usize, usize)>> {
    let mut lost_in = BTreeSet::new();
    let mut counted = BTreeSet::new();
    let mut out: BTreeMap<String, Vec<(String, usize, usize)>> = BTreeMap::new();
    for r in rows {
        let it = (r.run, r.group.clone(), r.channel.clone());
        if lost_in.contains(&it) {
            continue;
        }
        let steps = out.entry(r.channel.clone()).or_default();
        let i = match steps.iter().position(|(s, _, _)| *s == r.step) {
            Some(i) => i,
            None => {
                steps.push((r.step.clone(), 0, 0));
                steps.len() - 1
            }
        };
        if counted.insert((r.run, r.group.clone(), r.channel.clone(), r.step_index)) {
            steps[i].1 += 1;
        }
        if r.verdict == Verdict::Lost {
            steps[i].2 += 1;
            lost_in.insert(it);
        }
    }
    out
}

fn all_mock(ev: &Evidence) -> bool {
    ev.runs.iter().all(|r| r.meta.target.starts_with("mock"))
}

/// The title and the one-paragraph finding, written from the data.
pub fn finding(ev: &Evidence) -> (String, String) {
    let s = ev.summary();
    let stats = step_stats(&ev.rows);
    let runs_total = |c: &Counts| c.total();
    let mut sentences = Vec::new();
    let mut title_parts = Vec::new();
    let mut kept = Vec::new();
    for ch in &s.channels {
        let c = s.channel_total(ch);
        if c.lost > 0 {
            let st = stats.get(ch).cloned().unwrap_or_default();
            let lost_after: Vec<String> = st
                .iter()
                .filter(|(_, _, l)| *l > 0)
                .map(|(step, n, l)| format!("after {l} of {n} `{step}` {}", if *n == 1 { "step" } else { "steps" }))
                .collect();
            let never: Vec<String> = st.iter().filter(|(_, _, l)| *l == 0).map(|(step, n, _)| format!("`{step}` ({n})")).collect();
            let mut sen = format!(
                "{} were lost in {} of {}: {}",
                capitalise(&channel_words(ch)),
                c.lost,
                plural(runs_total(&c), "scenario run", "scenario runs"),
                lost_after.join(", ")
            );
            if !never.is_empty() {
                sen.push_str(&format!("; never after {}", never.join(", ")));
            }
            sentences.push(sen + ".");
            title_parts.push(format!("{ch} lost in {} of {}", c.lost, plural(runs_total(&c), "scenario run", "scenario runs")));
        } else if c.unknown == 0 {
            kept.push(format!("{} survived all {}", channel_words(ch), c.total()));
        } else {
            kept.push(format!("{} survived {} of {} ({} not observable: `unknown`)", channel_words(ch), c.survived, c.total(), c.unknown));
        }
    }
    if !kept.is_empty() {
        let mut k = kept.join("; ");
        if sentences.is_empty() {
            k = capitalise(&k);
        }
        sentences.push(if sentences.is_empty() { format!("{k}.") } else { format!("By contrast, {k}.") });
    }
    let losses = first_losses(&ev.rows);
    if !losses.is_empty() {
        let n = losses.len();
        let unchanged = losses.iter().filter(|r| !r.arm_view_changed()).count();
        let config_unchanged = losses
            .iter()
            .filter(|r| {
                r.arm_before.provisioning_state == r.arm_after.provisioning_state
                    && r.arm_before.env_entries == r.arm_after.env_entries
                    && secure_values(&r.arm_before) == "absent"
                    && secure_values(&r.arm_after) == "absent"
            })
            .count();
        let every = |k: usize| {
            if k == n {
                if n == 1 { "the one loss".to_string() } else { format!("every loss ({n})") }
            } else {
                format!("{k} of {}", plural(n, "loss", "losses"))
            }
        };
        let absent = losses.iter().all(|r| secure_values(&r.arm_before) == "absent" && secure_values(&r.arm_after) == "absent");
        let no_secret = if absent { ", and ARM returned no secure value before or after" } else { "" };
        if unchanged == n {
            sentences.push(format!(
                "The ARM view (provisioningState, group and container state, environment entries) was unchanged in {}{no_secret}.",
                every(n)
            ));
        } else {
            let mut parts = Vec::new();
            if config_unchanged > 0 {
                parts.push(format!(
                    "ARM's configuration view (provisioningState and environment entries, no secure value returned) was unchanged in {}",
                    every(config_unchanged)
                ));
            }
            if config_unchanged < n {
                parts.push(format!(
                    "in {} ARM's own view changed with it (environment entries or provisioningState differ before and after), so ARM could show {}",
                    plural(n - config_unchanged, "loss", "losses"),
                    if n - config_unchanged == 1 { "that one" } else { "those" }
                ));
            }
            let changed: Vec<&&Row> = losses.iter().filter(|r| r.arm_before.container_state != r.arm_after.container_state).collect();
            if let Some(r) = changed.first() {
                parts.push(format!(
                    "in {} the container state changed (`{}` → `{}`), which ARM reports without a cause",
                    plural(changed.len(), "loss", "losses"),
                    r.arm_before.container_state,
                    r.arm_after.container_state
                ));
            }
            let mut sen = parts.join("; ");
            sen.push('.');
            sentences.push(capitalise(&sen));
        }
    }
    let unknown_checks = ev.rows.iter().filter(|r| r.verdict == Verdict::Unknown).count();
    if unknown_checks > 0 {
        sentences.push(format!(
            "{} could not be observed and {} reported as `unknown`, never as survived.",
            plural(unknown_checks, "check", "checks"),
            if unknown_checks == 1 { "is" } else { "are" }
        ));
    }
    if all_mock(ev) {
        sentences.push(if ev.runs.iter().any(|r| !r.faults.is_empty()) {
            "These results come from the aci-chaos mock: each loss follows the loss hypothesis its fault carried (below). They show that the harness detects such a loss and what ARM shows meanwhile, not what Azure does.".into()
        } else {
            "These results come from the aci-chaos mock, not from Azure.".into()
        });
    }
    let mut title = if title_parts.is_empty() {
        let iterations = s.channels.first().map(|c| s.channel_total(c).total()).unwrap_or(0);
        format!("no secret lost in {}", plural(iterations, "scenario run", "scenario runs"))
    } else {
        title_parts.join("; ")
    };
    if all_mock(ev) {
        title.push_str(" (mock)");
    }
    if ev.rows.is_empty() {
        return (title, "The run recorded no check.".into());
    }
    (title, sentences.join(" "))
}

fn hypotheses(ev: &Evidence) -> Vec<String> {
    let mut seen: Vec<(String, usize, BTreeSet<String>)> = Vec::new();
    for run in &ev.runs {
        for f in &run.faults {
            let h = crate::mermaid::hypothesis_words(&f.hypothesis);
            let line = format!(
                "`{}`: {}",
                f.kind,
                if h.is_empty() { "every channel kept".into() } else { h.join(", ") + "; channels not named kept" }
            );
            let group = f.target.rsplit('/').next().unwrap_or("").to_string();
            match seen.iter_mut().find(|(l, _, _)| *l == line) {
                Some((_, n, groups)) => {
                    *n += 1;
                    groups.insert(group);
                }
                None => seen.push((line, 1, BTreeSet::from([group]))),
            }
        }
    }
    seen.into_iter()
        .map(|(l, n, g)| {
            let g: Vec<String> = g.into_iter().collect();
            let shown = if g.len() > 3 { format!("{} and {} more", g[..3].join(", "), g.len() - 3) } else { g.join(", ") };
            format!("- {l} (fired {}: {shown})", plural(n, "time", "times"))
        })
        .collect()
}

fn environment(ev: &Evidence) -> String {
    let mut out = String::from("## Environment\n\n");
    let tool = |m: &crate::RunMeta| {
        format!("aci-chaos {}{}", m.tool_version, m.git_commit.as_deref().map(|c| format!(" (commit {c})")).unwrap_or_default())
    };
    if let [run] = ev.runs.as_slice() {
        let m = &run.meta;
        out.push_str("| | |\n|---|---|\n");
        let mut kv = |k: &str, v: String| {
            let _ = writeln!(out, "| {k} | {} |", esc(&v));
        };
        kv("target", m.target.clone());
        kv("region", m.region.clone());
        kv("api-version", m.api_version.clone());
        kv("tool", tool(m));
        if let Some(s) = &m.subscription {
            kv("subscription", s.clone());
        }
        if let Some(t) = &m.tenant {
            kv("tenant", t.clone());
        }
        kv("run id", m.run_id.clone());
        kv("seed", m.seed.to_string());
        kv("suites", m.suites.join(", "));
        kv("started", format!("{} (target clock {})", m.started, run.start_time));
        match &run.end {
            Some(e) => {
                kv("finished", format!("{} (target clock {})", e.finished, run.end_time));
                kv("cleanup", e.cleanup.clone());
                if let Some(err) = &e.error {
                    kv("stopped early", err.clone());
                }
            }
            None => match &run.detached {
                Some(why) => kv(
                    "finished",
                    format!(
                        "not yet: the soak goes on, its groups running ({why}); `aci-chaos soak check DIR` does the next round, `aci-chaos run --resume DIR` the rest"
                    ),
                ),
                None => kv("finished", "no: the run was interrupted; this report covers what it saw".into()),
            },
        }
        if run.resumes > 0 {
            kv(
                "resumed",
                format!(
                    "{} after its process died; each time the work after the last saved point was done again (history.jsonl: `resume`)",
                    plural(run.resumes, "time", "times")
                ),
            );
        }
        kv("ARM calls", format!("{} ({} failed)", run.arm_calls.0, run.arm_calls.1));
    } else {
        out.push_str("| run | target | region | api-version | tool | seed | started | finished | ARM calls |\n|---|---|---|---|---|---|---|---|---|\n");
        for run in ev.runs.iter().take(MAX_RUNS_LISTED) {
            let m = &run.meta;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} ({} failed) |",
                esc(&m.run_id),
                esc(&m.target),
                esc(&m.region),
                esc(&m.api_version),
                esc(&tool(m)),
                m.seed,
                esc(&m.started),
                esc(run.end.as_ref().map(|e| e.finished.as_str()).unwrap_or("interrupted")),
                run.arm_calls.0,
                run.arm_calls.1
            );
        }
    }
    if ev.runs.len() > MAX_RUNS_LISTED {
        let _ = writeln!(out, "\n{} more runs are in `evidence.csv` (columns `run_id`, `region`).", ev.runs.len() - MAX_RUNS_LISTED);
    }
    let h = hypotheses(ev);
    if !h.is_empty() {
        out.push_str("\n**Loss hypotheses (mock).** The mock loses a secret only when a fault says so. Each fault carried a hypothesis under test, stated here; it is not an observation of Azure:\n\n");
        for l in h.iter().take(MAX_HYPOTHESES) {
            out.push_str(l);
            out.push('\n');
        }
        if h.len() > MAX_HYPOTHESES {
            let _ = writeln!(out, "- and {} more (every fault is in `history.jsonl`)", h.len() - MAX_HYPOTHESES);
        }
    }
    out
}

fn summary_table(s: &Summary) -> String {
    let mut out = String::from(
        "## Summary\n\nEach cell counts scenario runs: **lost** if any check saw the secret gone, else unknown if any could not observe, else survived.\n\n",
    );
    let _ = writeln!(out, "| scenario | {} |", s.channels.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(s.channels.len()));
    for (name, counts) in s.scenarios.iter().take(SUMMARY_MAX_SCENARIOS) {
        let _ = writeln!(out, "| {} | {} |", esc(name), counts.iter().map(|c| c.cell()).collect::<Vec<_>>().join(" | "));
    }
    if s.scenarios.len() > SUMMARY_MAX_SCENARIOS {
        let _ = writeln!(
            out,
            "| … {} more scenarios (in evidence.csv) |{}",
            s.scenarios.len() - SUMMARY_MAX_SCENARIOS,
            " |".repeat(s.channels.len())
        );
    }
    if s.scenarios.len() > 1 {
        let _ = writeln!(out, "| **all** | {} |", s.channels.iter().map(|c| s.channel_total(c).cell()).collect::<Vec<_>>().join(" | "));
    }
    out
}

/// When the runs cover several regions (a merged CI matrix), the outcomes per region.
fn by_region(ev: &Evidence) -> String {
    let mut regions: Vec<&str> = Vec::new();
    for r in &ev.runs {
        if !regions.contains(&r.meta.region.as_str()) {
            regions.push(&r.meta.region);
        }
    }
    if regions.len() < 2 {
        return String::new();
    }
    let all = ev.summary();
    let mut out =
        format!("\nBy region (scenario runs):\n\n| region | {} |\n|---|{}\n", all.channels.join(" | "), "---|".repeat(all.channels.len()));
    let more = regions.len().saturating_sub(MAX_RUNS_LISTED);
    for region in regions.into_iter().take(MAX_RUNS_LISTED) {
        let rows: Vec<Row> = ev.rows.iter().filter(|r| ev.runs[r.run].meta.region == region).cloned().collect();
        let s = Summary::of_rows(&rows);
        let _ = writeln!(
            out,
            "| {} | {} |",
            esc(region),
            all.channels.iter().map(|c| s.channel_total(c).cell()).collect::<Vec<_>>().join(" | ")
        );
    }
    if more > 0 {
        let _ = writeln!(out, "| … {} more regions (in evidence.csv) |{}", more, " |".repeat(all.channels.len()));
    }
    out
}

fn loss_row(ev: &Evidence, r: &Row) -> String {
    let (b, a) = (&r.arm_before, &r.arm_after);
    let run = if ev.runs.len() > 1 { format!("{} | ", esc(&ev.runs[r.run].meta.run_id)) } else { String::new() };
    format!(
        "| {run}{} | {} ({}) | {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
        esc(&r.group),
        esc(&r.step),
        since(&r.time, &ev.runs[r.run].start_time),
        r.channel,
        esc(&arrow(&b.provisioning_state, &a.provisioning_state)),
        esc(&arrow(&b.group_state, &a.group_state)),
        esc(&arrow(&b.container_state, &a.container_state)),
        esc(&arrow(&count(b.restart_count), &count(a.restart_count))),
        if b.env_entries == a.env_entries { format!("unchanged ({})", b.env_entries.len()) } else { "**changed**".into() },
        secure_values(b),
        secure_values(a),
        esc(&arrow(&r.placement_before.host, &r.placement_after.host)),
    )
}

fn loss_detail(ev: &Evidence, r: &Row) -> String {
    let (b, a) = (&r.arm_before, &r.arm_after);
    let mut t = format!(
        "<details><summary>{} · {} · {} lost: ARM's view before and after</summary>\n\n| | before the step | after the step |\n|---|---|---|\n",
        esc(&r.group),
        esc(&r.step),
        r.channel
    );
    let mut line = |k: &str, x: String, y: String| {
        let _ = writeln!(t, "| {k} | {} | {} |", esc(or_dash(&x)), esc(or_dash(&y)));
    };
    line("provisioningState", b.provisioning_state.clone(), a.provisioning_state.clone());
    line("instanceView.state", b.group_state.clone(), a.group_state.clone());
    line("currentState", b.container_state.clone(), a.container_state.clone());
    line("previousState", b.previous_state.clone(), a.previous_state.clone());
    line("restartCount", count(b.restart_count), count(a.restart_count));
    line("events", b.events.join(", "), a.events.join(", "));
    let env = |v: &ArmView| v.env_entries.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
    line("environment entries", env(b), env(a));
    line("secure values in ARM's answer", secure_values(b).into(), secure_values(a).into());
    line("host (probe)", r.placement_before.host.clone(), r.placement_after.host.clone());
    line("boot id (probe)", r.placement_before.boot.clone(), r.placement_after.boot.clone());
    line("IP (ARM)", r.placement_before.ip.clone(), r.placement_after.ip.clone());
    line(
        &format!("`{}` inside the container", r.channel),
        format!("`{}` expected", r.expected_fp),
        format!("`{}`: {}", or_dash(&r.observed_fp), r.reason),
    );
    let start = &ev.runs[r.run].start_time;
    line(
        "target time",
        format!("step began {} ({})", r.step_time, since(&r.step_time, start)),
        format!("checked {} ({})", r.time, since(&r.time, start)),
    );
    if !r.request_ids.is_empty() {
        line("ARM request ids", String::new(), r.request_ids.join(" "));
    }
    t.push_str("\n</details>\n\n");
    t
}

fn check_row(ev: &Evidence, r: &Row) -> String {
    let run = if ev.runs.len() > 1 { format!("{} | ", esc(&ev.runs[r.run].meta.run_id)) } else { String::new() };
    let verdict = if r.verdict == Verdict::Lost { format!("**{}**", r.verdict) } else { r.verdict.to_string() };
    format!(
        "| {run}{} | {} | {} | {} | {verdict} | `{}` | `{}` | {} | {} | {} |\n",
        r.iteration,
        esc(&r.step),
        since(&r.time, &ev.runs[r.run].start_time),
        r.channel,
        r.expected_fp,
        or_dash(&r.observed_fp),
        esc(&r.reason),
        esc(&format!("{} → {}", state(&r.arm_before), state(&r.arm_after))),
        esc(&arrow(&r.placement_before.host, &r.placement_after.host)),
    )
}

/// `provisioningState/container state`, or `–` when ARM was not read.
fn state(v: &ArmView) -> String {
    if v.provisioning_state.is_empty() && v.container_state.is_empty() {
        "–".into()
    } else {
        format!("{}/{}", or_dash(&v.provisioning_state), or_dash(&v.container_state))
    }
}

/// Appends `s` to `out` if it fits in `budget` (bytes, which are never fewer than characters).
fn take(out: &mut String, budget: &mut usize, s: &str) -> bool {
    if s.len() <= *budget {
        out.push_str(s);
        *budget -= s.len();
        true
    } else {
        false
    }
}

/// Renders the report with ids masked by `redactor`, within GitHub's comment limit.
pub fn render(ev: &Evidence, redactor: &Redactor) -> String {
    render_within(ev, redactor, GITHUB_COMMENT_LIMIT)
}

/// Renders the report within `limit` characters: the head (finding, environment, summary,
/// reproduction) always; then, while they fit, the timeline, the loss table, each loss's
/// before/after view, and each check; what is left out is counted and pointed to.
pub fn render_within(ev: &Evidence, redactor: &Redactor, limit: usize) -> String {
    let (title, para) = finding(ev);
    let mut head = format!("# aci-chaos: {title}\n\n**Finding.** {para}\n\n");
    head.push_str(&environment(ev));
    head.push('\n');
    head.push_str(&summary_table(&ev.summary()));
    head.push_str(&by_region(ev));

    let mut repro = String::from("\n## Reproduce\n\n");
    for run in ev.runs.iter().take(MAX_RUNS_LISTED) {
        let _ = write!(repro, "```sh\n{}\n```\n\n", run.meta.reproduce);
    }
    if ev.runs.len() > MAX_RUNS_LISTED {
        let _ =
            writeln!(repro, "The other {} runs' commands are in their `history.jsonl` (`run_started`).\n", ev.runs.len() - MAX_RUNS_LISTED);
    }
    repro.push_str(
        "`aci-chaos report render DIR` regenerates this report, `evidence.csv` and `junit.xml` from the run's `history.jsonl`.\n",
    );

    // The footer is written last but reserved first, at its longest.
    let footer_max = 400;
    let mut budget = limit.saturating_sub(head.len() + repro.len() + footer_max);
    let mut body = String::new();
    let mut trimmed: Vec<String> = Vec::new();

    // Timeline.
    let events = crate::mermaid::events(ev);
    if let Some(src) = crate::mermaid::timeline(&events, TIMELINE_MAX_EVENTS) {
        let mut t =
            format!("\n## Timeline\n\nLosses and placement changes, by target time since the run started.\n\n```mermaid\n{src}```\n");
        if events.len() > TIMELINE_MAX_EVENTS {
            let _ = writeln!(t, "\nThe first {TIMELINE_MAX_EVENTS} of {} events are drawn; all are in `evidence.csv`.", events.len());
        }
        if !take(&mut body, &mut budget, &t) {
            trimmed.push("the timeline".into());
        }
    } else {
        take(&mut body, &mut budget, "\n## Timeline\n\nNo loss and no placement change was observed.\n");
    }

    // ARM's view at each loss.
    let losses = first_losses(&ev.rows);
    if !losses.is_empty() {
        let run_col = if ev.runs.len() > 1 { ("run | ", "---|") } else { ("", "") };
        let t = format!(
            "\n## ARM's view at each loss\n\nARM never returns secure values, so its view cannot show a loss. For each loss, ARM's view of the group before and after the step where the container first missed the secret; *secure values* is `absent` when ARM returned none (as designed).\n\n| {}group | step (time) | channel | provisioningState | group state | container state | restarts | env entries | secure values before / after | host (probe) |\n|{}---|---|---|---|---|---|---|---|---|---|\n",
            run_col.0, run_col.1
        );
        take(&mut body, &mut budget, &t);
        let mut shown = 0;
        for r in &losses {
            let line = loss_row(ev, r);
            if budget < line.len() + 200 {
                break;
            }
            take(&mut body, &mut budget, &line);
            shown += 1;
        }
        if shown < losses.len() {
            let _ = take(
                &mut body,
                &mut budget,
                &format!(
                    "\n{} more losses are not listed here; they are the rows of `evidence.csv` whose verdict is `lost`.\n",
                    losses.len() - shown
                ),
            );
            trimmed.push(format!("{} of {} losses in the table", losses.len() - shown, losses.len()));
        }
    }
    let before_repro = body;
    let mut body = String::new();

    // Each loss's full before/after view.
    if !losses.is_empty() {
        let mut shown = 0;
        take(&mut body, &mut budget, "\n## Before and after, loss by loss\n\n");
        for r in &losses {
            if !take(&mut body, &mut budget, &loss_detail(ev, r)) {
                break;
            }
            shown += 1;
        }
        if shown < losses.len() {
            trimmed.push(format!("{} of {} before/after views", losses.len() - shown, losses.len()));
        }
    }

    // What was captured when soaks saw changes: the platform's account beside the probe's.
    let captures: Vec<(usize, &String, &crate::model::Capture)> =
        ev.runs.iter().enumerate().flat_map(|(i, r)| r.captures.iter().map(move |(t, c)| (i, t, c))).collect();
    if !captures.is_empty() {
        let mut shown = 0;
        let intro = "\n## Captured on change\n\nWhen a soak saw a group change (a fingerprint, the boot id, the restart count), it captured at once ARM's instance view and events, the container's full logs, and the group's activity log. On Azure, activity-log events can take minutes to appear: the capture at the end of each soak reads the whole window again.\n";
        if take(&mut body, &mut budget, intro) {
            for (run, time, c) in &captures {
                if !take(&mut body, &mut budget, &capture_block(ev, *run, time, c)) {
                    break;
                }
                shown += 1;
            }
        }
        if shown < captures.len() {
            trimmed.push(format!("{} of {} captures (the `capture` lines of `history.jsonl`)", captures.len() - shown, captures.len()));
        }
    }

    // Every check, one block per scenario (the heading only when some block fits).
    let mut shown_checks = 0;
    let heading = "\n## Every check\n\nA soak records a check only when something changed, and its last round; its step line says how many checks it made.\n";
    if !ev.rows.is_empty() && budget > heading.len() {
        let mut checks = String::new();
        budget -= heading.len();
        let run_col = if ev.runs.len() > 1 { ("run | ", "---|") } else { ("", "") };
        let mut scenarios: Vec<(&str, Vec<&Row>)> = Vec::new();
        for r in &ev.rows {
            match scenarios.iter_mut().find(|(s, _)| *s == r.scenario) {
                Some((_, v)) => v.push(r),
                None => scenarios.push((&r.scenario, vec![r])),
            }
        }
        'outer: for (name, rows) in scenarios {
            let lost = rows.iter().filter(|r| r.verdict == Verdict::Lost).count();
            let unknown = rows.iter().filter(|r| r.verdict == Verdict::Unknown).count();
            let mut counts = vec![plural(rows.len(), "check", "checks")];
            if lost > 0 {
                counts.push(format!("{lost} lost"));
            }
            if unknown > 0 {
                counts.push(format!("{unknown} unknown"));
            }
            let open = format!(
                "\n<details><summary><code>{}</code>: {}</summary>\n\n| {}iter | step | time | channel | verdict | expected | observed | reason | ARM before → after | host (probe) |\n|{}---|---|---|---|---|---|---|---|---|---|\n",
                esc(name),
                counts.join(", "),
                run_col.0,
                run_col.1
            );
            let close = "\n</details>\n";
            if budget < open.len() + close.len() + 200 {
                break;
            }
            checks.push_str(&open);
            budget -= open.len() + close.len();
            for r in rows {
                if !take(&mut checks, &mut budget, &check_row(ev, r)) {
                    checks.push_str(close);
                    break 'outer;
                }
                shown_checks += 1;
            }
            checks.push_str(close);
        }
        if shown_checks > 0 {
            body.push_str(heading);
            body.push_str(&checks);
        }
        if shown_checks < ev.rows.len() {
            trimmed.push(format!("{} of {} checks", ev.rows.len() - shown_checks, ev.rows.len()));
        }
    }

    let mut footer = String::from("\n---\n\n");
    if trimmed.is_empty() {
        footer.push_str("The full evidence is in `evidence.csv` (every check) and `history.jsonl` (every ARM call, step and fault) beside this report.\n");
    } else {
        let _ = writeln!(
            footer,
            "**Trimmed to fit GitHub's {GITHUB_COMMENT_LIMIT}-character comment limit**: left out {}. The full evidence is in `evidence.csv` (every check) and `history.jsonl` (every ARM call) beside this report.",
            trimmed.join("; ")
        );
    }
    let out = format!("{head}{before_repro}{repro}{body}{footer}");
    hard_limit(redactor.apply(&out).into_owned(), limit)
}

/// One capture: what changed, the container's state, the activity log, the logs folded.
fn capture_block(ev: &Evidence, run: usize, time: &str, c: &crate::model::Capture) -> String {
    let fence = |s: &str| s.replace("```", "'''");
    let mut out = String::new();
    let run_label = if ev.runs.len() > 1 { format!("run {} · ", run + 1) } else { String::new() };
    let _ = writeln!(out, "\n### {run_label}`{}` at {}: {}\n", esc(&c.group), esc(time), esc(&c.reason));
    let containers = c.instance_view.get("containers").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    for ct in &containers {
        let v = |p: &str| ct.pointer(p).map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).unwrap_or_default();
        let _ = writeln!(
            out,
            "- container `{}`: {} ({}), restarts {}, previous {}",
            esc(&v("/name")),
            or_dash(&v("/instanceView/currentState/state")),
            or_dash(&v("/instanceView/currentState/detailStatus")),
            or_dash(&v("/instanceView/restartCount")),
            or_dash(&v("/instanceView/previousState/state"))
        );
    }
    let _ = writeln!(out, "- activity log {} to {}: {}", esc(&c.window.0), esc(&c.window.1), plural(c.activity.len(), "event", "events"));
    if let Some(e) = &c.activity_error {
        let _ = writeln!(out, "- activity log not read: {}", esc(e));
    }
    if !c.activity.is_empty() {
        // ARM lists newest first; read in order of time here (the latest 20).
        out.push_str("\n```text\ntime  category  operation  status  caller  title\n");
        if c.activity.len() > 20 {
            let _ = writeln!(out, "… {} earlier events in history.jsonl", c.activity.len() - 20);
        }
        for line in c.activity.iter().take(20).rev() {
            let _ = writeln!(out, "{}", fence(line));
        }
        out.push_str("```\n");
    }
    match &c.logs_error {
        Some(e) => {
            let _ = writeln!(out, "- logs not read: {}", esc(e));
        }
        None => {
            let lines: Vec<&str> = c.logs.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            let _ = write!(
                out,
                "\n<details><summary>logs ({}; the last {} here, all in history.jsonl)</summary>\n\n```text\n{}\n```\n</details>\n",
                plural(lines.len(), "line", "lines"),
                tail.len(),
                fence(&tail.join("\n"))
            );
        }
    }
    out
}

/// The last resort, for inputs the budget above cannot shrink enough (thousands of scenarios,
/// say): cut at a line boundary, close what the cut left open, and say so.
fn hard_limit(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text;
    }
    let note =
        "\n**Cut at GitHub's 65536-character comment limit**: the rest is in `evidence.csv` and `history.jsonl` beside this report.\n";
    let keep = limit.saturating_sub(note.len() + 40);
    let mut end = text.char_indices().nth(keep).map(|(i, _)| i).unwrap_or(text.len());
    end = text[..end].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut out = text[..end].to_string();
    if out.matches("```").count() % 2 == 1 {
        out.push_str("```\n");
    }
    for _ in 0..out.matches("<details>").count().saturating_sub(out.matches("</details>").count()) {
        out.push_str("\n</details>\n");
    }
    out.push_str(note);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::*;
    use crate::summary::RunInfo;

    pub(crate) fn row(scenario: &str, channel: &str, verdict: Verdict) -> CheckRow {
        CheckRow {
            scenario: scenario.into(),
            iteration: 1,
            group: format!("acc-x-{scenario}-1"),
            step_index: 1,
            step: scenario.into(),
            channel: channel.into(),
            verdict,
            reason: "r".into(),
            method: "logs".into(),
            expected_fp: "0123456789abcdef".into(),
            observed_fp: "MISSING".into(),
            time: "2026-01-01T00:00:05Z".into(),
            zone: "any".into(),
            profile: "probe".into(),
            hypothesis: String::new(),
            arm_before: ArmView::default(),
            arm_after: ArmView::default(),
            placement_before: PlacementView::default(),
            placement_after: PlacementView::default(),
        }
    }

    pub(crate) fn meta() -> RunMeta {
        RunMeta {
            run_id: "r1".into(),
            target: "mock (embedded)".into(),
            endpoint: "http://127.0.0.1:1".into(),
            region: "eastus".into(),
            api_version: "2023-05-01".into(),
            tool_version: "0.1.0".into(),
            git_commit: None,
            seed: 1,
            suites: vec!["default".into()],
            started: "s".into(),
            reproduce: "aci-chaos run --seed 1".into(),
            subscription: None,
            tenant: None,
            redact: true,
        }
    }

    pub(crate) fn evidence(rows: Vec<CheckRow>) -> Evidence {
        Evidence {
            runs: vec![RunInfo {
                meta: meta(),
                end: None,
                faults: vec![],
                captures: vec![],
                resumes: 0,
                detached: None,
                arm_calls: (0, 0),
                start_time: "2026-01-01T00:00:00Z".into(),
                end_time: "2026-01-01T00:00:09Z".into(),
            }],
            rows: rows
                .into_iter()
                .map(|check| Row {
                    run: 0,
                    check,
                    wall: String::new(),
                    step_time: String::new(),
                    step_wall: String::new(),
                    request_ids: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn finding_counts_losses_per_step_and_unchanged_arm_views() {
        let ev = evidence(vec![
            row("rehost", "secure-env", Verdict::Lost),
            row("rehost", "plain-env", Verdict::Survived),
            row("restart", "secure-env", Verdict::Survived),
            row("restart", "plain-env", Verdict::Survived),
        ]);
        let (title, p) = finding(&ev);
        assert_eq!(title, "secure-env lost in 1 of 2 scenario runs (mock)");
        assert!(p.contains("Secure environment variables (`secure-env`) were lost in 1 of 2 scenario runs: after 1 of 1 `rehost` step; never after `restart` (1)."), "{p}");
        assert!(p.contains("plain environment variables (`plain-env`) survived all 2"), "{p}");
        assert!(p.contains("unchanged in the one loss"), "{p}");
    }

    #[test]
    fn a_loss_in_the_middle_of_a_soak_counts_its_step_once() {
        let mut rows = vec![
            row("soak", "secure-env", Verdict::Survived),
            row("soak", "secure-env", Verdict::Lost),
            row("soak", "secure-env", Verdict::Lost),
        ];
        rows[0].step_index = 0;
        rows[0].step = "deploy".into();
        let (_, p) = finding(&evidence(rows));
        assert!(p.contains("lost in 1 of 1 scenario run: after 1 of 1 `soak` step; never after `deploy` (1)."), "{p}");
    }

    #[test]
    fn a_merge_of_hundreds_of_runs_and_scenarios_still_fits() {
        let rows: Vec<CheckRow> = (0..3000)
            .map(|i| {
                let mut r = row(&format!("scenario-with-a-long-name-{}", i % 600), "secure-env", Verdict::Lost);
                r.group = format!("acc-x-s-{i}");
                r
            })
            .collect();
        let mut ev = evidence(rows);
        let run = ev.runs[0].clone();
        for i in 0..400 {
            let mut r = run.clone();
            r.meta.run_id = format!("run{i}");
            r.meta.region = format!("region-{i}");
            r.meta.reproduce = format!("aci-chaos run scenarios/a-very-long-suite-name-{i}.toml --seed {i} -l region-{i}");
            ev.runs.push(r);
        }
        for (i, r) in ev.rows.iter_mut().enumerate() {
            r.run = i % ev.runs.len();
        }
        let md = render(&ev, &Redactor::default());
        assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT, "{}", md.chars().count());
        assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
        assert_eq!(md.matches("```").count() % 2, 0);
        assert!(md.contains("evidence.csv"));
        let cut = hard_limit("x\n".repeat(40_000) + "```\n<details>\ny\n", 1000);
        assert!(cut.chars().count() <= 1000 && cut.contains("Cut at GitHub"), "{cut}");
    }

    #[test]
    fn a_huge_run_stays_under_the_comment_limit_and_says_where_the_rest_is() {
        let rows: Vec<CheckRow> = (0..5000)
            .map(|i| {
                let mut r = row(&format!("s{}", i % 7), "secure-env", if i % 3 == 0 { Verdict::Lost } else { Verdict::Survived });
                r.group = format!("acc-x-s-{i}");
                r
            })
            .collect();
        let md = render(&evidence(rows), &Redactor::default());
        assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT, "{}", md.len());
        assert!(md.contains("Trimmed to fit") && md.contains("evidence.csv"), "{}", &md[md.len() - 600..]);
        assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
        assert_eq!(md.matches("```").count() % 2, 0);
    }

    fn capture(group: &str, logs: &str) -> crate::model::Capture {
        crate::model::Capture {
            scenario: "soak".into(),
            iteration: 1,
            group: group.into(),
            reason: "secure-env survived → lost; boot a → b".into(),
            instance_view: serde_json::json!({"containers": [{"name": "azp-agent", "instanceView": {
                "restartCount": 5, "currentState": {"state": "Waiting", "detailStatus": "CrashLoopBackOff"}, "previousState": {"state": "Terminated"}}}]}),
            logs: logs.into(),
            logs_error: None,
            window: ("2026-01-01T00:00:00Z".into(), "2026-01-02T00:00:00Z".into()),
            activity: vec![
                "2026-01-01T20:51:42Z  ResourceHealth  Microsoft.Resourcehealth/healthevent/Activated/action  Active  -  moved".into(),
            ],
            activity_raw: vec![],
            activity_error: None,
        }
    }

    #[test]
    fn captures_show_the_change_the_platform_account_and_the_logs() {
        let mut ev = evidence(vec![row("soak", "secure-env", Verdict::Lost)]);
        ev.runs[0]
            .captures
            .push(("2026-01-01T21:00:00Z".into(), capture("acc-r1-soak-1", "error: missing AZP_TOKEN environment variable\n```")));
        let md = render(&ev, &Redactor::default());
        assert!(md.contains("## Captured on change"), "{md}");
        assert!(md.contains("### `acc-r1-soak-1` at 2026-01-01T21:00:00Z: secure-env survived → lost; boot a → b"), "{md}");
        assert!(md.contains("- container `azp-agent`: Waiting (CrashLoopBackOff), restarts 5, previous Terminated"), "{md}");
        assert!(md.contains("healthevent/Activated/action"), "{md}");
        assert!(md.contains("error: missing AZP_TOKEN environment variable"), "{md}");
        // A fence in the logs cannot break the report's own.
        assert_eq!(md.matches("```").count() % 2, 0);
        assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
    }

    #[test]
    fn thousands_of_captures_are_trimmed_and_counted() {
        let mut ev = evidence(vec![row("soak", "secure-env", Verdict::Lost)]);
        for i in 0..3000 {
            ev.runs[0].captures.push((format!("t{i}"), capture(&format!("acc-r1-soak-{i}"), &"aci-chaos-probe line\n".repeat(40))));
        }
        let md = render(&ev, &Redactor::default());
        assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT);
        assert!(md.contains("captures (the `capture` lines of `history.jsonl`)"), "{}", &md[md.len() - 600..]);
        assert_eq!(md.matches("```").count() % 2, 0);
    }
}
