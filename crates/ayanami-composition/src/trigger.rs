//! The triggers besides the HTTP gateway: schedules and NATS subjects.

use ayanami_event::{Direction, EventName};

use crate::model::Span;

/// The composition's `triggers:` section.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    /// Cron schedules, in file order.
    pub schedules: Vec<Schedule>,
    /// Plain NATS subjects that start flows, in file order.
    pub subjects: Vec<SubjectTrigger>,
}

impl Triggers {
    /// Whether the section names no trigger at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.schedules.is_empty() && self.subjects.is_empty()
    }
}

/// A trigger that fires at the times a cron expression gives, in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The trigger's name, a subject token.
    pub name: String,
    /// The expression as written, such as `0 30 2 * * *`.
    pub expression: String,
    /// The parsed expression: seconds (optional), minutes, hours, day of
    /// month, month, day of week, year (optional).
    pub cron: croner::Cron,
    /// The IANA name of the time zone the expression is read in, such as
    /// `Europe/Berlin`.
    pub zone: String,
    /// That time zone, with its daylight-saving rules.
    pub timezone: jiff::tz::TimeZone,
    /// Where the trigger's name is written.
    pub span: Span,
}

impl Schedule {
    /// The event each fire is published on: `trig.schedule.<name>.out`.
    #[must_use]
    pub fn event(&self) -> EventName {
        EventName::trigger(
            vec!["schedule".to_owned(), self.name.clone()],
            Direction::Out,
            None,
        )
    }
}

/// A trigger that turns each message on a plain NATS subject into a flow
/// start, and may answer the message's reply subject with the flow's outputs.
#[derive(Debug, Clone)]
pub struct SubjectTrigger {
    /// The trigger's name, a subject token.
    pub name: String,
    /// The subject or subject pattern listened to, such as `orders.created`.
    pub subject: String,
    /// The flow whose outputs answer a request, when the trigger replies.
    pub reply: Option<String>,
    /// Where the trigger's name is written.
    pub span: Span,
}

impl SubjectTrigger {
    /// The event each message is published on: `trig.subject.<name>.out`.
    #[must_use]
    pub fn event(&self) -> EventName {
        EventName::trigger(
            vec!["subject".to_owned(), self.name.clone()],
            Direction::Out,
            None,
        )
    }

    /// The queue group the trigger's replicas share, so that each message
    /// starts one flow instance.
    #[must_use]
    pub fn queue(&self) -> String {
        format!("ayanami.trig.subject.{}", self.name)
    }
}
