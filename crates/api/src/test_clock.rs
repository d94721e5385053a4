//! AdvanceClock, the one action of the test clock (`[testing] clock = "manual"`).

use bpops_protocol::ErrorCode;
use bpops_protocol::signature::format_timestamp;
use bpops_protocol::test_clock::{AdvanceClockRequest, ClockReading};
use bpops_time::{Clock, Timestamp};

use crate::ApiError;
use crate::context::{Ctx, Reply};

/// The latest time the clock may show: 9999-12-31T23:59:59Z, the last a client can parse.
const LATEST: Timestamp = Timestamp::from_secs(253_402_300_799);

pub(crate) async fn advance(
    ctx: &Ctx<'_>,
    request: &AdvanceClockRequest,
) -> Result<Reply, ApiError> {
    let engine = &ctx.app.engine;
    let clock = engine.clock().as_manual().ok_or_else(disabled)?;
    if clock.now() + request.by > LATEST {
        return Err(ApiError::invalid(
            "Duration",
            "would move the clock past 9999-12-31T23:59:59Z",
        ));
    }
    let now = engine
        .advance_clock(request.by)
        .await?
        .ok_or_else(disabled)?;
    Reply::data(&ClockReading {
        now: format_timestamp(now),
        advanced: humantime::format_duration(clock.advanced()).to_string(),
    })
}

fn disabled() -> ApiError {
    ApiError::new(
        ErrorCode::TestClockDisabled,
        "This server runs on the system's clock; AdvanceClock needs [testing] clock = \"manual\" in its configuration file.",
    )
}
