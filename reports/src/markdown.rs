//! `report.md`: GitHub-flavoured markdown a maintainer can read in one screen, with the detail
//! folded away and the whole under GitHub's comment limit.

use crate::model::{CheckRow, Verdict};
use crate::summary::Evidence;
use std::fmt::Write;

/// GitHub's limit on an issue comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "?" } else { s }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one-paragraph finding, written from the data.
pub fn finding(ev: &Evidence) -> (String, String) {
    let s = ev.summary();
    let mut lost_parts = Vec::new();
    let mut kept_parts = Vec::new();
    for ch in &s.channels {
        let c = s.channel_total(ch);
        if c.lost > 0 {
            let scen: Vec<String> = first_losses(&ev.rows)
                .iter()
                .filter(|r| r.channel == *ch)
                .map(|r| format!("`{}`", r.step))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            lost_parts.push(format!(
                "`{ch}` was lost in {} of {} (after {})",
                c.lost,
                plural(c.total(), "scenario run", "scenario runs"),
                scen.join(", ")
            ));
        } else if c.unknown == 0 {
            kept_parts.push(format!("`{ch}`"));
        }
    }
    let unknown: usize = s.channels.iter().map(|c| s.channel_total(c).unknown).sum();
    let losses = first_losses(&ev.rows);
    let unchanged = losses.iter().filter(|r| !r.arm_view_changed()).count();
    let title = if lost_parts.is_empty() {
        format!("no secret was lost in {}", plural(ev.rows.len(), "check", "checks"))
    } else {
        let c = s
            .channels
            .iter()
            .filter(|c| s.channel_total(c).lost > 0)
            .map(|c| format!("{c} lost in {} of {}", s.channel_total(c).lost, plural(s.channel_total(c).total(), "run", "runs")))
            .collect::<Vec<_>>();
        c.join("; ")
    };
    let mut p = String::new();
    if lost_parts.is_empty() {
        p.push_str(&format!("Every secret channel survived every observed check ({}).", plural(ev.rows.len(), "check", "checks")));
    } else {
        p.push_str(&lost_parts.join("; "));
        p.push('.');
        if !kept_parts.is_empty() {
            p.push_str(&format!(" {} survived every check.", kept_parts.join(", ")));
        }
        p.push_str(&format!(
            " At the step where each loss appeared, the ARM view (provisioning state, group and container state, environment entries) was unchanged in {unchanged} of {}.",
            plural(losses.len(), "loss", "losses")
        ));
    }
    let unknown_checks = ev.rows.iter().filter(|r| r.verdict == Verdict::Unknown).count();
    if unknown > 0 {
        p.push_str(&format!(
            " {} could not be observed and {} reported as `unknown`, not as survived.",
            plural(unknown_checks, "check", "checks"),
            if unknown_checks == 1 { "is" } else { "are" }
        ));
    }
    if ev.meta.target.starts_with("mock") && !ev.faults.is_empty() {
        p.push_str(" These results come from the aci-chaos mock: the losses follow the loss hypothesis each fault carried, stated below. They show what the harness detects, not what Azure does.");
    }
    (title, p)
}

/// The check where each (scenario, iteration, channel) first lost its secret.
pub fn first_losses(rows: &[CheckRow]) -> Vec<&CheckRow> {
    let mut seen = std::collections::BTreeSet::new();
    rows.iter()
        .filter(|r| r.verdict == Verdict::Lost && seen.insert((r.scenario.as_str(), r.iteration, r.group.as_str(), r.channel.as_str())))
        .collect()
}

fn hypotheses(ev: &Evidence) -> String {
    let mut seen: Vec<String> = Vec::new();
    for f in &ev.faults {
        let h = f
            .hypothesis
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().map(String::from).unwrap_or_else(|| format!("with p={v}"))))
            .collect::<Vec<_>>();
        let line = format!("{}: {}", f.kind, if h.is_empty() { "all channels kept".into() } else { h.join(", ") + ", others kept" });
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    seen.join("; ")
}

fn details_table(rows: &[CheckRow]) -> String {
    let mut t = String::from(
        "| scenario | iter | step | channel | verdict | expected | observed | reason | ARM before → after | host before → after |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | `{}` | `{}` | {} | {} | {} |",
            esc(&r.scenario),
            r.iteration,
            esc(&r.step),
            r.channel,
            r.verdict,
            r.expected_fp,
            if r.observed_fp.is_empty() { "–" } else { &r.observed_fp },
            esc(&r.reason),
            esc(&format!(
                "{}/{} → {}/{}",
                r.arm_before.provisioning_state, r.arm_before.container_state, r.arm_after.provisioning_state, r.arm_after.container_state
            )),
            esc(&format!("{} → {}", or_unknown(&r.placement_before.host), or_unknown(&r.placement_after.host))),
        );
    }
    t
}

/// Renders the report.
pub fn render(ev: &Evidence) -> String {
    let m = &ev.meta;
    let (title, para) = finding(ev);
    let mut out = String::new();
    let _ = writeln!(out, "# aci-chaos: {title}\n");
    let _ = writeln!(out, "**Finding.** {para}\n");
    let _ = writeln!(out, "## Environment\n\n| | |\n|---|---|");
    let _ = writeln!(out, "| target | {} |", esc(&m.target));
    let _ = writeln!(out, "| region | {} |", esc(&m.region));
    let _ = writeln!(out, "| api-version | {} |", esc(&m.api_version));
    let _ = writeln!(
        out,
        "| tool | aci-chaos {}{} |",
        esc(&m.tool_version),
        m.git_commit.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
    );
    let _ = writeln!(out, "| run id | {} |", esc(&m.run_id));
    let _ = writeln!(out, "| seed | {} |", m.seed);
    let _ = writeln!(out, "| suites | {} |", esc(&m.suites.join(", ")));
    let _ = writeln!(out, "| started | {} |", esc(&m.started));
    if let Some(e) = &ev.end {
        let _ = writeln!(out, "| finished | {} |", esc(&e.finished));
        let _ = writeln!(out, "| cleanup | {} |", esc(&e.cleanup));
        if let Some(err) = &e.error {
            let _ = writeln!(out, "| stopped early | {} |", esc(err));
        }
    } else {
        let _ = writeln!(out, "| finished | no (the run was interrupted; this report covers what it saw) |");
    }
    let _ = writeln!(out, "| ARM calls | {} ({} failed) |", ev.arm_calls.0, ev.arm_calls.1);
    if !ev.faults.is_empty() {
        let _ =
            writeln!(out, "| loss hypothesis (mock) | {} — a hypothesis under test, not an observation of Azure |", esc(&hypotheses(ev)));
    }
    let s = ev.summary();
    let _ = writeln!(out, "\n## Summary\n");
    let _ = writeln!(out, "| scenario | {} |", s.channels.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(s.channels.len()));
    for (name, counts) in &s.scenarios {
        let _ = writeln!(out, "| {} | {} |", esc(name), counts.iter().map(|c| c.cell()).collect::<Vec<_>>().join(" | "));
    }
    let losses = first_losses(&ev.rows);
    if !losses.is_empty() {
        let _ = writeln!(out, "\n## Losses, and what ARM showed\n");
        let _ = writeln!(
            out,
            "ARM never returns secure values, so it cannot show a loss. These are its views before and after the step where each loss first appeared.\n"
        );
        let _ = writeln!(
            out,
            "| group | step | channel | provisioning | group state | container state | restarts | env entries unchanged | host → host |\n|---|---|---|---|---|---|---|---|---|"
        );
        for r in &losses {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} → {} | {} → {} | {} → {} | {} → {} | {} | {} → {} |",
                esc(&r.group),
                esc(&r.step),
                r.channel,
                r.arm_before.provisioning_state,
                r.arm_after.provisioning_state,
                r.arm_before.group_state,
                r.arm_after.group_state,
                esc(&r.arm_before.container_state),
                esc(&r.arm_after.container_state),
                r.arm_before.restart_count.map(|n| n.to_string()).unwrap_or_default(),
                r.arm_after.restart_count.map(|n| n.to_string()).unwrap_or_default(),
                if r.arm_before.env_entries == r.arm_after.env_entries { "yes" } else { "no" },
                esc(or_unknown(&r.placement_before.host)),
                esc(or_unknown(&r.placement_after.host)),
            );
        }
    }
    let _ = writeln!(out, "\n## Reproduce\n\n```sh\n{}\n```\n", m.reproduce);
    let head_len = out.len();
    let table = details_table(&ev.rows);
    let footer = "\nThe full evidence is in `evidence.csv` and `history.jsonl` beside this report.\n";
    let details = format!("<details><summary>All {} checks</summary>\n\n{table}\n</details>\n", ev.rows.len());
    if head_len + details.len() + footer.len() <= GITHUB_COMMENT_LIMIT {
        out.push_str(&details);
    } else {
        let budget = GITHUB_COMMENT_LIMIT.saturating_sub(head_len + footer.len() + 400);
        let mut lines = table.lines();
        let mut t = String::new();
        let mut shown = 0usize;
        for l in lines.by_ref() {
            if t.len() + l.len() + 1 > budget {
                break;
            }
            t.push_str(l);
            t.push('\n');
            shown += 1;
        }
        let shown = shown.saturating_sub(2);
        let _ = write!(
            out,
            "<details><summary>First {shown} of {} checks (trimmed to fit GitHub's comment limit; all are in evidence.csv)</summary>\n\n{t}\n</details>\n",
            ev.rows.len()
        );
    }
    out.push_str(footer);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::*;

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
            time: "2026-01-01T00:00:00Z".into(),
            zone: "any".into(),
            profile: "probe".into(),
            hypothesis: String::new(),
            arm_before: ArmView::default(),
            arm_after: ArmView::default(),
            placement_before: PlacementView::default(),
            placement_after: PlacementView::default(),
        }
    }

    pub(crate) fn evidence(rows: Vec<CheckRow>) -> Evidence {
        Evidence {
            meta: RunMeta {
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
            },
            rows,
            faults: vec![],
            end: None,
            arm_calls: (0, 0),
        }
    }

    #[test]
    fn finding_counts_losses_and_unchanged_arm_views() {
        let ev = evidence(vec![
            row("rehost", "secure-env", Verdict::Lost),
            row("rehost", "plain-env", Verdict::Survived),
            row("restart", "secure-env", Verdict::Survived),
        ]);
        let (title, p) = finding(&ev);
        assert_eq!(title, "secure-env lost in 1 of 2 runs");
        assert!(p.contains("`secure-env` was lost in 1 of 2 scenario runs (after `rehost`)"), "{p}");
        assert!(p.contains("`plain-env` survived every check"), "{p}");
        assert!(p.contains("unchanged in 1 of 1 loss"), "{p}");
    }

    #[test]
    fn a_huge_run_stays_under_the_comment_limit() {
        let rows: Vec<CheckRow> = (0..5000).map(|i| row(&format!("s{}", i % 7), "secure-env", Verdict::Survived)).collect();
        let md = render(&evidence(rows));
        assert!(md.len() <= GITHUB_COMMENT_LIMIT, "{}", md.len());
        assert!(md.contains("trimmed to fit"));
    }
}
