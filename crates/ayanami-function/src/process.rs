//! Running `cmd` and `exec` functions as child processes.

use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use ayanami_composition::{Function, FunctionKind, Piece, Word};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{CallError, CallErrorKind};

/// How much of stderr an error keeps: its last bytes.
const STDERR_TAIL: usize = 2048;

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
        FunctionKind::Worker { .. } | FunctionKind::Outside => Err(CallError::new(
            &name,
            CallErrorKind::Spawn,
            "is not a one-shot program (`cmd` or `exec`)",
        )),
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
    let bad = |detail: String| {
        CallError::new(name, CallErrorKind::BadOutput, detail).with_stderr(tail(&output.stderr))
    };
    let value: Value = serde_json::from_slice(&output.stdout).map_err(|error| {
        bad(format!(
            "wrote stdout that is not one JSON object ({error})"
        ))
    })?;
    let Value::Object(outputs) = value else {
        return Err(bad(
            "wrote JSON that is not an object; answer with {\"output\": ...}".to_owned(),
        ));
    };
    if let Some(missing) = function.outputs.iter().find(|o| !outputs.contains_key(*o)) {
        return Err(bad(format!("answered without output `{missing}`")));
    }
    Ok(outputs)
}

async fn run(
    dir: &Path,
    name: &str,
    function: &Function,
    argv: &[String],
    stdin: Option<Vec<u8>>,
) -> Result<Output, CallError> {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .envs(std::env::vars_os().filter(|(key, _)| key == "PATH" || key == "HOME"))
        .envs(&function.env)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|error| {
        CallError::new(
            name,
            CallErrorKind::Spawn,
            format!("could not start `{}`: {error}", argv[0]),
        )
    })?;
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(Pid::from_raw);

    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A program may exit or close stdin before reading it all; that is
        // its business, so a broken pipe here is not an error.
        tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let waited = tokio::time::timeout(function.timeout, child.wait_with_output()).await;
    // Whatever the outcome, nothing the call started may outlive it.
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
    let output = match waited {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => {
            return Err(CallError::new(
                name,
                CallErrorKind::Spawn,
                format!("could not be waited for: {error}"),
            ));
        }
        Err(_) => return Err(CallError::timeout(name, function.timeout)),
    };
    if !output.status.success() {
        let mut error = CallError::new(name, CallErrorKind::Exit, describe(output.status))
            .with_stderr(tail(&output.stderr));
        error.status = output.status.code();
        return Err(error);
    }
    Ok(output)
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    }
}

fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&stderr[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

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
