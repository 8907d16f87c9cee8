//! Running `cmd` and `exec` functions as child processes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use ayanami_composition::{Function, FunctionKind, Piece, Word};
use nix::unistd::Pid;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::guard::Group;
use crate::{CallError, CallErrorKind};

/// How much of stderr, or of an error's body, an error keeps: its last bytes.
const STDERR_TAIL: usize = 2048;
/// The most a `cmd` or `exec` may write on stdout, or a web service answer
/// with; beyond it the call fails rather than hold an unbounded answer in
/// memory.
pub(crate) const MAX_ANSWER: usize = 64 << 20;

/// Runs the `cmd` or `exec` function `service.function` once with
/// `inputs`, from the project folder `dir`.
///
/// # Errors
///
/// A [`CallError`] when the program cannot start, passes its deadline,
/// exits with an error, or answers with output its kind does not allow.
pub async fn call(
    dir: &Path,
    service: &str,
    function: &Function,
    inputs: &Map<String, Value>,
) -> Result<Map<String, Value>, CallError> {
    let name = check_inputs(service, function, inputs)?;
    match &function.kind {
        FunctionKind::Cmd { argv } => {
            let argv: Vec<String> = argv.iter().map(|word| expand(word, inputs)).collect();
            if argv.iter().any(|word| word.contains('\0')) {
                let detail = "was given an input holding a NUL byte, which no program argument can";
                return Err(CallError::new(&name, CallErrorKind::BadInput, detail));
            }
            let output = run(dir, &name, function, &argv, None).await?;
            let stdout = String::from_utf8(output.stdout).map_err(|_| {
                CallError::new(
                    &name,
                    CallErrorKind::BadOutput,
                    "wrote output that is not valid UTF-8",
                )
            })?;
            let key = function
                .outputs
                .first()
                .cloned()
                .unwrap_or_else(|| "output".to_owned());
            Ok(Map::from_iter([(key, Value::String(stdout))]))
        }
        FunctionKind::Exec { argv } => {
            let stdin = serde_json::to_vec(inputs).expect("a JSON map always serialises");
            let output = run(dir, &name, function, argv, Some(stdin)).await?;
            parse_exec_output(&name, function, &output)
        }
        FunctionKind::Worker { .. } | FunctionKind::Http { .. } | FunctionKind::Outside => {
            Err(CallError::new(
                &name,
                CallErrorKind::Spawn,
                "is not a one-shot program (`cmd` or `exec`)",
            ))
        }
    }
}

/// Checks that every input of `function` is there; returns its full name.
pub(crate) fn check_inputs(
    service: &str,
    function: &Function,
    inputs: &Map<String, Value>,
) -> Result<String, CallError> {
    let name = format!("{service}.{}", function.name);
    match function.inputs.iter().find(|i| !inputs.contains_key(*i)) {
        Some(missing) => Err(CallError::new(
            &name,
            CallErrorKind::BadInput,
            format!("was called without input `{missing}`"),
        )),
        None => Ok(name),
    }
}

/// One template word with its inputs put in; never split, never shell-expanded.
fn expand(word: &Word, inputs: &Map<String, Value>) -> String {
    let mut text = String::new();
    for piece in &word.0 {
        match piece {
            Piece::Text(literal) => text.push_str(literal),
            Piece::Input(name) => match inputs.get(name) {
                Some(Value::String(value)) => text.push_str(value),
                Some(Value::Null) | None => {}
                Some(other) => text.push_str(&other.to_string()),
            },
        }
    }
    text
}

fn parse_exec_output(
    name: &str,
    function: &Function,
    output: &Output,
) -> Result<Map<String, Value>, CallError> {
    outputs_of(&function.outputs, &output.stdout, "stdout").map_err(|detail| {
        CallError::new(name, CallErrorKind::BadOutput, detail).with_stderr(tail(&output.stderr))
    })
}

/// The outputs in `answer`, which must be one JSON object holding each of
/// `outputs`; otherwise what is wrong with it, naming `what` the answer is.
pub(crate) fn outputs_of(
    outputs: &[String],
    answer: &[u8],
    what: &str,
) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_slice(answer)
        .map_err(|error| format!("wrote {what} that is not one JSON object ({error})"))?;
    let Value::Object(answered) = value else {
        return Err("wrote JSON that is not an object; answer with {\"output\": ...}".to_owned());
    };
    if let Some(missing) = outputs.iter().find(|o| !answered.contains_key(*o)) {
        return Err(format!("answered without output `{missing}`"));
    }
    Ok(answered)
}

/// Starts `argv` from `dir` in its own process group, with only `PATH`,
/// `HOME` and `env` in its environment, stdout and stderr piped, and stdin
/// piped when `stdin` says so.
pub(crate) fn spawn(
    dir: &Path,
    name: &str,
    argv: &[String],
    env: &BTreeMap<String, String>,
    stdin: bool,
) -> Result<Child, CallError> {
    let mut command = Command::new(locate(&argv[0], env));
    command
        .args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .envs(std::env::vars_os().filter(|(key, _)| key == "PATH" || key == "HOME"))
        .envs(env)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command.spawn().map_err(|error| {
        let detail = format!("could not start `{}`: {error}", argv[0]);
        CallError::new(name, CallErrorKind::Spawn, detail)
    })
}

/// The program `name` as the child's `PATH` finds it, or `name` as it is
/// when it holds a `/`, is not found, or a relative `PATH` entry comes first
/// (that one is relative to the child's folder).
///
/// The search is made here, once per call in the parent, against the
/// `PATH` the function is given rather than Ayanami's own.
fn locate(name: &str, env: &BTreeMap<String, String>) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    let path = match env.get("PATH") {
        Some(path) => Some(OsString::from(path)),
        None => std::env::var_os("PATH"),
    };
    for folder in std::env::split_paths(&path.unwrap_or_default()) {
        if !folder.is_absolute() {
            break;
        }
        let candidate = folder.join(name);
        let executable = candidate
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return candidate;
        }
    }
    PathBuf::from(name)
}

/// The process group a child made by [`spawn`] leads, which the guard
/// watches until it is dropped, killed.
pub(crate) fn process_group(child: &Child) -> Option<Group> {
    child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(|pid| Group::new(Pid::from_raw(pid)))
}

async fn run(
    dir: &Path,
    name: &str,
    function: &Function,
    argv: &[String],
    stdin: Option<Vec<u8>>,
) -> Result<Output, CallError> {
    let mut child = spawn(dir, name, argv, &function.env, stdin.is_some())?;
    let group = process_group(&child);

    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A program may exit or close stdin before reading it all; that is
        // its business, so a broken pipe here is not an error.
        tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut stdout = tokio::spawn(read_capped(stdout, MAX_ANSWER));
    let stderr = tokio::spawn(read_tail(stderr, STDERR_TAIL));

    let deadline = tokio::time::Instant::now() + function.timeout;
    let mut early = None;
    let waited = loop {
        tokio::select! {
            status = child.wait() => break Ok(status),
            read = &mut stdout, if early.is_none() => match read {
                Ok(Some(bytes)) => early = Some(bytes),
                Ok(None) => break Err(too_large(name)),
                // Only a runtime going down cancels the reader.
                Err(_) => break Err(CallError::new(name, CallErrorKind::Exit, "was stopped with Ayanami")),
            },
            () = tokio::time::sleep_until(deadline) => break Err(CallError::timeout(name, function.timeout)),
        }
    };
    // Whatever the outcome, nothing the call started may outlive it; this
    // also closes the pipes its children may still hold.
    drop(group);
    let status = match waited? {
        Ok(status) => status,
        Err(error) => {
            return Err(CallError::new(
                name,
                CallErrorKind::Spawn,
                format!("could not be waited for: {error}"),
            ));
        }
    };
    let stderr = finish_reading(stderr).await.unwrap_or_default();
    let stdout = match early {
        Some(bytes) => bytes,
        None => match finish_reading(stdout).await {
            Some(Some(bytes)) => bytes,
            Some(None) => return Err(too_large(name)),
            None => {
                return Err(CallError::new(
                    name,
                    CallErrorKind::BadOutput,
                    "left stdout open in a process outside its process group",
                ));
            }
        },
    };
    if !status.success() {
        let mut error =
            CallError::new(name, CallErrorKind::Exit, describe(status)).with_stderr(tail(&stderr));
        error.status = status.code();
        return Err(error);
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn too_large(name: &str) -> CallError {
    let detail = format!(
        "wrote more than {} MiB on stdout and was killed",
        MAX_ANSWER >> 20
    );
    CallError::new(name, CallErrorKind::BadOutput, detail)
}

/// Waits a moment for a reader whose pipe closes once the process group is
/// gone; a process that left the group may hold it open for ever.
async fn finish_reading<T>(reader: tokio::task::JoinHandle<T>) -> Option<T> {
    match tokio::time::timeout(Duration::from_secs(1), reader).await {
        Ok(Ok(read)) => Some(read),
        _ => None,
    }
}

/// Reads all of `pipe`, or `None` as soon as it holds more than `limit` bytes.
async fn read_capped(mut pipe: impl AsyncRead + Unpin, limit: usize) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return Some(bytes),
            Ok(n) if bytes.len() + n > limit => return None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads all of `pipe`, keeping only its last `keep` bytes.
async fn read_tail(mut pipe: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    let mut kept = std::collections::VecDeque::with_capacity(keep);
    let mut chunk = vec![0; 16 * 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept.into(),
            Ok(n) => {
                kept.extend(&chunk[..n]);
                let excess = kept.len().saturating_sub(keep);
                kept.drain(..excess);
            }
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    }
}

/// The last [`STDERR_TAIL`] bytes of `text`, as text.
pub(crate) fn tail(text: &[u8]) -> String {
    let start = text.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use serde_json::json;

    use super::*;

    fn function(kind: FunctionKind, inputs: &[&str], outputs: &[&str]) -> Function {
        Function {
            name: "f".to_owned(),
            kind,
            inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
            outputs: outputs.iter().map(|s| (*s).to_owned()).collect(),
            timeout: Duration::from_secs(5),
            env: BTreeMap::new(),
            concurrency: None,
            span: ayanami_composition::Span::default(),
        }
    }

    fn cmd(words: &[&[Piece]]) -> FunctionKind {
        FunctionKind::Cmd {
            argv: words.iter().map(|w| Word(w.to_vec())).collect(),
        }
    }

    fn exec(script: &str) -> FunctionKind {
        FunctionKind::Exec {
            argv: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
        }
    }

    fn inputs(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn text(t: &str) -> Piece {
        Piece::Text(t.to_owned())
    }

    fn input(n: &str) -> Piece {
        Piece::Input(n.to_owned())
    }

    #[tokio::test]
    async fn cmd_inputs_reach_the_program_as_one_word_each() {
        let f = function(
            cmd(&[
                &[text("printf")],
                &[text("[%s]")],
                &[input("input")],
                &[text("x="), input("n")],
            ]),
            &["input", "n"],
            &["output"],
        );
        let out = call(
            Path::new("."),
            "s",
            &f,
            &inputs(json!({"input": "hi; rm -rf / $HOME 'q'", "n": 3})),
        )
        .await
        .unwrap();
        assert_eq!(out["output"], json!("[hi; rm -rf / $HOME 'q'][x=3]"));
    }

    #[tokio::test]
    async fn a_nul_byte_in_a_cmd_input_is_bad_input() {
        let f = function(cmd(&[&[text("echo")], &[input("input")]]), &["input"], &[]);
        let error = call(Path::new("."), "s", &f, &inputs(json!({"input": "a\0b"})))
            .await
            .unwrap_err();
        assert_eq!(error.kind, CallErrorKind::BadInput);
        assert_eq!(
            error.to_string(),
            "function `s.f` was given an input holding a NUL byte, which no program argument can"
        );
    }

    #[tokio::test]
    async fn exec_reads_json_on_stdin_and_answers_json() {
        let f = function(
            exec("read line; echo \"{\\\"output\\\": $line}\""),
            &["input"],
            &["output"],
        );
        let out = call(Path::new("."), "s", &f, &inputs(json!({"input": "x"})))
            .await
            .unwrap();
        assert_eq!(out["output"], json!({"input": "x"}));
    }

    #[tokio::test]
    async fn a_failing_program_reports_its_code_and_stderr() {
        let f = function(exec("echo broken >&2; exit 3"), &[], &[]);
        let error = call(Path::new("."), "s", &f, &Map::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind, CallErrorKind::Exit);
        assert_eq!(error.status, Some(3));
        assert_eq!(
            error.to_string(),
            "function `s.f` exited with code 3: broken"
        );
    }

    #[tokio::test]
    async fn output_that_is_not_a_json_object_is_an_error() {
        let f = function(exec("echo '[1]'"), &[], &[]);
        let error = call(Path::new("."), "s", &f, &Map::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind, CallErrorKind::BadOutput);
        let f = function(exec("echo '{}'"), &[], &["output"]);
        let error = call(Path::new("."), "s", &f, &Map::new())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "function `s.f` answered without output `output`"
        );
    }

    #[tokio::test]
    async fn output_beyond_the_limit_fails_the_call_without_holding_it() {
        let f = function(exec("head -c 100000000 /dev/zero"), &[], &[]);
        let error = call(Path::new("."), "s", &f, &Map::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind, CallErrorKind::BadOutput);
        assert_eq!(
            error.to_string(),
            "function `s.f` wrote more than 64 MiB on stdout and was killed"
        );
    }

    #[tokio::test]
    async fn several_mib_of_output_and_stderr_arrive_whole() {
        let script = "head -c 3000000 /dev/zero | tr '\\0' a >&2; printf '{\"output\": \"'; head -c 5000000 /dev/zero | tr '\\0' b; printf '\"}'";
        let f = function(exec(script), &[], &["output"]);
        let out = call(Path::new("."), "s", &f, &Map::new()).await.unwrap();
        assert_eq!(out["output"].as_str().map(str::len), Some(5_000_000));
    }

    #[tokio::test]
    async fn a_background_child_holding_stdout_does_not_hold_the_answer() {
        let mut f = function(exec("sleep 30 & echo '{\"output\": 1}'"), &[], &["output"]);
        f.timeout = Duration::from_secs(5);
        let started = Instant::now();
        let out = call(Path::new("."), "s", &f, &Map::new()).await.unwrap();
        assert_eq!(out["output"], json!(1));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn cmd_output_that_is_not_utf8_is_a_clear_error() {
        let f = function(
            cmd(&[&[text("printf")], &[text("\\377\\376")]]),
            &[],
            &["output"],
        );
        let error = call(Path::new("."), "s", &f, &Map::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind, CallErrorKind::BadOutput);
        assert_eq!(
            error.to_string(),
            "function `s.f` wrote output that is not valid UTF-8"
        );
    }

    #[tokio::test]
    async fn programs_that_close_or_never_read_stdin_do_not_deadlock() {
        let big = inputs(json!({"input": "x".repeat(4 << 20)}));
        for script in [
            "exec 0<&-; echo '{\"output\": 1}'",
            "echo '{\"output\": 1}'",
        ] {
            let f = function(exec(script), &["input"], &["output"]);
            let out = call(Path::new("."), "s", &f, &big).await.unwrap();
            assert_eq!(out["output"], json!(1), "{script}");
        }
    }

    #[tokio::test]
    async fn stderr_written_while_stdout_is_read_does_not_deadlock() {
        let script = "printf '{\"output\": \"'; \
            for i in $(seq 100); do head -c 100000 /dev/zero >&2; printf ab; done; printf '\"}'";
        let f = function(exec(script), &[], &["output"]);
        let out = call(Path::new("."), "s", &f, &Map::new()).await.unwrap();
        assert_eq!(out["output"], json!("ab".repeat(100)));
    }

    #[test]
    fn programs_are_found_in_the_path_the_child_gets() {
        let sh = locate("sh", &BTreeMap::new());
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());

        let dir = std::env::temp_dir().join(format!("ayanami-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join("sh");
        std::fs::write(&program, "").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let own = BTreeMap::from([("PATH".to_owned(), dir.display().to_string())]);
        assert_eq!(locate("sh", &own), program);

        let relative = BTreeMap::from([("PATH".to_owned(), format!("bin:{}", dir.display()))]);
        assert_eq!(locate("sh", &relative), PathBuf::from("sh"));
        assert_eq!(
            locate("no-such-program", &own),
            PathBuf::from("no-such-program")
        );
        assert_eq!(locate("./sh", &own), PathBuf::from("./sh"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let f = function(
            FunctionKind::Exec {
                argv: vec!["/no/such/program".to_owned()],
            },
            &[],
            &[],
        );
        let error = call(Path::new("."), "s", &f, &Map::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind, CallErrorKind::Spawn);
        assert!(
            error
                .to_string()
                .starts_with("function `s.f` could not start `/no/such/program`"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_deadline_kills_the_program_and_its_children() {
        let mut f = function(exec("sleep 30 & echo $! > child.pid; wait"), &[], &[]);
        f.timeout = Duration::from_millis(300);
        let dir = std::env::temp_dir().join(format!("ayanami-deadline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let started = Instant::now();
        let error = call(&dir, "s", &f, &Map::new()).await.unwrap_err();
        assert_eq!(error.kind, CallErrorKind::Timeout);
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(dir.join("child.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "));
        assert!(!alive, "the sleeping child {pid} outlived the deadline");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_environment_holds_only_path_home_and_the_composition_env() {
        let mut f = function(
            exec("env | cut -d= -f1 | sort | tr '\\n' ' ' | sed 's/.*/{\"output\": \"&\"}/'"),
            &[],
            &["output"],
        );
        f.env.insert("GREETING".to_owned(), "hi".to_owned());
        let out = call(Path::new("."), "s", &f, &Map::new()).await.unwrap();
        let names = out["output"].as_str().unwrap();
        let names: Vec<&str> = names
            .split_whitespace()
            .filter(|n| !["PWD", "SHLVL", "_", "OLDPWD"].contains(n))
            .collect();
        assert_eq!(names, ["GREETING", "HOME", "PATH"]);
    }
}
