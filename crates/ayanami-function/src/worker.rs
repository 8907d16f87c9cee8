//! `worker` functions: one long-lived process per function, many calls in
//! flight over a line protocol.
//!
//! Ayanami writes one JSON object per line on the worker's stdin,
//! `{"id": 7, "inputs": {...}}`, and reads one per line from its stdout,
//! `{"id": 7, "outputs": {...}}` or `{"id": 7, "error": "what went wrong"}`,
//! in any order. The worker starts on the first call, is restarted with
//! back-off when it dies (the calls it held fail), and its whole process
//! group is killed when Ayanami stops.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot};

use crate::guard::Group;
use crate::{CallError, CallErrorKind, process};

/// The longest reply line accepted, so a runaway worker cannot exhaust memory.
const MAX_LINE: usize = 64 << 20;
/// Lines of calls a worker has not read yet that are held for it; a call
/// beyond waits, within its timeout, for room.
const QUEUED_LINES: usize = 64;
/// The longest stderr line logged whole; a longer one is logged in parts.
const MAX_STDERR_LINE: u64 = 8 << 10;
/// The longest wait between restarts of a worker that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one call ends with.
type Outcome = Result<Map<String, Value>, CallError>;
/// The calls sent to a worker and not yet answered, by call id.
type Calls = HashMap<u64, oneshot::Sender<Outcome>>;
type Waiting = Arc<Mutex<Calls>>;

/// One worker function and, once called, its process.
pub(crate) struct Worker {
    name: String,
    argv: Vec<String>,
    dir: PathBuf,
    env: BTreeMap<String, String>,
    outputs: Vec<String>,
    timeout: Duration,
    next_id: AtomicU64,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    live: Option<Live>,
    restarts: u32,
    started: Option<Instant>,
}

/// A running worker process.
struct Live {
    lines: mpsc::Sender<Vec<u8>>,
    waiting: Waiting,
    alive: Arc<AtomicBool>,
    /// Killed with the worker's whole process group when dropped.
    _group: Option<Group>,
}

impl Worker {
    pub(crate) fn new(
        name: String,
        function: &ayanami_composition::Function,
        argv: Vec<String>,
        dir: PathBuf,
    ) -> Self {
        Self {
            name,
            argv,
            dir,
            env: function.env.clone(),
            outputs: function.outputs.clone(),
            timeout: function.timeout,
            next_id: AtomicU64::new(1),
            state: tokio::sync::Mutex::default(),
        }
    }

    /// Sends one call to the worker and waits for its reply.
    pub(crate) async fn call(&self, inputs: &Map<String, Value>) -> Outcome {
        let (lines, waiting) = self.live().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&waiting).insert(id, tx);
        let mut line =
            serde_json::to_vec(&json!({"id": id, "inputs": inputs})).expect("JSON serialises");
        line.push(b'\n');
        let deadline = tokio::time::Instant::now() + self.timeout;
        let sent = tokio::time::timeout_at(deadline, lines.send(line)).await;
        if !matches!(sent, Ok(Ok(()))) {
            lock(&waiting).remove(&id);
            return Err(match sent {
                Ok(_) => self.gone("stopped before the call could be sent"),
                Err(_) => self.late("read no call from its stdin"),
            });
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.gone("stopped while handling the call")),
            Err(_) => {
                lock(&waiting).remove(&id);
                Err(self.late("got no reply"))
            }
        }
    }

    fn late(&self, what: &str) -> CallError {
        let detail = format!("{what} within {:?}", self.timeout);
        CallError::new(&self.name, CallErrorKind::Timeout, detail)
    }

    fn gone(&self, what: &str) -> CallError {
        CallError::new(&self.name, CallErrorKind::Exit, format!("worker {what}"))
    }

    /// The running process, started (after a back-off if it keeps dying) when needed.
    async fn live(&self) -> Result<(mpsc::Sender<Vec<u8>>, Waiting), CallError> {
        let mut state = self.state.lock().await;
        if let Some(live) = state
            .live
            .as_ref()
            .filter(|l| l.alive.load(Ordering::Acquire))
        {
            return Ok((live.lines.clone(), live.waiting.clone()));
        }
        if let (Some(_), Some(started)) = (state.live.take(), state.started) {
            if started.elapsed() < Duration::from_secs(10) {
                let delay = Duration::from_millis(100) * 2u32.saturating_pow(state.restarts);
                state.restarts = state.restarts.saturating_add(1);
                tracing::warn!(function = %self.name, delay_ms = delay.min(MAX_BACKOFF).as_millis() as u64, "worker died; restarting");
                tokio::time::sleep(delay.min(MAX_BACKOFF)).await;
            } else {
                state.restarts = 0;
            }
        }
        let live = self.spawn()?;
        let handles = (live.lines.clone(), live.waiting.clone());
        state.live = Some(live);
        state.started = Some(Instant::now());
        Ok(handles)
    }

    fn spawn(&self) -> Result<Live, CallError> {
        let mut child = process::spawn(&self.dir, &self.name, &self.argv, &self.env, true)?;
        tracing::info!(function = %self.name, pid = child.id(), "worker started");
        let group = process::process_group(&child);
        let (lines, queue) = mpsc::channel(QUEUED_LINES);
        let waiting = Waiting::default();
        let alive = Arc::new(AtomicBool::new(true));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(write(stdin, queue));
        tokio::spawn(log_stderr(stderr, self.name.clone()));
        let reader = Reader {
            name: self.name.clone(),
            outputs: self.outputs.clone(),
            waiting: waiting.clone(),
            alive: alive.clone(),
        };
        tokio::spawn(reader.run(stdout, child));
        Ok(Live {
            lines,
            waiting,
            alive,
            _group: group,
        })
    }
}

fn lock(waiting: &Waiting) -> std::sync::MutexGuard<'_, Calls> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn write(mut stdin: ChildStdin, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = queue.recv().await {
        if stdin.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// Logs what the worker writes on stderr, line by line, until it closes
/// it: bytes that are not UTF-8 are logged replaced, and a line longer than
/// [`MAX_STDERR_LINE`] in parts, so the worker never blocks on a full pipe.
async fn log_stderr(stderr: impl AsyncRead + Unpin, function: String) {
    let mut stderr = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut stderr)
            .take(MAX_STDERR_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let line = text.trim_end_matches(['\n', '\r']);
                tracing::warn!(%function, line, "worker stderr");
            }
        }
    }
}

/// Reads replies and hands each to its call; fails every waiting call when
/// the worker's stdout ends.
struct Reader {
    name: String,
    outputs: Vec<String>,
    waiting: Waiting,
    alive: Arc<AtomicBool>,
}

impl Reader {
    async fn run(self, stdout: impl AsyncRead + Unpin, mut child: Child) {
        let mut stdout = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_line(&mut stdout, &mut line).await {
                Ok(true) => self.reply(&line),
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(function = %self.name, %error, "worker output unreadable; restarting it");
                    break;
                }
            }
        }
        self.alive.store(false, Ordering::Release);
        let _ = child.start_kill();
        let status = child
            .wait()
            .await
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        tracing::warn!(function = %self.name, %status, "worker stopped");
        let held: Vec<_> = lock(&self.waiting).drain().collect();
        for (_, tx) in held {
            let error = CallError::new(
                &self.name,
                CallErrorKind::Exit,
                format!("worker stopped ({status}) while handling the call"),
            );
            let _ = tx.send(Err(error));
        }
    }

    fn reply(&self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Some((id, result)) = self.parse(line) else {
            tracing::warn!(function = %self.name, bytes = line.len(), "worker wrote a line that is not a reply; ignored");
            return;
        };
        if let Some(tx) = lock(&self.waiting).remove(&id) {
            let _ = tx.send(result);
        }
    }

    fn parse(&self, line: &[u8]) -> Option<(u64, Outcome)> {
        let Value::Object(mut reply) = serde_json::from_slice(line).ok()? else {
            return None;
        };
        let id = reply.get("id")?.as_u64()?;
        if let Some(error) = reply.get("error") {
            let message = error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_owned);
            let error = CallError::new(
                &self.name,
                CallErrorKind::Exit,
                format!("failed: {message}"),
            );
            return Some((id, Err(error)));
        }
        let Some(Value::Object(outputs)) = reply.remove("outputs") else {
            let error = CallError::new(
                &self.name,
                CallErrorKind::BadOutput,
                "replied with neither `outputs` nor `error`",
            );
            return Some((id, Err(error)));
        };
        if let Some(missing) = self.outputs.iter().find(|o| !outputs.contains_key(*o)) {
            let error = CallError::new(
                &self.name,
                CallErrorKind::BadOutput,
                format!("answered without output `{missing}`"),
            );
            return Some((id, Err(error)));
        }
        Some((id, Ok(outputs)))
    }
}

/// Reads one line into `line`; `false` at the end of the stream.
async fn read_line(
    stream: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    loop {
        let buffer = stream.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(!line.is_empty());
        }
        let (taken, done) = match buffer.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        line.extend_from_slice(&buffer[..taken]);
        stream.consume(taken);
        if line.len() > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "a reply line is longer than {MAX_LINE} bytes"
            )));
        }
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reader(outputs: &[&str]) -> Reader {
        Reader {
            name: "s.w".to_owned(),
            outputs: outputs.iter().map(|o| (*o).to_owned()).collect(),
            waiting: Waiting::default(),
            alive: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Every line `read_line` gives for `bytes`, read through a buffer of `capacity`.
    fn lines(bytes: &[u8], capacity: usize) -> Vec<Vec<u8>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut stream = BufReader::with_capacity(capacity, bytes);
            let mut lines = Vec::new();
            let mut line = Vec::new();
            while read_line(&mut stream, &mut line).await.unwrap() {
                lines.push(std::mem::take(&mut line));
            }
            lines
        })
    }

    proptest! {
        /// However the worker's output is split into reads, the reader
        /// gives back exactly its lines, the last one even without `\n`.
        #[test]
        fn lines_come_back_whole_whatever_the_reads(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..300),
            capacity in 1..64usize,
        ) {
            let mut expected: Vec<Vec<u8>> = bytes
                .split_inclusive(|b| *b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if expected.last().is_some_and(Vec::is_empty) {
                expected.pop();
            }
            prop_assert_eq!(lines(&bytes, capacity), expected);
        }

        /// Any line is a reply or ignored, never a panic; a reply names
        /// its call and what became of it.
        #[test]
        fn any_line_is_read_without_panicking(line in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = reader(&["out"]).parse(&line);
        }

        #[test]
        fn replies_give_their_id_and_outputs_or_say_what_is_missing(
            id in any::<u64>(),
            outputs in proptest::collection::btree_map("[a-c]{1,2}", any::<i32>(), 0..4),
            error in proptest::option::of("\\PC{0,20}"),
        ) {
            let mut reply = json!({"id": id, "outputs": outputs});
            if let Some(error) = &error {
                reply["error"] = error.clone().into();
            }
            let line = format!("{reply}\n");
            let (got, outcome) = reader(&["a"]).parse(line.as_bytes()).expect("a reply");
            prop_assert_eq!(got, id);
            match (error, outcome) {
                (Some(error), Err(failed)) => {
                    prop_assert_eq!(failed.kind, CallErrorKind::Exit);
                    prop_assert_eq!(failed.detail, format!("failed: {error}"));
                }
                (None, Ok(given)) => {
                    prop_assert!(outputs.contains_key("a"));
                    prop_assert_eq!(given.len(), outputs.len());
                }
                (None, Err(failed)) => {
                    prop_assert!(!outputs.contains_key("a"));
                    prop_assert_eq!(failed.detail, "answered without output `a`");
                }
                (Some(_), Ok(_)) => prop_assert!(false, "an error reply succeeded"),
            }
        }
    }
}
