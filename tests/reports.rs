//! End to end: the reports a run writes (report.md, evidence.csv, junit.xml, history.jsonl),
//! `aci-chaos report render` and `aci-chaos report merge`, through the CLI against the embedded
//! mock.

use aci_chaos_harness::channel::Channel;
use aci_chaos_harness::secret::derive;
use aci_chaos_reports::csv_out::COLUMNS;
use aci_chaos_reports::markdown::GITHUB_COMMENT_LIMIT;
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The suite the snapshots are taken from (not the default suite, which others edit).
const SUITE: &str = "tests/fixtures/reports-suite.toml";
/// The embedded mock's subscription and tenant (mock-arm's defaults).
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000c0de";
const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
const FILES: [&str; 4] = ["history.jsonl", "evidence.csv", "report.md", "junit.xml"];

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aci-chaos")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().expect("the CLI runs")
}

fn ok(o: &Output) -> String {
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "exit {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status);
    out.to_string()
}

/// Runs `suite` with `seed` into `dir`.
fn run_suite(suite: &str, seed: u64, dir: &Path, extra: &[&str]) {
    let seed = seed.to_string();
    let mut args = vec!["run", suite, "--seed", &seed, "--out", dir.to_str().unwrap()];
    args.extend(extra);
    ok(&run(&args));
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

/// Replaces what changes from run to run whatever the seed: wall-clock times (RFC 3339 with a
/// fraction of a second; the mock's virtual times have none) and the git commit.
fn normalise(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    while i < b.len() {
        // YYYY-MM-DDTHH:MM:SS.f+Z
        if i + 21 <= b.len()
            && digits(&b[i..i + 4])
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && b[i + 13] == b':'
            && b[i + 19] == b'.'
            && b[i + 20].is_ascii_digit()
        {
            let mut j = i + 20;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j < b.len() && b[j] == b'Z' {
                out.push_str("[wall]");
                i = j + 1;
                continue;
            }
        }
        if text[i..].starts_with("(commit ") {
            let end = text[i..].find(')').map(|e| i + e + 1).unwrap_or(b.len());
            out.push_str("(commit [git])");
            i = end;
            continue;
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Cells of a markdown table line, split on unescaped `|`.
fn cells(line: &str) -> usize {
    let t = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut n = 1;
    let mut prev = ' ';
    for c in t.chars() {
        if c == '|' && prev != '\\' {
            n += 1;
        }
        prev = c;
    }
    n
}

/// Structural checks of report.md with a markdown parser: every table row (in the source, not
/// the parser's normalised view) has the header's cell count; the mermaid block passes the
/// timeline grammar check; `<details>` blocks are balanced; the size is under GitHub's limit.
fn check_markdown(md: &str) -> usize {
    assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT, "report.md has {} characters", md.chars().count());
    for h in ["# aci-chaos: ", "**Finding.** ", "## Environment", "## Summary", "## Reproduce"] {
        assert!(md.contains(h), "report.md lacks `{h}`");
    }
    assert_eq!(md.matches("<details>").count(), md.matches("</details>").count(), "unbalanced <details>");
    let mut tables = 0;
    let mut mermaid: Option<String> = None;
    let mut in_mermaid = false;
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES).into_offset_iter();
    for (ev, range) in parser {
        match ev {
            Event::Start(Tag::Table(align)) => {
                tables += 1;
                let src = &md[range];
                let lines: Vec<&str> = src.lines().filter(|l| !l.trim().is_empty()).collect();
                assert!(lines.len() >= 2, "a table without a delimiter row: {src}");
                let width = cells(lines[0]);
                assert_eq!(width, align.len(), "header of {src}");
                for l in &lines {
                    assert_eq!(cells(l), width, "row `{l}` does not have the header's {width} cells");
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if lang.as_ref() == "mermaid" => {
                in_mermaid = true;
                mermaid = Some(String::new());
            }
            Event::Text(t) if in_mermaid => mermaid.as_mut().unwrap().push_str(&t),
            Event::End(TagEnd::CodeBlock) => in_mermaid = false,
            _ => {}
        }
    }
    assert!(tables >= 2, "the environment and summary tables parse as tables");
    if let Some(src) = mermaid {
        aci_chaos_reports::mermaid::check_timeline(&src).unwrap_or_else(|e| panic!("mermaid timeline: {e}\n{src}"));
    }
    tables
}

/// evidence.csv parses with the csv crate, with the documented columns on every row.
fn check_csv(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut rd = csv::Reader::from_path(dir.join("evidence.csv")).unwrap();
    let headers: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers, COLUMNS, "documented columns, in order");
    rd.records()
        .map(|r| {
            let r = r.expect("every CSV row parses");
            assert_eq!(r.len(), COLUMNS.len());
            headers.iter().cloned().zip(r.iter().map(String::from)).collect()
        })
        .collect()
}

/// junit.xml parses; one test case per scenario iteration, a failure for each with a loss, a
/// skip for each with an unknown and no loss. Returns (tests, failures, skipped).
fn check_junit(dir: &Path, rows: &[BTreeMap<String, String>]) -> (usize, usize, usize) {
    let xml = read(dir, "junit.xml");
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml is XML");
    let mut iterations: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        iterations.entry((r["run_id"].clone(), r["scenario"].clone(), r["iteration"].clone())).or_default().insert(r["verdict"].clone());
    }
    let failures = iterations.values().filter(|v| v.contains("lost")).count();
    let skipped = iterations.values().filter(|v| !v.contains("lost") && v.contains("unknown")).count();
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), iterations.len(), "one test case per scenario iteration");
    assert_eq!(cases.iter().filter(|c| c.children().any(|x| x.has_tag_name("failure"))).count(), failures);
    assert_eq!(cases.iter().filter(|c| c.children().any(|x| x.has_tag_name("skipped"))).count(), skipped);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some(iterations.len().to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some(failures.to_string().as_str()));
    (iterations.len(), failures, skipped)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in FILES {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

#[test]
fn a_fixed_seed_run_gives_the_snapshotted_reports_well_formed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    run_suite(SUITE, 42, &dir, &[]);
    for f in FILES {
        assert!(dir.join(f).is_file(), "{f} written by every run");
    }
    let md = read(&dir, "report.md");
    check_markdown(&md);
    let rows = check_csv(&dir);
    let (tests, failures, _) = check_junit(&dir, &rows);
    assert_eq!(tests, 5);
    assert!(failures >= 1, "the agent's rehost loses its token");
    assert!(md.contains("```mermaid\ntimeline\n"), "the timeline is drawn");
    assert!(md.contains("hypothesis under test"), "the mock's loss model is stated as a hypothesis");
    assert!(md.contains("aci-chaos run tests/fixtures/reports-suite.toml --seed 42"), "reproduction command");

    insta::assert_snapshot!("report_md", normalise(&md));
    insta::assert_snapshot!("evidence_csv", normalise(&read(&dir, "evidence.csv")));
}

#[test]
fn render_reproduces_a_runs_reports_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, again) = (tmp.path().join("run"), tmp.path().join("again"));
    run_suite(SUITE, 7, &dir, &[]);
    copy_dir(&dir, &again);
    for f in ["report.md", "evidence.csv", "junit.xml"] {
        std::fs::remove_file(again.join(f)).unwrap();
    }
    let out = ok(&run(&["report", "render", again.to_str().unwrap()]));
    assert!(out.contains("rewrote report.md"), "{out}");
    for f in FILES {
        assert!(std::fs::read(dir.join(f)).unwrap() == std::fs::read(again.join(f)).unwrap(), "{f} differs after render");
    }
}

#[test]
fn merge_sums_runs_and_renders_the_same_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, m) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("merged"));
    run_suite(SUITE, 1, &a, &[]);
    run_suite(SUITE, 2, &b, &["-l", "westeurope"]);
    ok(&run(&["report", "merge", a.to_str().unwrap(), b.to_str().unwrap(), "--out", m.to_str().unwrap()]));
    let (ra, rb, rm) = (check_csv(&a), check_csv(&b), check_csv(&m));
    assert_eq!(rm.len(), ra.len() + rb.len(), "every check of both runs");
    let (ta, fa, sa) = check_junit(&a, &ra);
    let (tb, fb, sb) = check_junit(&b, &rb);
    assert_eq!(check_junit(&m, &rm), (ta + tb, fa + fb, sa + sb), "test cases, failures and skips add up");
    let md = read(&m, "report.md");
    check_markdown(&md);
    assert!(md.contains("westeurope") && md.contains("eastus"), "both regions are in the environment");
    assert!(md.contains("By region (scenario runs):"), "a CI matrix across regions is broken down by region");
    assert!(md.contains("--seed 2 -l westeurope"), "each leg's reproduction names its region");
    // The matrix sums the runs: the `all` row counts every iteration of both.
    let regions: BTreeSet<&str> = rm.iter().map(|r| r["region"].as_str()).collect();
    assert_eq!(regions, BTreeSet::from(["eastus", "westeurope"]));
    // The merged folder is a run folder like any other.
    let before: Vec<Vec<u8>> = FILES.iter().map(|f| std::fs::read(m.join(f)).unwrap()).collect();
    ok(&run(&["report", "render", m.to_str().unwrap()]));
    let after: Vec<Vec<u8>> = FILES.iter().map(|f| std::fs::read(m.join(f)).unwrap()).collect();
    assert!(before == after, "render of a merge gives the merge's reports");
    // Nothing is overwritten.
    let o = run(&["report", "merge", a.to_str().unwrap(), "--out", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn no_secret_and_no_subscription_or_tenant_id_appears_in_any_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, open) = (tmp.path().join("run"), tmp.path().join("open"));
    run_suite(SUITE, 4242, &dir, &[]);
    let rows = check_csv(&dir);
    let groups: BTreeSet<String> = rows.iter().map(|r| r["group"].clone()).collect();
    assert!(groups.len() >= 5);
    for f in FILES {
        let text = read(&dir, f);
        assert!(!text.to_lowercase().contains(SUBSCRIPTION), "{f} holds the subscription id");
        assert!(!text.to_lowercase().contains(TENANT), "{f} holds the tenant id");
        for g in &groups {
            for ch in Channel::ALL {
                let s = derive(4242, g, ch);
                assert!(!text.contains(s.expose()), "the secret of {g}/{ch} is in {f}");
            }
        }
    }
    assert!(read(&dir, "report.md").contains(&aci_chaos_reports::redact::mask(SUBSCRIPTION)), "the masked id is shown");
    assert!(read(&dir, "history.jsonl").contains("acc-"), "resource names are kept");

    // --no-redact keeps the ids (and still no secret).
    run_suite(SUITE, 4242, &open, &["--no-redact"]);
    assert!(read(&open, "history.jsonl").contains(SUBSCRIPTION));
    assert!(read(&open, "report.md").contains(SUBSCRIPTION));
    // render masks by default, even a run that kept its ids.
    ok(&run(&["report", "render", open.to_str().unwrap()]));
    assert!(!read(&open, "report.md").contains(SUBSCRIPTION));
}

#[test]
fn bad_input_exits_2_naming_the_file_line_and_what_was_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let o = run(&["report", "render", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing") && err.contains("not a run folder") && err.contains("history.jsonl"), "{err}");

    let dir = tmp.path().join("run");
    run_suite(SUITE, 3, &dir, &[]);
    let history = read(&dir, "history.jsonl");
    let mut lines: Vec<&str> = history.lines().collect();
    lines[2] = "{\"seq\":3,\"phase\":\"maybe\"}";
    std::fs::write(dir.join("history.jsonl"), lines.join("\n")).unwrap();
    let o = run(&["report", "render", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("history.jsonl:3:") && err.contains("expected one JSON object"), "{err}");
    let o = run(&["report", "merge", dir.to_str().unwrap(), "--out", tmp.path().join("m").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!tmp.path().join("m").exists(), "nothing written for bad input");
}

#[test]
fn a_thousand_iterations_still_fit_in_one_github_comment() {
    let tmp = tempfile::tempdir().unwrap();
    let suite: PathBuf = tmp.path().join("thousand.toml");
    std::fs::write(
        &suite,
        "[suite]\nname = \"thousand\"\n\n[[scenario]]\nname = \"rehost\"\niterations = 1000\n\
         group = { profile = \"probe\", channels = [\"secure-env\", \"plain-env\", \"secret-volume\"] }\n\
         steps = [{ kind = \"rehost\", hypothesis = { secure-env = 0.3 } }]\n",
    )
    .unwrap();
    let dir = tmp.path().join("run");
    run_suite(suite.to_str().unwrap(), 1000, &dir, &["--parallel", "8"]);
    let md = read(&dir, "report.md");
    let n = check_markdown(&md);
    assert!(n >= 3);
    let rows = check_csv(&dir);
    assert_eq!(rows.len(), 1000 * 2 * 3, "every check is in the CSV");
    check_junit(&dir, &rows);
    assert!(md.contains("Trimmed to fit GitHub's 65536-character comment limit"), "says it was trimmed");
    assert!(md.contains("`evidence.csv`"), "says where the full CSV is");
    eprintln!("report.md of 1,000 iterations: {} characters", md.chars().count());
}
