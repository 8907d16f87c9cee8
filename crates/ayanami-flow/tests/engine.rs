//! The flow engine seen from the bus: the tests publish the events that drive
//! a flow, play its services, and check what the flow publishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ayanami_bus::{Bus, Delivery, MemoryBus, Sink, Subscription};
use ayanami_event::Id;
use ayanami_flow::{FlowHandle, Plan};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// The longest wait for an event that should come.
const WAIT: Duration = Duration::from_secs(2);
/// How long the bus must stay silent when nothing should come.
const QUIET: Duration = Duration::from_millis(150);

/// A bus with every flow of a composition running on it, watched by the test.
struct World {
    bus: MemoryBus,
    rx: mpsc::Receiver<Delivery>,
    _flows: Vec<FlowHandle>,
    _watching: Vec<Subscription>,
}

impl World {
    /// Starts every flow of `yaml` and watches the subject patterns `watch`.
    async fn start(yaml: &str, watch: &[&str]) -> Self {
        Self::start_limited(yaml, watch, ayanami_flow::MAX_INSTANCES).await
    }

    /// Like [`World::start`], with at most `max_instances` per flow.
    async fn start_limited(yaml: &str, watch: &[&str], max_instances: usize) -> Self {
        let composition =
            ayanami_composition::parse(yaml, Path::new("test.yaml"), PathBuf::from("."))
                .unwrap_or_else(|error| panic!("{error}"));
        let bus = MemoryBus::new();
        let mut flows = Vec::new();
        for flow in &composition.flows {
            let plan = Plan::new(&composition, flow).with_max_instances(max_instances);
            flows.push(ayanami_flow::serve(bus.clone(), plan).await.unwrap());
        }
        let (tx, rx) = mpsc::channel(256);
        let mut watching = Vec::new();
        for (tag, pattern) in watch.iter().enumerate() {
            let sink = Sink::new(tx.clone(), tag);
            watching.push(bus.subscribe(pattern, None, sink).await.unwrap());
        }
        Self {
            bus,
            rx,
            _flows: flows,
            _watching: watching,
        }
    }

    async fn publish(&self, id: Id, event: &str, value: Value) {
        self.bus
            .publish(format!("{id}.{event}"), Arc::new(value))
            .await
            .unwrap();
    }

    /// The next watched event, as its subject and value.
    async fn next(&mut self) -> (String, Value) {
        let delivery = timeout(WAIT, self.rx.recv())
            .await
            .expect("an event within the wait")
            .expect("the watch channel is open");
        let message = delivery.message;
        (message.subject.to_string(), (*message.value).clone())
    }

    /// The next `count` watched events, in any order; no subject may repeat.
    async fn take(&mut self, count: usize) -> BTreeMap<String, Value> {
        let mut seen = BTreeMap::new();
        for _ in 0..count {
            let (subject, value) = self.next().await;
            if let Some(earlier) = seen.insert(subject.clone(), value) {
                panic!("`{subject}` published twice, first with {earlier}");
            }
        }
        seen
    }

    /// Asserts that nothing watched is published for a while.
    async fn quiet(&mut self) {
        if let Ok(delivery) = timeout(QUIET, self.rx.recv()).await {
            let message = delivery.expect("the watch channel is open").message;
            panic!(
                "unexpected event `{}` with {}",
                message.subject, message.value
            );
        }
    }
}

fn at(id: Id, event: &str) -> String {
    format!("{id}.{event}")
}

#[tokio::test]
async fn a_variable_wired_to_two_events_is_published_to_both() {
    let yaml = r"
name: test
services:
  a:
    functions:
      one: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
  b:
    functions:
      two: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  spread:
    inputs: [x]
    outputs: [x]
    wirings:
      - var: x
        to: [srvc.a.one.in.input, srvc.b.two.in.input]
";
    let mut world = World::start(
        yaml,
        &[
            "*.srvc.*.*.in.>",
            "*.flow.spread.out.>",
            "*.flow.spread.err",
        ],
    )
    .await;
    let id = Id::new();
    world.publish(id, "flow.spread.in.x", json!("hello")).await;
    assert_eq!(
        world.take(3).await,
        BTreeMap::from([
            (at(id, "srvc.a.one.in.input"), json!("hello")),
            (at(id, "srvc.b.two.in.input"), json!("hello")),
            (at(id, "flow.spread.out.x"), json!("hello")),
        ])
    );
    world.quiet().await;
}

#[tokio::test]
async fn a_function_with_two_inputs_is_called_once_with_both_on_its_in_event() {
    let yaml = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [a, b], outputs: [sum]}
flows:
  join:
    inputs: [x, y]
    outputs: [total]
    wirings:
      - var: x
        to: srvc.s.f.in.a
      - var: y
        to: srvc.s.f.in.b
      - from: srvc.s.f.out.sum
        var: total
";
    let mut world = World::start(
        yaml,
        &[
            "*.srvc.s.f.in",
            "*.srvc.s.f.in.>",
            "*.flow.join.out.>",
            "*.flow.join.err",
        ],
    )
    .await;
    let id = Id::new();
    world.publish(id, "flow.join.in.x", json!(1)).await;
    world.quiet().await;
    world.publish(id, "flow.join.in.y", json!(2)).await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.s.f.in"), json!({"a": 1, "b": 2}))
    );
    world.quiet().await;
    world.publish(id, "srvc.s.f.out.sum", json!(3)).await;
    assert_eq!(
        world.next().await,
        (at(id, "flow.join.out.total"), json!(3))
    );
    world.quiet().await;
}

const SUB_PATHS: &str = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  parts:
    inputs: [x]
    outputs: [deep]
    wirings:
      - var: x.form.text.0
        to: srvc.s.f.in.input
      - from: srvc.s.f.out.output.a.b
        var: deep
";

#[tokio::test]
async fn a_sub_path_variable_publishes_that_part_of_the_value() {
    let mut world = World::start(
        SUB_PATHS,
        &["*.srvc.s.f.in.>", "*.flow.parts.out.>", "*.flow.parts.err"],
    )
    .await;
    let id = Id::new();
    let request = json!({"form": {"text": ["hi", "there"]}, "method": "GET"});
    world.publish(id, "flow.parts.in.x", request).await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.s.f.in.input"), json!("hi"))
    );
    world.quiet().await;
}

#[tokio::test]
async fn a_sub_path_wiring_takes_its_part_of_a_parent_event_sent_as_an_object() {
    let mut world = World::start(SUB_PATHS, &["*.flow.parts.out.>", "*.flow.parts.err"]).await;
    let one = Id::new();
    let two = Id::new();
    let request = json!({"form": {"text": ["hi"]}});
    world.publish(one, "flow.parts.in.x", request.clone()).await;
    world.publish(two, "flow.parts.in.x", request).await;
    world
        .publish(
            one,
            "srvc.s.f.out.output",
            json!({"a": {"b": "from the output", "c": 0}}),
        )
        .await;
    world
        .publish(
            two,
            "srvc.s.f.out",
            json!({"output": {"a": {"b": "from the whole reply"}}}),
        )
        .await;
    assert_eq!(
        world.take(2).await,
        BTreeMap::from([
            (at(one, "flow.parts.out.deep"), json!("from the output")),
            (
                at(two, "flow.parts.out.deep"),
                json!("from the whole reply")
            ),
        ])
    );
    world.quiet().await;
}

#[tokio::test]
async fn the_first_value_set_on_a_variable_wins() {
    let yaml = r"
name: test
services:
  s:
    functions:
      first: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
      second: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
      last: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  once:
    inputs: [x]
    outputs: [y, done]
    wirings:
      - from: srvc.s.first.out.output
        var: y
      - from: srvc.s.second.out.output
        var: y
      - from: srvc.s.last.out.output
        var: done
";
    let mut world = World::start(yaml, &["*.flow.once.out.>", "*.flow.once.err"]).await;
    let id = Id::new();
    world.publish(id, "flow.once.in.x", json!(null)).await;
    world
        .publish(id, "srvc.s.first.out.output", json!("first"))
        .await;
    world
        .publish(id, "srvc.s.second.out.output", json!("second"))
        .await;
    world.quiet().await;
    world
        .publish(id, "srvc.s.last.out.output", json!("end"))
        .await;
    assert_eq!(
        world.take(2).await,
        BTreeMap::from([
            (at(id, "flow.once.out.y"), json!("first")),
            (at(id, "flow.once.out.done"), json!("end")),
        ])
    );
    world.quiet().await;
}

#[tokio::test]
async fn a_wired_function_error_sets_its_variable_and_the_flow_ends_normally() {
    let yaml = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  careful:
    inputs: [x]
    outputs: [content]
    wirings:
      - var: x
        to: srvc.s.f.in.input
      - from: srvc.s.f.out.output
        var: content
      - from: srvc.s.f.err
        var: content
        value: fallback
";
    let mut world = World::start(
        yaml,
        &[
            "*.srvc.s.f.in.>",
            "*.flow.careful.out.>",
            "*.flow.careful.err",
        ],
    )
    .await;
    let id = Id::new();
    world.publish(id, "flow.careful.in.x", json!("go")).await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.s.f.in.input"), json!("go"))
    );
    world
        .publish(id, "srvc.s.f.err", json!({"message": "boom"}))
        .await;
    assert_eq!(
        world.next().await,
        (at(id, "flow.careful.out.content"), json!("fallback"))
    );
    world.quiet().await;
}

#[tokio::test]
async fn an_unwired_function_error_fails_the_flow_on_its_err_event() {
    let yaml = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  fragile:
    inputs: [x]
    outputs: [content]
    wirings:
      - var: x
        to: srvc.s.f.in.input
      - from: srvc.s.f.out.output
        var: content
";
    let mut world = World::start(
        yaml,
        &[
            "*.srvc.s.f.in.>",
            "*.flow.fragile.out.>",
            "*.flow.fragile.err",
        ],
    )
    .await;
    let id = Id::new();
    world.publish(id, "flow.fragile.in.x", json!("go")).await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.s.f.in.input"), json!("go"))
    );
    world
        .publish(id, "srvc.s.f.err", json!({"message": "boom"}))
        .await;
    let (subject, error) = world.next().await;
    assert_eq!(subject, at(id, "flow.fragile.err"));
    let message = error["message"].as_str().expect("a message");
    assert!(message.starts_with("flow `fragile` failed: "), "{message}");
    assert_eq!(
        error,
        json!({
            "message": "flow `fragile` failed: boom",
            "flow": "fragile",
            "function": "s.f",
            "cause": {"message": "boom"},
        })
    );
    world
        .publish(id, "srvc.s.f.out.output", json!("too late"))
        .await;
    world.quiet().await;
}

#[tokio::test]
async fn an_instance_past_its_deadline_fails_with_a_timeout_and_ignores_late_replies() {
    let yaml = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  slow:
    inputs: [x]
    outputs: [content]
    timeout: 200ms
    wirings:
      - var: x
        to: srvc.s.f.in.input
      - from: srvc.s.f.out.output
        var: content
";
    let mut world = World::start(
        yaml,
        &["*.srvc.s.f.in.>", "*.flow.slow.out.>", "*.flow.slow.err"],
    )
    .await;
    let id = Id::new();
    let started = Instant::now();
    world.publish(id, "flow.slow.in.x", json!("go")).await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.s.f.in.input"), json!("go"))
    );
    assert_eq!(
        world.next().await,
        (
            at(id, "flow.slow.err"),
            json!({
                "message": "flow `slow` passed its deadline of 200ms",
                "flow": "slow",
                "kind": "timeout",
            })
        )
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    world
        .publish(id, "srvc.s.f.out.output", json!("too late"))
        .await;
    world.quiet().await;
}

#[tokio::test]
async fn a_flow_with_as_many_instances_as_it_takes_refuses_a_new_one_until_one_ends() {
    let yaml = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  busy:
    inputs: [x]
    outputs: [y]
    wirings:
      - var: x
        to: srvc.s.f.in.input
      - from: srvc.s.f.out.output
        var: y
";
    let watch = ["*.srvc.s.f.in.>", "*.flow.busy.out.>", "*.flow.busy.err"];
    let mut world = World::start_limited(yaml, &watch, 2).await;
    let (first, second, third) = (Id::new(), Id::new(), Id::new());
    world.publish(first, "flow.busy.in.x", json!(1)).await;
    world.publish(second, "flow.busy.in.x", json!(2)).await;
    world.take(2).await;

    world.publish(third, "flow.busy.in.x", json!(3)).await;
    let message = "flow `busy` has 2 instances in flight and takes no more for now";
    let refused = json!({"message": message, "flow": "busy", "kind": "overloaded"});
    assert_eq!(world.next().await, (at(third, "flow.busy.err"), refused));

    world
        .publish(first, "srvc.s.f.out.output", json!("one"))
        .await;
    assert_eq!(
        world.next().await,
        (at(first, "flow.busy.out.y"), json!("one"))
    );
    world.publish(third, "flow.busy.in.x", json!(3)).await;
    assert_eq!(
        world.next().await,
        (at(third, "srvc.s.f.in.input"), json!(3))
    );
}

#[tokio::test]
async fn apply_sends_the_value_to_the_function_and_sets_the_variable_from_its_reply() {
    let yaml = r"
name: test
services:
  text:
    functions:
      trim: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
      upper: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  shout:
    inputs: [x]
    outputs: [loud]
    wirings:
      - var: x
        to: srvc.text.trim.in.input
      - from: srvc.text.trim.out.output
        var: loud
        apply: text.upper
";
    let mut world = World::start(
        yaml,
        &[
            "*.srvc.text.*.in.>",
            "*.flow.shout.out.>",
            "*.flow.shout.err",
        ],
    )
    .await;
    let id = Id::new();
    world.publish(id, "flow.shout.in.x", json!("  hi  ")).await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.text.trim.in.input"), json!("  hi  "))
    );
    world
        .publish(id, "srvc.text.trim.out.output", json!("hi"))
        .await;
    assert_eq!(
        world.next().await,
        (at(id, "srvc.text.upper.in.input"), json!("hi"))
    );
    world.quiet().await;
    world
        .publish(id, "srvc.text.upper.out.output", json!("HI"))
        .await;
    assert_eq!(
        world.next().await,
        (at(id, "flow.shout.out.loud"), json!("HI"))
    );
    world.quiet().await;
}

const ECHO: &str = r"
name: test
services:
  s:
    functions:
      f: {kind: exec, run: 'true', inputs: [input], outputs: [output]}
flows:
  echo:
    inputs: [x]
    outputs: [y]
    wirings:
      - var: x
        to: srvc.s.f.in.input
      - from: srvc.s.f.out.output
        var: y
";

#[tokio::test]
async fn interleaved_instances_keep_their_own_values() {
    let mut world = World::start(
        ECHO,
        &["*.srvc.s.f.in.>", "*.flow.echo.out.>", "*.flow.echo.err"],
    )
    .await;
    let one = Id::new();
    let two = Id::new();
    world.publish(one, "flow.echo.in.x", json!(1)).await;
    world.publish(two, "flow.echo.in.x", json!(2)).await;
    assert_eq!(
        world.take(2).await,
        BTreeMap::from([
            (at(one, "srvc.s.f.in.input"), json!(1)),
            (at(two, "srvc.s.f.in.input"), json!(2)),
        ])
    );
    world
        .publish(two, "srvc.s.f.out.output", json!("two"))
        .await;
    assert_eq!(
        world.next().await,
        (at(two, "flow.echo.out.y"), json!("two"))
    );
    world
        .publish(one, "srvc.s.f.out.output", json!("one"))
        .await;
    assert_eq!(
        world.next().await,
        (at(one, "flow.echo.out.y"), json!("one"))
    );
    world.quiet().await;
}

#[tokio::test]
async fn a_reply_for_an_unknown_id_is_ignored() {
    let mut world = World::start(
        ECHO,
        &["*.srvc.s.f.in.>", "*.flow.echo.out.>", "*.flow.echo.err"],
    )
    .await;
    let stranger = Id::new();
    world
        .publish(stranger, "srvc.s.f.out.output", json!("nobody asked"))
        .await;
    world
        .publish(stranger, "srvc.s.f.err", json!({"message": "nobody asked"}))
        .await;
    world.quiet().await;

    let id = Id::new();
    world.publish(id, "flow.echo.in.x", json!(1)).await;
    assert_eq!(world.next().await, (at(id, "srvc.s.f.in.input"), json!(1)));
    world.publish(id, "srvc.s.f.out.output", json!("ok")).await;
    assert_eq!(world.next().await, (at(id, "flow.echo.out.y"), json!("ok")));
    world.quiet().await;
}
