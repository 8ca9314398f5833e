//! `muc`: group chat fan-out (XEP-0045). N users log in at `--login-rate`, each joins its room
//! (users fill rooms of `--room-size` in order; the first occupant creates an instant room)
//! without history, and sends one message `t=<unix_nanos> id=<n>` to its room every
//! `--period` (or at an aggregate `--msg-rate`) once it is in. Every other occupant records the
//! time-to-delivery; a sender ignores its own echo.
//!
//! Losses are counted against the deliveries expected: each message times the other
//! occupants its sender saw in the room when it sent it. While rooms fill, a sender may not
//! yet have seen an occupant that already receives its message (received then exceeds
//! expected); run with a `--duration` well past the ramp and read the measured hold.

use super::RunCtx;
use crate::cli::MucArgs;
use crate::population::MucUsers;
use crate::report::Summary;

/// Runs the scenario.
pub async fn run(rc: &RunCtx, a: &MucArgs) -> anyhow::Result<Summary> {
    let service = a.service.clone().unwrap_or_else(|| format!("conference.{}", rc.common.domain));
    eprintln!(
        "muc: rooms of {} at {service}, {} rooms",
        a.room_size,
        a.chat.connect.users.div_ceil(a.room_size)
    );
    let muc = MucUsers { service, room_size: a.room_size };
    super::chat::run_with(rc, &a.chat, "muc", Some(muc)).await
}
