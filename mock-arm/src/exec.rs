//! Container `exec` and `attach`: the sessions ARM hands out and the websocket the mock serves.
//!
//! `POST …/containers/{c}/exec` answers `{"webSocketUri","password"}` (as ACI does); the client
//! opens the websocket, sends the password as its first text frame, and then:
//!
//! - for a one-shot command (`printenv NAME`, `env`, `cat PATH`, `echo …`, `sh -c '…'`), the mock
//!   runs it against the container's *runtime* environment (the one a fault can take from, not
//!   the stored spec), sends the output and closes;
//! - for a bare shell (`/bin/sh`, `/bin/bash`, what the Azure CLI sends), every line of stdin the
//!   client sends (text or binary frames) is run the same way until `exit` or the client closes.
//!
//! `attach` streams the container's current output and closes. A wrong password closes the
//! socket with code 1008 and reason `authentication failed`. Exec output is never logged.
//!
//! The shell is a small interpreter, not a shell: words, quotes, `$VAR` / `${VAR}` expansion,
//! `;`, `&&` and newlines between commands, and the commands above plus `hostname`, `true`,
//! `false`, `exit`. A script that prints the probe's `aci-chaos-probe` line (the harness's
//! fingerprint command, `harness/src/template.rs`) is answered with the probe line computed
//! from the runtime environment, exactly as the real script would print it.

use crate::probe::{self, Profile};
use crate::shared::Resettable;
use std::collections::BTreeMap;

/// What a session was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// `exec`: run a command.
    Exec,
    /// `attach`: stream the container's output.
    Attach,
}

/// An exec or attach session waiting for its websocket.
#[derive(Clone)]
pub struct Session {
    /// Exec or attach.
    pub kind: SessionKind,
    /// The password the first frame must carry.
    password: String,
    /// Subscription of the group.
    pub subscription: String,
    /// Resource group of the group.
    pub resource_group: String,
    /// Group name.
    pub group: String,
    /// Container name.
    pub container: String,
    /// The command line (exec only).
    pub command: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("kind", &self.kind)
            .field("password", &"***")
            .field("group", &self.group)
            .field("container", &self.container)
            .finish()
    }
}

impl Session {
    /// Whether `candidate` is this session's password (constant-time over the longer length).
    pub fn password_matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.password.as_bytes(), candidate.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
        }
        diff == 0
    }
}

/// The most sessions kept waiting for their websocket (oldest dropped first).
pub const SESSION_LIMIT: usize = 1024;

/// Sessions handed out and not used yet.
#[derive(Debug, Default)]
pub struct Sessions {
    map: BTreeMap<u64, Session>,
    next: u64,
}

impl Sessions {
    /// Opens a session; returns its id and password.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        kind: SessionKind,
        subscription: &str,
        resource_group: &str,
        group: &str,
        container: &str,
        command: &str,
    ) -> (String, String) {
        use rand::Rng;
        let password = hex::encode(rand::rng().random::<[u8; 16]>());
        // Unguessable ids too, so sessions of one client cannot be probed by another.
        let salt = hex::encode(rand::rng().random::<[u8; 8]>());
        self.next += 1;
        let n = self.next;
        if self.map.len() >= SESSION_LIMIT
            && let Some(oldest) = self.map.keys().next().copied()
        {
            self.map.remove(&oldest);
        }
        self.map.insert(
            n,
            Session {
                kind,
                password: password.clone(),
                subscription: subscription.into(),
                resource_group: resource_group.into(),
                group: group.into(),
                container: container.into(),
                command: command.into(),
            },
        );
        (format!("{n}-{salt}"), password)
    }

    /// Takes a session by id (each session serves one websocket).
    pub fn take(&mut self, id: &str) -> Option<Session> {
        let n: u64 = id.split_once('-').map(|(n, _)| n).unwrap_or(id).parse().ok()?;
        self.map.remove(&n)
    }

    /// How many sessions wait.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Resettable for Sessions {
    fn part_name(&self) -> &'static str {
        "exec-sessions"
    }
    fn reset(&mut self) {
        self.map.clear();
    }
}

/// What a command runs against: a container's runtime environment and placement.
#[derive(Debug, Clone, Default)]
pub struct ExecContext {
    /// The container's profile.
    pub profile: Option<Profile>,
    /// Runtime environment variables.
    pub env: BTreeMap<String, String>,
    /// Files (path → contents).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Boot id of the placement.
    pub boot: String,
    /// Host name.
    pub host: String,
}

impl ExecContext {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "HOSTNAME" if !self.env.contains_key("HOSTNAME") => Some(self.host.clone()),
            "HOME" if !self.env.contains_key("HOME") => Some("/root".into()),
            "PATH" if !self.env.contains_key("PATH") => Some(DEFAULT_PATH.into()),
            _ => self.env.get(name).cloned(),
        }
    }

    fn full_env(&self) -> BTreeMap<String, String> {
        let mut all = self.env.clone();
        all.entry("HOSTNAME".into()).or_insert_with(|| self.host.clone());
        all.entry("HOME".into()).or_insert_with(|| "/root".into());
        all.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
        all
    }

    fn file(&self, path: &str) -> Option<Vec<u8>> {
        if path == "/proc/sys/kernel/random/boot_id" {
            return Some(format!("{}\n", self.boot).into_bytes());
        }
        if path == "/etc/hostname" {
            return Some(format!("{}\n", self.host).into_bytes());
        }
        self.files.get(path).cloned()
    }
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The result of running a command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// What it printed (stdout and stderr, in order, as a terminal shows them).
    pub text: Vec<u8>,
    /// Its exit code.
    pub code: i32,
    /// Whether it asked the shell to exit.
    pub exit: bool,
}

/// Whether a command line starts an interactive shell (no `-c`).
pub fn is_interactive_shell(command: &str) -> bool {
    let words = split_words(command, &ExecContext::default());
    matches!(words.as_slice(), [sh] if is_shell(sh))
}

fn is_shell(w: &str) -> bool {
    matches!(w, "sh" | "/bin/sh" | "bash" | "/bin/bash" | "ash" | "/bin/ash" | "/usr/bin/bash")
}

/// Runs one command line (or script) against a container's runtime environment.
pub fn run(script: &str, ctx: &ExecContext) -> Output {
    if script.contains("aci-chaos-probe") {
        // The probe's own fingerprint script: answer what it would print, from the runtime env.
        let profile = ctx.profile.unwrap_or_else(|| Profile::from_env(&ctx.env));
        let line = probe::probe_line(profile, &ctx.env, &ctx.files, &ctx.boot, &ctx.host);
        return Output { text: format!("{line}\n").into_bytes(), code: 0, exit: false };
    }
    let mut out = Output::default();
    for (cmd, sep) in split_commands(script) {
        if sep == Sep::And && out.code != 0 {
            continue;
        }
        let r = run_simple(&split_words(&cmd, ctx), ctx);
        out.text.extend_from_slice(&r.text);
        out.code = r.code;
        if r.exit {
            out.exit = true;
            break;
        }
    }
    out
}

fn run_simple(words: &[String], ctx: &ExecContext) -> Output {
    let ok = |text: String| Output { text: text.into_bytes(), code: 0, exit: false };
    let fail = |text: String, code: i32| Output { text: text.into_bytes(), code, exit: false };
    let Some((cmd, args)) = words.split_first() else { return Output::default() };
    let base = cmd.rsplit('/').next().unwrap_or(cmd);
    match base {
        "sh" | "bash" | "ash" => match args {
            [flag, script, ..] if flag == "-c" => run(script, ctx),
            _ => Output::default(),
        },
        "busybox" => run_simple(args, ctx),
        "printenv" | "env" if args.is_empty() => ok(ctx.full_env().iter().map(|(k, v)| format!("{k}={v}\n")).collect()),
        "printenv" => {
            let mut text = String::new();
            let mut code = 0;
            for a in args {
                match ctx.var(a) {
                    Some(v) => text.push_str(&format!("{v}\n")),
                    None => code = 1,
                }
            }
            fail(text, code)
        }
        "env" => run_simple(args, ctx),
        "echo" => {
            let (newline, args) = match args.first() {
                Some(f) if f == "-n" => (false, &args[1..]),
                _ => (true, args),
            };
            ok(format!("{}{}", args.join(" "), if newline { "\n" } else { "" }))
        }
        "cat" => {
            let mut text = Vec::new();
            let mut code = 0;
            for p in args {
                match ctx.file(p) {
                    Some(c) => text.extend_from_slice(&c),
                    None => {
                        text.extend_from_slice(format!("cat: can't open '{p}': No such file or directory\n").as_bytes());
                        code = 1;
                    }
                }
            }
            Output { text, code, exit: false }
        }
        "hostname" => ok(format!("{}\n", ctx.host)),
        "true" | ":" => ok(String::new()),
        "false" => fail(String::new(), 1),
        "exit" => Output { text: Vec::new(), code: args.first().and_then(|a| a.parse().ok()).unwrap_or(0), exit: true },
        _ => fail(format!("sh: {cmd}: not found\n"), 127),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Start,
    Seq,
    And,
}

/// Splits a script into commands at `;`, `&&` and newlines outside quotes.
fn split_commands(script: &str) -> Vec<(String, Sep)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut sep = Sep::Start;
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, ';' | '\n') => {
                out.push((std::mem::take(&mut cur), sep));
                sep = Sep::Seq;
            }
            (None, '&') if chars.peek() == Some(&'&') => {
                chars.next();
                out.push((std::mem::take(&mut cur), sep));
                sep = Sep::And;
            }
            (None, c) => cur.push(c),
        }
    }
    out.push((cur, sep));
    out.into_iter().filter(|(c, _)| !c.trim().is_empty()).collect()
}

/// Splits a command into words: quotes, backslashes, and `$VAR`/`${VAR}` expansion outside single
/// quotes.
pub fn split_words(cmd: &str, ctx: &ExecContext) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = cmd.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (_, '\\') if i < chars.len() => {
                cur.push(chars[i]);
                i += 1;
                in_word = true;
            }
            (_, '$') if i < chars.len() && (chars[i] == '{' || chars[i] == '_' || chars[i].is_ascii_alphabetic()) => {
                let name: String = if chars[i] == '{' {
                    let end = chars[i..].iter().position(|&c| c == '}').map(|p| p + i).unwrap_or(chars.len());
                    let n: String = chars[i + 1..end].iter().collect();
                    i = (end + 1).min(chars.len());
                    n
                } else {
                    let start = i;
                    while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                        i += 1;
                    }
                    chars[start..i].iter().collect()
                };
                cur.push_str(&ctx.var(&name).unwrap_or_default());
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ExecContext {
        ExecContext {
            profile: Some(Profile::Probe),
            env: [("ACI_CHAOS_SECURE_ENV", "s3cret"), ("PLAIN", "hello world"), ("ACI_CHAOS_CHANNELS", "secure-env,secret-volume")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: [("/mnt/aci-chaos/secret".to_string(), b"vol".to_vec())].into(),
            boot: "b00t".into(),
            host: "host-z1-0001".into(),
        }
    }

    fn text(o: Output) -> String {
        String::from_utf8(o.text).unwrap()
    }

    #[test]
    fn simple_commands_read_the_runtime_environment() {
        let c = ctx();
        assert_eq!(text(run("printenv PLAIN", &c)), "hello world\n");
        assert_eq!(run("printenv MISSING", &c).code, 1);
        assert!(text(run("env", &c)).contains("ACI_CHAOS_SECURE_ENV=s3cret\nHOME=/root\nHOSTNAME=host-z1-0001\n"));
        assert_eq!(text(run("cat /mnt/aci-chaos/secret", &c)), "vol");
        assert_eq!(text(run("cat /nope", &c)), "cat: can't open '/nope': No such file or directory\n");
        assert_eq!(text(run("echo \"$PLAIN\" '$PLAIN' ${PLAIN}x", &c)), "hello world $PLAIN hello worldx\n");
        assert_eq!(text(run("/bin/sh -c 'echo a; echo b && false && echo no; hostname'", &c)), "a\nb\nhost-z1-0001\n");
        assert_eq!(run("frobnicate", &c).code, 127);
        assert!(run("exit 3", &c).exit);
    }

    #[test]
    fn the_probe_script_gets_the_probe_line_from_the_runtime_env() {
        let mut c = ctx();
        let script = format!("/bin/sh -c '{}'", "l=\"aci-chaos-probe v=1 boot=$(cat /proc/sys/kernel/random/boot_id)\"; echo $l");
        let expected = format!(
            "aci-chaos-probe v=1 boot=b00t host=host-z1-0001 secure-env={} secret-volume={}\n",
            probe::fingerprint(b"s3cret"),
            probe::fingerprint(b"vol")
        );
        assert_eq!(text(run(&script, &c)), expected);
        c.env.insert("ACI_CHAOS_SECURE_ENV".into(), String::new());
        assert!(text(run(&script, &c)).contains("secure-env=MISSING"));
    }

    #[test]
    fn sessions_are_single_use_and_check_passwords() {
        let mut s = Sessions::default();
        let (id, pw) = s.open(SessionKind::Exec, "s", "rg", "g", "c", "env");
        let sess = s.take(&id).unwrap();
        assert!(sess.password_matches(&pw));
        assert!(!sess.password_matches("wrong"));
        assert!(!format!("{sess:?}").contains(&pw));
        assert!(s.take(&id).is_none());
        assert!(is_interactive_shell("/bin/sh") && !is_interactive_shell("/bin/sh -c 'env'"));
    }
}
