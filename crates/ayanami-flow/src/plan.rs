//! A flow's wirings compiled into lookup tables.

use std::collections::HashMap;

use ayanami_composition::{Composition, Flow};
use ayanami_event::{Direction, EventKind, EventName};
use serde_json::Value;

/// What a delivery on one subscription does to its instance.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Set `var` to the part of the value at `extract`, or to `constant`;
    /// through `apply` first when given.
    Set {
        var: usize,
        extract: Vec<String>,
        constant: Option<Value>,
        apply: Option<usize>,
    },
    /// The reply of an applied function: set that call's apply variables.
    Applied { call: usize, extract: Vec<String> },
    /// A function failed and no wiring handles it: the instance fails.
    Failed { call: usize },
}

/// One subscription of the flow and what its deliveries do.
#[derive(Debug, Clone)]
pub(crate) struct Subscribe {
    pub(crate) pattern: String,
    pub(crate) actions: Vec<Action>,
}

impl Subscribe {
    /// Whether every delivery on this subscription sets a flow input, so
    /// that it only ever starts instances (or feeds inputs of new ones).
    pub(crate) fn only_starts(&self, plan: &Plan) -> bool {
        !self.actions.is_empty()
            && self.actions.iter().all(|action| match action {
                Action::Set { var, .. } => plan.is_input[*var],
                _ => false,
            })
    }
}

/// Where a set variable goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A plain event, published once per instance.
    Event(usize),
    /// One input of a function call.
    Call { call: usize, input: String },
}

/// A publication that follows setting a variable.
#[derive(Debug, Clone)]
pub(crate) struct Publish {
    /// The part of the variable to publish.
    pub(crate) extract: Vec<String>,
    pub(crate) target: Target,
}

/// A function this flow calls, once per instance at most.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) service: String,
    pub(crate) function: String,
    pub(crate) inputs: Vec<String>,
    /// Variables set from the reply, for `apply` wirings.
    pub(crate) apply_vars: Vec<usize>,
}

impl Call {
    pub(crate) fn name(&self) -> String {
        format!("{}.{}", self.service, self.function)
    }
}

/// A flow compiled for the engine.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) name: String,
    pub(crate) vars: Vec<String>,
    pub(crate) is_input: Vec<bool>,
    pub(crate) is_output: Vec<bool>,
    pub(crate) input_count: usize,
    pub(crate) output_count: usize,
    pub(crate) timeout: std::time::Duration,
    pub(crate) on_set: Vec<Vec<Publish>>,
    /// Wirings run when an instance starts: constants, and applies of constants.
    pub(crate) at_start: Vec<Action>,
    pub(crate) subscriptions: Vec<Subscribe>,
    pub(crate) events: Vec<EventName>,
    pub(crate) calls: Vec<Call>,
    pub(crate) max_instances: usize,
}

impl Plan {
    /// Compiles `flow`, whose composition has been checked.
    #[must_use]
    pub fn new(composition: &Composition, flow: &Flow) -> Self {
        let mut builder = Builder {
            composition,
            plan: Plan {
                name: flow.name.clone(),
                vars: Vec::new(),
                is_input: Vec::new(),
                is_output: Vec::new(),
                input_count: 0,
                output_count: 0,
                timeout: flow.timeout,
                on_set: Vec::new(),
                at_start: Vec::new(),
                subscriptions: Vec::new(),
                events: Vec::new(),
                calls: Vec::new(),
                max_instances: crate::MAX_INSTANCES,
            },
            patterns: HashMap::new(),
        };
        builder.build(flow);
        builder.plan
    }

    /// The plan with at most `max` instances in flight instead of
    /// [`MAX_INSTANCES`](crate::MAX_INSTANCES).
    #[must_use]
    pub fn with_max_instances(mut self, max: usize) -> Self {
        self.max_instances = max;
        self
    }

    /// The flow's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

struct Builder<'a> {
    composition: &'a Composition,
    plan: Plan,
    patterns: HashMap<String, usize>,
}

impl Builder<'_> {
    fn build(&mut self, flow: &Flow) {
        for input in &flow.inputs {
            self.var(input);
        }
        for wiring in flow.wirings.iter().filter(|w| w.sets_var()) {
            self.var(&wiring.var);
        }
        for (index, var) in self.plan.vars.iter().enumerate() {
            self.plan.is_input[index] = flow.inputs.contains(var);
            self.plan.is_output[index] = flow.outputs.contains(var);
        }
        self.plan.input_count = self.plan.is_input.iter().filter(|x| **x).count();
        self.plan.output_count = self.plan.is_output.iter().filter(|x| **x).count();

        // Every input can also be set directly: `<ID>.flow.<name>.in.<input>`.
        for input in &flow.inputs {
            let var = self
                .plan
                .vars
                .iter()
                .position(|v| v == input)
                .expect("inputs are vars");
            let event = EventName::flow(&flow.name, Direction::In, Some(input));
            self.listen(&event, |extract| Action::Set {
                var,
                extract,
                constant: None,
                apply: None,
            });
        }
        for wiring in &flow.wirings {
            for to in &wiring.to {
                self.publish_on_set(&wiring.var, to);
            }
            if !wiring.sets_var() {
                continue;
            }
            let var = self
                .plan
                .vars
                .iter()
                .position(|v| *v == wiring.var)
                .expect("set vars are vars");
            let apply = wiring.apply.as_ref().map(|(s, f)| {
                let call = self.call(s, f);
                self.plan.calls[call].apply_vars.push(var);
                call
            });
            let constant = wiring.value.clone();
            match &wiring.from {
                Some(from) => self.listen(from, |extract| Action::Set {
                    var,
                    extract,
                    constant: constant.clone(),
                    apply,
                }),
                None => self.plan.at_start.push(Action::Set {
                    var,
                    extract: Vec::new(),
                    constant,
                    apply,
                }),
            }
        }
        self.listen_to_calls();
    }

    fn var(&mut self, name: &str) -> usize {
        if let Some(index) = self.plan.vars.iter().position(|v| v == name) {
            return index;
        }
        self.plan.vars.push(name.to_owned());
        self.plan.is_input.push(false);
        self.plan.is_output.push(false);
        self.plan.on_set.push(Vec::new());
        self.plan.vars.len() - 1
    }

    fn call(&mut self, service: &str, function: &str) -> usize {
        let known = self
            .plan
            .calls
            .iter()
            .position(|c| c.service == service && c.function == function);
        if let Some(index) = known {
            return index;
        }
        let inputs = self
            .composition
            .function(service, function)
            .map(|f| f.inputs.clone())
            .unwrap_or_default();
        self.plan.calls.push(Call {
            service: service.to_owned(),
            function: function.to_owned(),
            inputs,
            apply_vars: Vec::new(),
        });
        self.plan.calls.len() - 1
    }

    /// Subscribes to `event` and to each parent event that may carry it
    /// inside an object, so either framing reaches the action.
    fn listen(&mut self, event: &EventName, action: impl Fn(Vec<String>) -> Action) {
        let path: Vec<String> = event
            .var()
            .map(|v| v.split('.').map(str::to_owned).collect())
            .unwrap_or_default();
        for depth in 0..=path.len() {
            let carried = (depth > 0).then(|| path[..depth].join("."));
            let pattern = event.with_var(carried.as_deref()).pattern();
            let tag = self.subscription(pattern);
            self.plan.subscriptions[tag]
                .actions
                .push(action(path[depth..].to_vec()));
        }
    }

    fn subscription(&mut self, pattern: String) -> usize {
        if let Some(tag) = self.patterns.get(&pattern) {
            return *tag;
        }
        let tag = self.plan.subscriptions.len();
        self.patterns.insert(pattern.clone(), tag);
        self.plan.subscriptions.push(Subscribe {
            pattern,
            actions: Vec::new(),
        });
        tag
    }

    /// Records that setting `var` (or a variable it is part of) publishes to `to`.
    fn publish_on_set(&mut self, var: &str, to: &EventName) {
        let target = match (to.kind(), to.function(), to.direction()) {
            (EventKind::Srvc, Some((service, function)), Direction::In) => {
                let input = to.var().unwrap_or_default().to_owned();
                Target::Call {
                    call: self.call(service, function),
                    input,
                }
            }
            _ => {
                self.plan.events.push(to.clone());
                Target::Event(self.plan.events.len() - 1)
            }
        };
        let tokens: Vec<&str> = var.split('.').collect();
        for depth in (1..=tokens.len()).rev() {
            let prefix = tokens[..depth].join(".");
            if let Some(index) = self.plan.vars.iter().position(|v| *v == prefix) {
                let extract = tokens[depth..].iter().map(|t| (*t).to_owned()).collect();
                self.plan.on_set[index].push(Publish {
                    extract,
                    target: target.clone(),
                });
                return;
            }
        }
    }

    /// Subscribes to the replies and errors of every function the flow calls.
    fn listen_to_calls(&mut self) {
        for call in 0..self.plan.calls.len() {
            let Call {
                service,
                function,
                apply_vars,
                ..
            } = self.plan.calls[call].clone();
            let outputs = self
                .composition
                .function(&service, &function)
                .map(|f| f.outputs.clone())
                .unwrap_or_default();
            if let (false, Some(output)) = (apply_vars.is_empty(), outputs.first()) {
                let event = EventName::service(&service, &function, Direction::Out, Some(output));
                self.listen(&event, |extract| Action::Applied { call, extract });
            }
            let error = EventName::service(&service, &function, Direction::Err, None).pattern();
            let tag = self.subscription(error);
            let handled = self.plan.subscriptions[tag]
                .actions
                .iter()
                .any(|a| matches!(a, Action::Set { .. }));
            if !handled {
                self.plan.subscriptions[tag]
                    .actions
                    .push(Action::Failed { call });
            }
        }
    }
}
