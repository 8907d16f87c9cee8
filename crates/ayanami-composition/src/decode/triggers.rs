//! The `triggers:` section: cron schedules and NATS subjects that start flows.

use std::str::FromStr;

use crate::model::{Flow, Span};
use crate::trigger::{Schedule, SubjectTrigger, Triggers};
use crate::yaml::{Node, Value};

use super::Decoder;

/// The time zone of a schedule that names none.
const UTC: &str = "UTC";

impl Decoder {
    pub(super) fn triggers(&mut self, node: &Node) -> Triggers {
        let mut triggers = Triggers::default();
        let Some(fields) = self.fields(node, "`triggers`", &["schedule", "subject"]) else {
            return triggers;
        };
        if let Some(node) = fields.get("schedule") {
            triggers.schedules = self.named_map(
                node,
                "`triggers.schedule`",
                "schedule",
                |d, name, span, node| d.schedule(name, span, node),
            );
        }
        if let Some(node) = fields.get("subject") {
            triggers.subjects = self.named_map(
                node,
                "`triggers.subject`",
                "subject trigger",
                |d, name, span, node| d.subject_trigger(name, span, node),
            );
        }
        triggers
    }

    fn schedule(&mut self, name: String, span: Span, node: &Node) -> Option<Schedule> {
        let what = format!("schedule `{name}`");
        let fields = self.fields(node, &what, &["cron", "timezone"])?;
        let Some(cron_node) = fields.get("cron") else {
            self.error(
                span,
                format!("{what} needs `cron`, such as `cron: \"0 30 2 * * *\"` (second, minute, hour, day of month, month, day of week)"),
            );
            return None;
        };
        let expression = self.string(cron_node, &format!("`cron` of {what}"))?;
        let cron = match croner::Cron::from_str(&expression) {
            Ok(cron) => cron,
            Err(error) => {
                let error = error.to_string();
                let error = error.trim_end_matches('.');
                self.error(
                    cron_node.span,
                    format!("`cron` of {what} is not a cron expression ({error}); its fields are `second minute hour day-of-month month day-of-week`, the second optional, such as `0 */5 * * * *`"),
                );
                return None;
            }
        };
        let (zone, timezone) = match fields.get("timezone") {
            None => (UTC.to_owned(), jiff::tz::TimeZone::UTC),
            Some(node) => {
                let zone = self.string(node, &format!("`timezone` of {what}"))?;
                match jiff::tz::TimeZone::get(&zone) {
                    // The database's own spelling, whatever the case written.
                    Ok(timezone) => (timezone.iana_name().unwrap_or(&zone).to_owned(), timezone),
                    Err(_) => {
                        self.error(
                            node.span,
                            format!("`timezone` of {what} is `{zone}`, which is not an IANA time zone; write one such as `Europe/Berlin`, `America/New_York` or `UTC`"),
                        );
                        return None;
                    }
                }
            }
        };
        let now = jiff::Timestamp::now().to_zoned(timezone.clone());
        if cron.find_next_occurrence(&now, false).is_err() {
            self.error(
                cron_node.span,
                format!("`cron` of {what} never fires: no time from now on matches `{expression}`"),
            );
            return None;
        }
        Some(Schedule {
            name,
            expression,
            cron,
            zone,
            timezone,
            span,
        })
    }

    fn subject_trigger(&mut self, name: String, span: Span, node: &Node) -> Option<SubjectTrigger> {
        let what = format!("subject trigger `{name}`");
        let fields = self.fields(node, &what, &["subject", "reply"])?;
        let Some(subject_node) = fields.get("subject") else {
            self.error(
                span,
                format!("{what} needs `subject`, the NATS subject it listens to, such as `subject: orders.created`"),
            );
            return None;
        };
        let subject = self.string(subject_node, &format!("`subject` of {what}"))?;
        if let Err(reason) = check_subject(&subject) {
            self.error(
                subject_node.span,
                format!("`subject` of {what} is `{subject}`: {reason}"),
            );
            return None;
        }
        let reply = match fields.get("reply") {
            None => false,
            Some(node) => match &node.value {
                Value::Scalar {
                    text,
                    quoted: false,
                } if text == "true" => true,
                Value::Scalar {
                    text,
                    quoted: false,
                } if text == "false" => false,
                _ => {
                    self.error(
                        node.span,
                        format!("`reply` of {what} must be `true` or `false`"),
                    );
                    return None;
                }
            },
        };
        Some(SubjectTrigger {
            name,
            subject,
            // The flow is known once the flows are read; see `reply_flows`.
            reply: reply.then(String::new),
            span,
        })
    }

    /// Names the flow whose outputs answer each replying subject trigger:
    /// the one flow that starts from the trigger's event. Two replying
    /// triggers must not take the same messages: a request would get two
    /// answers, and keep whichever came first.
    pub(super) fn reply_flows(&mut self, triggers: &mut Triggers, flows: &[Flow]) {
        let replying: Vec<&SubjectTrigger> = triggers
            .subjects
            .iter()
            .filter(|t| t.reply.is_some())
            .collect();
        for (index, second) in replying.iter().enumerate() {
            if let Some(first) = replying[..index]
                .iter()
                .find(|f| overlap(&f.subject, &second.subject))
            {
                self.error(
                    second.span,
                    format!("subject triggers `{}` and `{}` both reply, and both take messages on `{}`, so a request would get two answers; drop `reply` from one, or give them subjects that do not overlap", first.name, second.name, second.subject),
                );
            }
        }
        for trigger in &mut triggers.subjects {
            if trigger.reply.is_none() {
                continue;
            }
            let event = trigger.event();
            let started: Vec<&str> = flows
                .iter()
                .filter(|flow| {
                    flow.wirings
                        .iter()
                        .any(|w| w.from.as_ref().is_some_and(|from| from.base() == event))
                })
                .map(|flow| flow.name.as_str())
                .collect();
            match started.as_slice() {
                [flow] if flows.iter().any(|f| f.name == *flow && f.outputs.iter().any(|o| o == "error")) => self.error(
                    trigger.span,
                    format!("flow `{flow}` answers subject trigger `{}` with its outputs, one of which is `error`, the key of a failure's answer; rename that output", trigger.name),
                ),
                [flow] => trigger.reply = Some((*flow).to_owned()),
                [] => self.error(
                    trigger.span,
                    format!("subject trigger `{}` replies with a flow's outputs, but no flow starts `from: {event}`; wire one, or drop `reply`", trigger.name),
                ),
                several => self.error(
                    trigger.span,
                    format!("subject trigger `{}` replies with a flow's outputs, but {} flows start from `{event}` ({}); keep one, or drop `reply`", trigger.name, several.len(), super::backticked(several)),
                ),
            }
        }
    }
}

/// Why `subject` cannot be listened to, if it cannot.
///
/// It follows NATS's rules for a subscription, and its first token must be
/// a plain word: Ayanami's own events start with an ID, and a trigger that
/// caught them would feed its own output back to itself.
fn check_subject(subject: &str) -> Result<(), String> {
    let tokens: Vec<&str> = subject.split('.').collect();
    for (index, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err("it has an empty token; tokens are separated by single dots".to_owned());
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a subject may not hold spaces or control characters".to_owned());
        }
        let wildcard = token.contains('*') || token.contains('>');
        if wildcard && *token != "*" && *token != ">" {
            return Err(format!(
                "`{token}` mixes a wildcard with other characters; `*` and `>` stand alone as tokens"
            ));
        }
        if *token == ">" && index + 1 != tokens.len() {
            return Err("`>` may only be the last token".to_owned());
        }
    }
    let first = tokens[0];
    if first == "*" || first == ">" {
        return Err("its first token must be a plain word, not a wildcard, so that it cannot catch Ayanami's own events".to_owned());
    }
    let hex = first.chars().filter(char::is_ascii_hexdigit).count();
    if first.len() >= 32 && hex >= 32 && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err("its first token looks like an Ayanami event ID; a subject trigger listens to other subjects".to_owned());
    }
    Ok(())
}

/// Whether some subject matches both patterns.
fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for index in 0.. {
        match (a.get(index), b.get(index)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) if x == y || *x == "*" || *y == "*" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{check_subject, overlap};

    #[test]
    fn patterns_overlap_when_one_subject_matches_both() {
        for (a, b) in [
            ("a.b", "a.b"),
            ("a.*", "a.c"),
            ("a.>", "a.b.c"),
            ("*.b", "a.*"),
            ("a.>", "a.*"),
        ] {
            assert!(overlap(a, b) && overlap(b, a), "{a} {b}");
        }
        for (a, b) in [
            ("a.b", "a.c"),
            ("a.*", "a.b.c"),
            ("a.b.>", "a.b"),
            ("a", "b.>"),
        ] {
            assert!(!overlap(a, b) && !overlap(b, a), "{a} {b}");
        }
    }

    #[test]
    fn subjects_follow_nats_rules_and_stay_clear_of_events() {
        for good in [
            "orders.created",
            "orders.*",
            "orders.>",
            "a",
            "orders.*.paid",
        ] {
            assert_eq!(check_subject(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "orders..created",
            "orders created",
            "orders.cre*",
            "orders.>.x",
            "*.created",
            ">",
            "0123456789abcdef0123456789abcdef.srvc.>",
        ] {
            assert!(check_subject(bad).is_err(), "{bad}");
        }
    }
}
