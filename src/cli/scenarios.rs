//! `aci-chaos scenarios list | show NAME | validate FILE…`.

use super::Failure;
use super::args::ScenariosCommand;
use aci_chaos_harness::suite::{Step, Suite};
use anyhow::anyhow;
use std::path::{Path, PathBuf};

/// Runs a `scenarios` subcommand; returns the exit code.
pub fn command(cmd: ScenariosCommand) -> Result<u8, Failure> {
    match cmd {
        ScenariosCommand::List { dir } => {
            for (file, suite) in load_dir(&dir)? {
                match suite {
                    Ok(s) => {
                        println!("{} ({})  {}", s.name, file.display(), s.description);
                        for sc in &s.scenarios {
                            println!("  {:<24} {}", sc.name, sc.description);
                        }
                    }
                    Err(e) => println!("{}: invalid: {e}", file.display()),
                }
            }
            Ok(0)
        }
        ScenariosCommand::Show { name, dir } => {
            let p = Path::new(&name);
            let suites: Vec<Suite> = if p.is_file() {
                vec![Suite::load(p).map_err(Failure::usage)?]
            } else {
                load_dir(&dir)?.into_iter().filter_map(|(_, s)| s.ok()).collect()
            };
            if let Some(s) = suites.iter().find(|s| s.name == name || p.is_file()) {
                print_suite(s);
                return Ok(0);
            }
            for s in &suites {
                if let Some(sc) = s.scenarios.iter().find(|sc| sc.name == name) {
                    println!("{} (suite {}, {})", sc.name, s.name, s.file.display());
                    print_scenario(sc);
                    return Ok(0);
                }
            }
            let known: Vec<&str> = suites
                .iter()
                .map(|s| s.name.as_str())
                .chain(suites.iter().flat_map(|s| s.scenarios.iter().map(|c| c.name.as_str())))
                .collect();
            Err(Failure::usage(anyhow!(
                "no suite or scenario named `{name}` in {}{}",
                dir.display(),
                aci_chaos_harness::suite::suggest(&name, &known)
            )))
        }
        ScenariosCommand::Validate { files } => {
            let mut bad = 0;
            for f in &files {
                match Suite::load(f).map_err(anyhow::Error::from).and_then(|s| check_mock_faults(&s).map(|_| s)) {
                    Ok(s) => println!("ok: {} (suite {}, {} scenarios)", f.display(), s.name, s.scenarios.len()),
                    Err(e) => {
                        bad += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(if bad > 0 { 2 } else { 0 })
        }
    }
}

/// Checks a suite's `[[mock-fault]]` tables the way the mock will (the harness knows nothing of
/// the mock's fault format; the CLI knows both), so a bad one is refused before anything runs,
/// naming the table's line.
pub fn check_mock_faults(suite: &Suite) -> anyhow::Result<()> {
    if suite.mock_faults.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&suite.file).unwrap_or_default();
    let line_of = |i: usize| {
        text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with("[[mock-fault]]")).nth(i).map(|(n, _)| n + 1).unwrap_or(1)
    };
    for (i, f) in suite.mock_faults.iter().enumerate() {
        let spec: mock_arm::faults::FaultSpec =
            serde_json::from_value(f.clone()).map_err(|e| anyhow!("{}:{}:1: mock-fault[{i}]: {e}", suite.file.display(), line_of(i)))?;
        let plan = mock_arm::faults::FaultPlan { fault: vec![spec], control: vec![] };
        plan.validate().map_err(|e| {
            anyhow!("{}:{}:1: mock-fault[{i}]: {}", suite.file.display(), line_of(i), e.message.trim_start_matches("fault[0]: "))
        })?;
    }
    Ok(())
}

/// Each suite file of a folder, with the suite or why it is invalid.
type Loaded = Vec<(PathBuf, Result<Suite, aci_chaos_harness::HarnessError>)>;

fn load_dir(dir: &Path) -> Result<Loaded, Failure> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Failure::usage(anyhow!("{}: {e} (hint: run from the project folder, or pass --dir)", dir.display())))?;
    let mut files: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|f| {
            let s = Suite::load(&f);
            (f, s)
        })
        .collect())
}

fn print_suite(s: &Suite) {
    println!("suite {} ({})", s.name, s.file.display());
    if !s.description.is_empty() {
        println!("  {}", s.description);
    }
    for f in &s.mock_faults {
        println!("  mock fault: {f}");
    }
    for sc in &s.scenarios {
        println!();
        println!("{}", sc.name);
        print_scenario(sc);
    }
}

fn print_scenario(sc: &aci_chaos_harness::suite::Scenario) {
    if !sc.description.is_empty() {
        println!("  {}", sc.description);
    }
    println!("  iterations: {}, pass: {}", sc.iterations, sc.pass.as_str());
    for (i, g) in sc.groups.iter().enumerate() {
        let ch = g.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        let zones = if g.zones.is_empty() { "any zone".to_string() } else { format!("zone {}", g.zones.join(",")) };
        println!("  group {}: {} [{ch}], restart policy {}, {zones}", i + 1, g.profile.as_str(), g.restart_policy.as_str());
    }
    if !sc.expect.is_empty() {
        println!("  expect: {}", sc.expect.iter().map(|(c, v)| format!("{c} {v}")).collect::<Vec<_>>().join(", "));
    }
    println!("  steps: deploy{}", sc.steps.iter().map(|s: &Step| format!(" → {}", s.name())).collect::<String>());
}
