//! Warnings: wirings that are valid but can never fire.

use std::collections::HashSet;

use ayanami_event::EventName;

use crate::model::{Composition, Flow, Wiring};
use crate::{Diagnostic, Span};

/// What in a valid composition can never happen: functions no flow calls,
/// wirings that wait for their replies, and flow outputs only they set.
#[must_use]
pub fn warnings(composition: &Composition) -> Vec<Diagnostic> {
    let called = called_functions(composition);
    let mut warnings = Vec::new();
    let mut warn = |span: Span, message: String| warnings.push(Diagnostic { span, message });

    for service in &composition.services {
        for function in &service.functions {
            if !called.contains(&(service.name.as_str(), function.name.as_str())) {
                let name = format!("{}.{}", service.name, function.name);
                warn(
                    function.span,
                    format!("function `{name}` is never called by a flow"),
                );
            }
        }
    }
    for flow in &composition.flows {
        for wiring in flow.wirings.iter().filter(|w| !can_fire(w, &called)) {
            let from = wiring
                .from
                .as_ref()
                .expect("only a `from` wiring can fail to fire");
            let (service, function) = from.function().unwrap_or_default();
            let message =
                format!("nothing calls `{service}.{function}`, so `from: {from}` never fires");
            warn(wiring.spans.from, message);
        }
        for output in &flow.outputs {
            if !can_be_set(flow, output, &called) {
                let message = format!(
                    "output `{output}` of flow `{}` is set only by wirings that never fire",
                    flow.name
                );
                warn(flow.span, message);
            }
        }
    }
    let started = |event: EventName| {
        let wirings = composition.flows.iter().flat_map(|f| &f.wirings);
        wirings
            .filter_map(|w| w.from.as_ref())
            .any(|from| from.base() == event)
    };
    let triggers = &composition.triggers;
    let schedules = triggers
        .schedules
        .iter()
        .map(|s| ("schedule", &s.name, s.span, s.event()));
    let subjects = triggers
        .subjects
        .iter()
        .map(|s| ("subject", &s.name, s.span, s.event()));
    for (kind, name, span, event) in schedules.chain(subjects) {
        if !started(event.clone()) {
            warn(
                span,
                format!("{kind} trigger `{name}` starts no flow; wire `from: {event}` in one"),
            );
        }
    }
    warnings.sort_by_key(|d| (d.span.line, d.span.column));
    warnings
}

/// Every `(service, function)` some flow publishes a call to or applies.
fn called_functions(composition: &Composition) -> HashSet<(&str, &str)> {
    let mut called = HashSet::new();
    for wiring in composition.flows.iter().flat_map(|f| &f.wirings) {
        called.extend(wiring.to.iter().filter_map(|to| to.function()));
        if let Some((service, function)) = &wiring.apply {
            called.insert((service.as_str(), function.as_str()));
        }
    }
    called
}

/// Whether a wiring can ever run: one waiting on a function's reply runs
/// only if some flow calls that function.
fn can_fire(wiring: &Wiring, called: &HashSet<(&str, &str)>) -> bool {
    match wiring.from.as_ref().and_then(EventName::function) {
        Some(function) => called.contains(&function),
        None => true,
    }
}

/// Whether `var` is an input of `flow` or set by a wiring that can fire.
fn can_be_set(flow: &Flow, var: &str, called: &HashSet<(&str, &str)>) -> bool {
    flow.inputs.iter().any(|input| input == var)
        || flow
            .wirings
            .iter()
            .any(|w| w.var == var && w.sets_var() && can_fire(w, called))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    const YAML: &str = "
name: lint
services:
  s:
    functions:
      used:
        kind: exec
        run: 'true'
        inputs: [x]
        outputs: [y]
      lonely:
        kind: exec
        run: 'true'
        inputs: [x]
        outputs: [y]
flows:
  f:
    inputs: [x]
    outputs: [y, z]
    wirings:
      - var: x
        to: srvc.s.used.in.x
      - from: srvc.s.used.out.y
        var: y
      - from: srvc.s.lonely.out.y
        var: z
";

    #[test]
    fn functions_nobody_calls_and_wirings_waiting_on_them_are_named() {
        let composition = crate::parse(YAML, Path::new("lint.yaml"), PathBuf::from(".")).unwrap();
        let warnings: Vec<String> = super::warnings(&composition)
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.span.line, d.span.column, d.message))
            .collect();
        assert_eq!(
            warnings,
            [
                "11:7: function `s.lonely` is never called by a flow",
                "17:3: output `z` of flow `f` is set only by wirings that never fire",
                "25:15: nothing calls `s.lonely`, so `from: srvc.s.lonely.out.y` never fires",
            ]
        );
    }

    #[test]
    fn the_example_has_no_warnings() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/megazord");
        let composition = crate::load(&path).unwrap();
        assert!(super::warnings(&composition).is_empty());
    }
}
