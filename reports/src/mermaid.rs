//! The timeline of losses and placement changes as a mermaid `timeline` diagram (GitHub renders
//! ```` ```mermaid ```` blocks), and a small grammar check for it.

use crate::model::Verdict;
use crate::summary::Evidence;
use crate::time_fmt::since;
use std::collections::{BTreeMap, BTreeSet};

/// One event on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Index of the run in [`Evidence::runs`].
    pub run: usize,
    /// Section: the run (when several) and the group.
    pub section: String,
    /// Target time (RFC 3339), for ordering.
    pub time: String,
    /// `t+…` since the run started.
    pub period: String,
    /// What happened.
    pub text: String,
}

/// A fault's hypothesis as words, channels in the report's order: `secure-env lost`,
/// `plain-env kept`, `secret-volume lost with p=0.3`.
pub fn hypothesis_words(h: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    let rank = |c: &str| crate::summary::CHANNEL_ORDER.iter().position(|x| *x == c).unwrap_or(usize::MAX);
    let mut items: Vec<(&String, &serde_json::Value)> = h.iter().collect();
    items.sort_by_key(|(k, _)| rank(k));
    items.into_iter().map(|(k, v)| format!("{k} {}", v.as_str().map(String::from).unwrap_or_else(|| format!("lost with p={v}")))).collect()
}

/// Characters that would end or break an event in mermaid's timeline syntax.
fn clean(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| if c.is_alphanumeric() || " -_.+=()/,'*".contains(c) { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if out.is_empty() { "-".into() } else { out }
}

fn group_of_id(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// The target time, step and channels first lost at one step of one group.
type LossesAt = (String, String, Vec<String>);

/// The events of the evidence: faults the mock fired, placement changes the probe reported,
/// and the check at which each channel was first lost; in target-time order per group.
pub fn events(ev: &Evidence) -> Vec<Event> {
    let multi = ev.runs.len() > 1;
    let section = |run: usize, group: &str| if multi { format!("{} {group}", ev.runs[run].meta.run_id) } else { group.to_string() };
    let mut out: Vec<Event> = Vec::new();
    for (i, run) in ev.runs.iter().enumerate() {
        for f in &run.faults {
            let h = hypothesis_words(&f.hypothesis);
            let text = if h.is_empty() { format!("{} fired", f.kind) } else { format!("{} fired (hypothesis {})", f.kind, h.join(", ")) };
            // When it fired, by the mock's account, unless that runs ahead of the line that
            // recorded it (a clock the harness did not share, under --parallel): a soak reads
            // the fault log only when it records a change, days after some faults fired.
            let fired = crate::time_fmt::parse(&f.fault.at)
                .zip(crate::time_fmt::parse(&f.time))
                .filter(|(at, line)| at <= line)
                .map(|_| f.fault.at.clone())
                .unwrap_or_else(|| f.time.clone());
            out.push(Event {
                run: i,
                section: section(i, group_of_id(&f.target)),
                period: since(&fired, &run.start_time),
                time: fired,
                text,
            });
        }
    }
    let mut moved = BTreeSet::new();
    let mut lost = BTreeSet::new();
    // (run, group, step index) → channels first lost there, with the row's time.
    let mut losses: BTreeMap<(usize, String, u32), LossesAt> = BTreeMap::new();
    for r in &ev.rows {
        let run = &ev.runs[r.run];
        let (hb, ha) = (&r.placement_before.host, &r.placement_after.host);
        if !hb.is_empty() && !ha.is_empty() && r.placement_changed() && moved.insert((r.run, r.group.clone(), r.step_index)) {
            let text =
                if hb != ha { format!("moved from {hb} to {ha} after {}", r.step) } else { format!("new boot on {ha} after {}", r.step) };
            out.push(Event {
                run: r.run,
                section: section(r.run, &r.group),
                time: r.time.clone(),
                period: since(&r.time, &run.start_time),
                text,
            });
        }
        if r.verdict == Verdict::Lost && lost.insert((r.run, r.group.clone(), r.channel.clone())) {
            losses
                .entry((r.run, r.group.clone(), r.step_index))
                .or_insert_with(|| (r.time.clone(), r.step.clone(), Vec::new()))
                .2
                .push(r.channel.clone());
        }
    }
    for ((run, group, _), (time, step, channels)) in losses {
        let text = format!("{} lost after {step}", channels.join(", "));
        out.push(Event { run, section: section(run, &group), period: since(&time, &ev.runs[run].start_time), time, text });
    }
    // Runs in order; within a run, sections in order of their first event; events by time
    // within each section (stable).
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for e in &out {
        let t = first.entry(e.section.clone()).or_insert_with(|| e.time.clone());
        if e.time < *t {
            *t = e.time.clone();
        }
    }
    out.sort_by(|a, b| (a.run, &first[&a.section], &a.section, &a.time).cmp(&(b.run, &first[&b.section], &b.section, &b.time)));
    out
}

/// The mermaid source for up to `max` events (the first ones in order); `None` when there are
/// no events.
pub fn timeline(events: &[Event], max: usize) -> Option<String> {
    if events.is_empty() {
        return None;
    }
    let mut s = String::from("timeline\n    title Losses and placement changes (target time since the run started)\n");
    let mut section = None;
    let mut period: Option<&str> = None;
    for e in events.iter().take(max) {
        if section != Some(&e.section) {
            s.push_str(&format!("    section {}\n", clean(&e.section)));
            section = Some(&e.section);
            period = None;
        }
        if period == Some(e.period.as_str()) {
            s.push_str(&format!("        : {}\n", clean(&e.text)));
        } else {
            s.push_str(&format!("        {} : {}\n", clean(&e.period), clean(&e.text)));
            period = Some(&e.period);
        }
    }
    Some(s)
}

/// Checks mermaid `timeline` source against the subset of the grammar this crate writes: a
/// `timeline` header, at most one `title` before anything else, `section` lines, and event
/// lines `period : event [: event…]` or continuations `: event`, every part non-empty and free
/// of characters that break the syntax (`:`, `#`, `;`, `%`, `<`, `>`, `{`, `}`). Returns the
/// number of events, or the 1-based line and what was wrong.
pub fn check_timeline(src: &str) -> Result<usize, String> {
    let mut lines = src.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, l)) if l.trim() == "timeline" => {}
        other => return Err(format!("line {}: expected `timeline`", other.map(|(i, _)| i + 1).unwrap_or(1))),
    }
    let bad = |s: &str| s.chars().find(|c| ":#;%<>{}".contains(*c));
    let (mut events, mut seen_title, mut seen_other, mut has_period) = (0, false, false, false);
    for (i, l) in lines {
        let n = i + 1;
        let t = l.trim();
        if let Some(title) = t.strip_prefix("title ") {
            if seen_title || seen_other {
                return Err(format!("line {n}: `title` must come once, right after `timeline`"));
            }
            if let Some(c) = bad(title) {
                return Err(format!("line {n}: `{c}` in the title"));
            }
            seen_title = true;
            continue;
        }
        seen_other = true;
        if let Some(name) = t.strip_prefix("section ") {
            if name.trim().is_empty() || bad(name).is_some() {
                return Err(format!("line {n}: expected `section NAME` without `:#;%<>{{}}`"));
            }
            has_period = false;
            continue;
        }
        let parts: Vec<&str> = t.split(':').map(str::trim).collect();
        if parts.len() < 2 {
            return Err(format!("line {n}: expected `period : event`, `: event`, `section NAME` or `title TEXT`, found `{t}`"));
        }
        if parts[0].is_empty() && !has_period {
            return Err(format!("line {n}: a continuation `: event` needs a period line before it"));
        }
        if let Some(p) = parts.iter().skip(1).position(|p| p.is_empty() || bad(p).is_some()) {
            return Err(format!("line {n}: event {} is empty or holds one of `#;%<>{{}}`", p + 1));
        }
        if bad(parts[0]).is_some() {
            return Err(format!("line {n}: the period holds one of `#;%<>{{}}`"));
        }
        has_period = true;
        events += parts.len() - 1;
    }
    if events == 0 {
        return Err("the timeline has no event".into());
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_check_accepts_what_we_write_and_rejects_breakage() {
        let ev = vec![
            Event {
                run: 0,
                section: "acc-1".into(),
                time: "a".into(),
                period: "t+5s".into(),
                text: "rehost fired (hypothesis secure-env lost)".into(),
            },
            Event { run: 0, section: "acc-1".into(), time: "a".into(), period: "t+5s".into(), text: "moved from h:1 to h#2".into() },
        ];
        let src = timeline(&ev, 10).unwrap();
        assert_eq!(check_timeline(&src), Ok(2), "{src}");
        assert!(check_timeline("timeline\n    x : \n").is_err());
        assert!(check_timeline("graph TD\n").is_err());
        assert!(check_timeline("timeline\n    : orphan\n").is_err());
        assert!(check_timeline("timeline\n  t+1s : a # b\n").is_err());
        assert!(timeline(&[], 10).is_none());
    }

    #[test]
    fn a_fault_is_placed_when_it_fired_not_when_the_run_read_it() {
        let mut ev = crate::markdown::tests::evidence(vec![]);
        let fault = |at: &str| crate::model::FaultEvent {
            kind: "rehost".into(),
            target: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g".into(),
            at: at.into(),
            hypothesis: Default::default(),
            outcome: Default::default(),
        };
        // Read at day 49, fired at day 29; and one whose account runs ahead of the line.
        ev.runs[0].faults.push(crate::summary::SeenFault { time: "2026-02-19T00:00:00Z".into(), fault: fault("2026-01-30T00:00:00Z") });
        ev.runs[0].faults.push(crate::summary::SeenFault { time: "2026-01-01T00:00:05Z".into(), fault: fault("2026-01-01T00:00:09Z") });
        let e = events(&ev);
        let periods: Vec<&str> = e.iter().map(|e| e.period.as_str()).collect();
        assert_eq!(periods, ["t+5s", "t+29d00h"], "{e:?}");
    }
}
