//! Checks that need the whole composition: names that must exist, events
//! that must fit their owner, variables that must be set.

use std::collections::HashSet;

use ayanami_event::{Direction, EventKind, EventName, RouteSegment};

use crate::decode::{Decoder, backticked};
use crate::model::{Composition, Flow, Span, Wiring};

/// The response variables the gateway understands: `code`, `content`, `header`.
pub const RESPONSE_VARS: [&str; 3] = ["code", "content", "header"];

/// Headers that say how a response's body and connection are carried,
/// which the gateway sets and a flow may not: one the body does not match
/// corrupts the connection for the next request.
pub const FRAMING_HEADERS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    From,
    To,
}

pub(crate) fn check(composition: &Composition, decoder: &mut Decoder) {
    for flow in &composition.flows {
        check_flow(composition, flow, decoder);
    }
    check_gateway(composition, decoder);
}

fn check_flow(composition: &Composition, flow: &Flow, d: &mut Decoder) {
    let settable: HashSet<&str> = flow
        .inputs
        .iter()
        .map(String::as_str)
        .chain(
            flow.wirings
                .iter()
                .filter(|w| w.sets_var())
                .map(|w| w.var.as_str()),
        )
        .collect();
    for wiring in &flow.wirings {
        check_wiring(composition, flow, wiring, &settable, d);
    }
    check_calls_complete(composition, flow, d);
}

fn check_wiring(
    composition: &Composition,
    flow: &Flow,
    w: &Wiring,
    settable: &HashSet<&str>,
    d: &mut Decoder,
) {
    let name = &flow.name;
    if !w.sets_var() && w.to.is_empty() && w.apply.is_none() {
        d.error(
            w.span,
            format!(
                "the wiring of `{}` in flow `{name}` does nothing; give it `from`, `value` or `to`",
                w.var
            ),
        );
    }
    if w.apply.is_some() && !w.sets_var() {
        d.error(
            w.spans.apply,
            format!("`apply` in flow `{name}` needs a value to apply to; add `from` or `value`"),
        );
    }
    if !w.sets_var() && !is_set(&w.var, settable) {
        d.error(w.spans.var, format!("variable `{}` in flow `{name}` is never set; set it with `from` or `value`, or make it an input", w.var));
    }
    if let Some(from) = &w.from {
        check_event(composition, flow, from, Role::From, w.spans.from, d);
    }
    for (to, span) in w.to.iter().zip(&w.spans.to) {
        check_event(composition, flow, to, Role::To, *span, d);
        if let (Some(value), None) = (&w.value, &w.apply) {
            check_constant_answer(to, value, *span, d);
        }
    }
    if let Some((service, function)) = &w.apply {
        match composition.function(service, function) {
            None => unknown_function(composition, name, service, function, w.spans.apply, d),
            Some(f) if f.inputs.len() != 1 || f.outputs.len() != 1 => d.error(
                w.spans.apply,
                format!(
                    "`apply: {service}.{function}` needs a function with one input and one output"
                ),
            ),
            Some(_) => {}
        }
    }
}

/// A call starts only once all of the function's inputs are there, so a
/// flow that feeds some of them must feed all.
fn check_calls_complete(composition: &Composition, flow: &Flow, d: &mut Decoder) {
    let mut fed: Vec<((&str, &str), Vec<&str>, Span)> = Vec::new();
    for wiring in &flow.wirings {
        for (to, span) in wiring.to.iter().zip(&wiring.spans.to) {
            let (Some(function), Direction::In) = (to.function(), to.direction()) else {
                continue;
            };
            let input = to.var().map_or("", |v| v.split('.').next().unwrap_or(v));
            match fed.iter_mut().find(|(f, _, _)| *f == function) {
                Some((_, inputs, _)) => inputs.push(input),
                None => fed.push((function, vec![input], *span)),
            }
        }
    }
    for ((service, name), inputs, span) in fed {
        let Some(function) = composition.function(service, name) else {
            continue;
        };
        // An input the function does not have is already reported, and is
        // most likely a misspelling of the one that seems to be missing.
        if inputs
            .iter()
            .any(|i| !function.inputs.iter().any(|f| f == i))
        {
            continue;
        }
        if let Some(missing) = function
            .inputs
            .iter()
            .find(|i| !inputs.contains(&i.as_str()))
        {
            d.error(
                span,
                format!(
                    "flow `{}` calls `{service}.{name}` but never publishes its input `{missing}`",
                    flow.name
                ),
            );
        }
    }
}

/// Whether `var` is a settable variable or a part of one.
fn is_set(var: &str, settable: &HashSet<&str>) -> bool {
    let mut prefix = var;
    loop {
        if settable.contains(prefix) {
            return true;
        }
        let Some((parent, _)) = prefix.rsplit_once('.') else {
            return false;
        };
        prefix = parent;
    }
}

fn unknown_function(
    composition: &Composition,
    flow: &str,
    service: &str,
    function: &str,
    span: Span,
    d: &mut Decoder,
) {
    match composition.service(service) {
        None => {
            let names: Vec<&str> = composition
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let known = if names.is_empty() {
                "there are no `services`".to_owned()
            } else {
                format!("the services are {}", backticked(&names))
            };
            d.error(
                span,
                format!("unknown service `{service}` in flow `{flow}`; {known}"),
            );
        }
        Some(s) => {
            let names: Vec<&str> = s.functions.iter().map(|f| f.name.as_str()).collect();
            let known = if names.is_empty() {
                "it has no `functions`".to_owned()
            } else {
                format!("its functions are {}", backticked(&names))
            };
            d.error(
                span,
                format!(
                    "unknown function `{function}` in service `{service}` (flow `{flow}`); {known}"
                ),
            );
        }
    }
}

fn check_event(
    composition: &Composition,
    flow: &Flow,
    event: &EventName,
    role: Role,
    span: Span,
    d: &mut Decoder,
) {
    match event.kind() {
        EventKind::Srvc => check_service_event(composition, flow, event, role, span, d),
        EventKind::Flow => {
            let target = &event.head()[0];
            if composition.flow(target).is_none() {
                let names: Vec<&str> = composition.flows.iter().map(|f| f.name.as_str()).collect();
                d.error(
                    span,
                    format!(
                        "unknown flow `{target}` in event `{event}` of flow `{}`; the flows are {}",
                        flow.name,
                        backticked(&names)
                    ),
                );
            }
        }
        EventKind::Trig => check_trigger_event(composition, event, role, span, d),
    }
}

fn check_service_event(
    composition: &Composition,
    flow: &Flow,
    event: &EventName,
    role: Role,
    span: Span,
    d: &mut Decoder,
) {
    let Some((service, function)) = event.function() else {
        return;
    };
    let Some(f) = composition.function(service, function) else {
        unknown_function(composition, &flow.name, service, function, span, d);
        return;
    };
    let var = event.var().map(|v| v.split('.').next().unwrap_or(v));
    let (names, side) = match (role, event.direction()) {
        (Role::To, Direction::In) => (&f.inputs, "input"),
        (Role::From, Direction::Out) => (&f.outputs, "output"),
        (Role::From, Direction::Err) => return,
        (Role::To, _) => {
            d.error(span, format!("a flow calls `{service}.{function}` by publishing to its `in` event, not `{event}`"));
            return;
        }
        (Role::From, _) => {
            d.error(span, format!("a flow listens to the `out` or `err` event of `{service}.{function}`, not `{event}`"));
            return;
        }
    };
    if let Some(var) = var {
        if !names.iter().any(|n| n == var) {
            let known = if names.is_empty() {
                format!("it declares none, so list `{var}` in its `{side}s`")
            } else {
                format!("its {side}s are {}", backticked(names))
            };
            d.error(
                span,
                format!("function `{service}.{function}` has no {side} `{var}`; {known}"),
            );
        }
    } else if role == Role::To {
        d.error(
            span,
            format!(
                "name the input of `{service}.{function}` in `{event}`, as in `{event}.{}`",
                f.inputs.first().map_or("input", String::as_str)
            ),
        );
    }
}

fn check_trigger_event(
    composition: &Composition,
    event: &EventName,
    role: Role,
    span: Span,
    d: &mut Decoder,
) {
    let trigger = event.head()[0].as_str();
    let expected = match trigger {
        "request" => (Role::From, Direction::Out),
        "response" => (Role::To, Direction::In),
        "schedule" | "subject" => {
            check_named_trigger(composition, event, role, span, d);
            return;
        }
        _ => {
            d.error(span, format!("unknown trigger `{trigger}` in `{event}`; the triggers are the gateway's `request` and `response`, `schedule` and `subject`"));
            return;
        }
    };
    if (role, event.direction()) != expected {
        let hint = if trigger == "request" {
            "a flow takes requests `from` a `trig.request.<method>.<route>.out` event"
        } else {
            "a flow answers by publishing `to` a `trig.response.<method>.<route>.in.<var>` event"
        };
        d.error(span, format!("`{event}` cannot be used here: {hint}"));
        return;
    }
    let base = event.base();
    let known = composition
        .gateway
        .iter()
        .flat_map(|g| &g.routes)
        .any(|route| {
            route.methods.iter().any(|m| {
                let own = if trigger == "request" {
                    route.request_event(m)
                } else {
                    route.response_event(m)
                };
                own == base
            })
        });
    if !known {
        d.error(
            span,
            format!("no gateway route has the event `{base}`; add its route to `gateway.routes`"),
        );
        return;
    }
    if trigger == "response" {
        check_response_var(event, span, d);
    }
}

/// The gateway reads `code` and `content` whole and `header` whole or one
/// header at a time, so a part of `code` or `content` would never be read.
fn check_response_var(event: &EventName, span: Span, d: &mut Decoder) {
    let Some(path) = event.var() else {
        return;
    };
    let (var, part) = path
        .split_once('.')
        .map_or((path, None), |(v, p)| (v, Some(p)));
    if !RESPONSE_VARS.contains(&var) {
        d.error(span, format!("unknown response variable `{var}`; the gateway reads `code`, `content` and `header`"));
    } else if var != "header" && part.is_some() {
        let whole = event.base();
        d.error(span, format!("`{event}` publishes a part of `{var}`, but the gateway reads `{var}` whole; publish the whole value to `{whole}.{var}` (only `header` takes a part: `header.<name>` sets one header)"));
    }
}

/// A constant a flow answers with that the gateway could never send.
fn check_constant_answer(
    event: &EventName,
    value: &serde_json::Value,
    span: Span,
    d: &mut Decoder,
) {
    if event.kind() != EventKind::Trig
        || event.head().first().map(String::as_str) != Some("response")
    {
        return;
    }
    let Some(var) = event.var() else {
        return;
    };
    if var == "code" {
        let status = value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
        if !status.is_some_and(|code| (200..=999).contains(&code)) {
            d.error(span, format!("`code` {value} is not an HTTP status from 200 to 999, so every answer would be a 500"));
        }
    } else if let Some(header) = var.strip_prefix("header.") {
        let header = header.to_ascii_lowercase();
        if FRAMING_HEADERS.contains(&header.as_str()) {
            d.error(span, format!("header `{header}` frames the connection, which is the gateway's to set, not a flow's"));
        }
    }
}

/// A `trig.schedule.<name>.out` or `trig.subject.<name>.out` event: it
/// starts flows, and its trigger is declared under `triggers`.
fn check_named_trigger(
    composition: &Composition,
    event: &EventName,
    role: Role,
    span: Span,
    d: &mut Decoder,
) {
    let kind = event.head()[0].as_str();
    let shape = format!("`trig.{kind}.<name>.out`");
    if role != Role::From || event.direction() != Direction::Out || event.head().len() != 2 {
        d.error(
            span,
            format!("`{event}` cannot be used here: a flow starts `from` a {kind} trigger's {shape} event"),
        );
        return;
    }
    let name = event.head()[1].as_str();
    let names: Vec<&str> = if kind == "schedule" {
        let schedules = composition.triggers.schedules.iter();
        schedules.map(|s| s.name.as_str()).collect()
    } else {
        let subjects = composition.triggers.subjects.iter();
        subjects.map(|s| s.name.as_str()).collect()
    };
    if !names.contains(&name) {
        let known = if names.is_empty() {
            format!("there is none; declare it under `triggers.{kind}`")
        } else {
            format!("the {kind} triggers are {}", backticked(&names))
        };
        d.error(
            span,
            format!("unknown {kind} trigger `{name}` in `{event}`; {known}"),
        );
    }
}

fn check_gateway(composition: &Composition, d: &mut Decoder) {
    let Some(gateway) = &composition.gateway else {
        return;
    };
    let mut seen = HashSet::new();
    let wired = |event: &EventName, role: Role| {
        composition
            .flows
            .iter()
            .flat_map(|f| &f.wirings)
            .any(|w| match role {
                Role::From => w.from.as_ref().is_some_and(|from| from.base() == *event),
                Role::To => w.to.iter().any(|to| to.base() == *event),
            })
    };
    for (index, route) in gateway.routes.iter().enumerate() {
        let earlier = gateway.routes[..index].iter();
        if let Some(other) = earlier
            .rev()
            .find(|o| ambiguous(&o.segments, &route.segments))
        {
            d.error(
                route.span,
                format!(
                    "routes `{}` and `{}` cannot be told apart by the router; give parameters at the same place the same name, and put no parameter where the other has a catch-all",
                    other.path, route.path
                ),
            );
            continue;
        }
        for method in &route.methods {
            let path = &route.path;
            if !seen.insert((route.request_event(method), method)) {
                d.error(
                    route.span,
                    format!("route `{method} {path}` is declared twice"),
                );
                continue;
            }
            let request = route.request_event(method);
            let response = route.response_event(method);
            if !wired(&request, Role::From) {
                let answer = if wired(&response, Role::To) {
                    String::new()
                } else {
                    format!(", and publish its answer to `{response}.content`")
                };
                d.error(
                    route.span,
                    format!(
                        "route `{method} {path}` starts no flow; wire `from: {request}` in a flow{answer}"
                    ),
                );
            } else if !wired(&response, Role::To) {
                d.error(
                    route.span,
                    format!(
                        "no flow answers route `{method} {path}`; publish to `{response}.content`"
                    ),
                );
            }
        }
    }
}

/// Whether the router cannot hold both route paths: it always prefers a
/// literal to a parameter, but refuses two parameters of different names
/// at the same place, or a parameter beside a catch-all.
fn ambiguous(a: &[RouteSegment], b: &[RouteSegment]) -> bool {
    for (a, b) in a.iter().zip(b) {
        match (a, b) {
            (RouteSegment::Literal(x), RouteSegment::Literal(y)) if x != y => return false,
            (RouteSegment::Literal(_), RouteSegment::Literal(_)) => {}
            (RouteSegment::Literal(_), _) | (_, RouteSegment::Literal(_)) => return false,
            (RouteSegment::Param(x), RouteSegment::Param(y)) if x == y => {}
            (RouteSegment::CatchAll(x), RouteSegment::CatchAll(y)) => return x != y,
            _ => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use ayanami_event::parse_route;

    use super::*;

    #[test]
    fn routes_are_ambiguous_only_when_the_router_could_not_choose() {
        let cases = [
            ("/a/{x}", "/a/{y}", true),
            ("/a/{x}", "/a/{*rest}", true),
            ("/a/{x}/b", "/a/{*rest}", true),
            ("/a/{*x}", "/a/{*y}", true),
            ("/{x}/b", "/{y}/c", true),
            ("/a/{x}", "/a/b", false),
            ("/a/{x}", "/a/{x}/c", false),
            ("/a/{*x}", "/a/b/c", false),
            ("/{*x}", "/", false),
            ("/a/{*x}", "/a", false),
            ("/a", "/b", false),
            ("/a/{*x}", "/a/{*x}", false),
        ];
        for (a, b, expected) in cases {
            let (a_segments, b_segments) = (parse_route(a).unwrap(), parse_route(b).unwrap());
            assert_eq!(ambiguous(&a_segments, &b_segments), expected, "{a} {b}");
            assert_eq!(ambiguous(&b_segments, &a_segments), expected, "{b} {a}");
        }
    }
}
