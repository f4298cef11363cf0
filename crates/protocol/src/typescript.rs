//! The console's TypeScript types, generated from this crate's types (`ts-rs`).
//!
//! `web/src/generated/protocol.ts` is [`declarations`]'s output, checked in; a test fails when
//! it is stale. After changing a wire type, regenerate it with
//! `UPDATE_GENERATED=1 cargo test -p fightwatch-protocol --lib typescript`.

use ts_rs::{Config, TS};

/// Where the generated file lives, relative to the repository root.
pub const GENERATED_PATH: &str = "web/src/generated/protocol.ts";

/// Every wire type as one TypeScript module (64-bit integers as `number`: sequence numbers and
/// millisecond times stay far below 2^53).
pub fn declarations() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        crate::AlertStatus::decl(&cfg),
        crate::Outcome::decl(&cfg),
        crate::FalseAlarmReason::decl(&cfg),
        crate::Role::decl(&cfg),
        crate::CameraStatus::decl(&cfg),
        crate::FightAlert::decl(&cfg),
        crate::AlertUpdate::decl(&cfg),
        crate::AlertEscalated::decl(&cfg),
        crate::ClipInfo::decl(&cfg),
        crate::ChatMessage::decl(&cfg),
        crate::CameraState::decl(&cfg),
        crate::CameraMetrics::decl(&cfg),
        crate::Metrics::decl(&cfg),
        crate::ServerMessage::decl(&cfg),
        crate::ClientMessage::decl(&cfg),
        crate::LiveVideoMessage::decl(&cfg),
        crate::Detection::decl(&cfg),
        crate::IncidentEvent::decl(&cfg),
        crate::AlertRecord::decl(&cfg),
        crate::LoginRequest::decl(&cfg),
        crate::LoginResponse::decl(&cfg),
        crate::Me::decl(&cfg),
        crate::UserSummary::decl(&cfg),
        crate::TimelineEntry::decl(&cfg),
        crate::CameraView::decl(&cfg),
        crate::AckRequest::decl(&cfg),
        crate::AssignRequest::decl(&cfg),
        crate::ResolveRequest::decl(&cfg),
        crate::PushInfo::decl(&cfg),
        crate::PushKeys::decl(&cfg),
        crate::PushSubscribeRequest::decl(&cfg),
        crate::PushUnsubscribeRequest::decl(&cfg),
        crate::Health::decl(&cfg),
        crate::ErrorBody::decl(&cfg),
        crate::TargetStatus::decl(&cfg),
        crate::TuneCandidate::decl(&cfg),
        crate::TuneProposal::decl(&cfg),
        crate::TuneReport::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/protocol by ts-rs: do not edit. Regenerate with\n\
         // UPDATE_GENERATED=1 cargo test -p fightwatch-protocol --lib typescript\n",
    );
    for decl in decls {
        out.push_str("\nexport ");
        out.push_str(&decl);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_typescript_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(super::GENERATED_PATH);
        let fresh = super::declarations();
        if std::env::var_os("UPDATE_GENERATED").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == fresh,
            "{} is stale: a wire type changed. Regenerate it with\n  \
             UPDATE_GENERATED=1 cargo test -p fightwatch-protocol --lib typescript\n\
             and fix the console where the TypeScript compiler then complains.",
            super::GENERATED_PATH
        );
    }
}
